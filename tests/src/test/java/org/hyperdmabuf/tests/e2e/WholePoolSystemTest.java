package org.hyperdmabuf.tests.e2e;

import org.hyperdmabuf.client.HdmabufClient;
import org.hyperdmabuf.tests.support.SystemTest;
import org.hyperdmabuf.tests.support.TwoVmSystem;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;

import java.util.List;

/**
 * One system of real daemons per test class, whose pool must be whole after every test: each test
 * returns every byte it allocated. The daemons must log no error.
 */
@SystemTest
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class WholePoolSystemTest
{
    protected TwoVmSystem system;
    /** Free pool bytes before the first test. */
    protected long initialFree;

    /** Bytes of the shared region (on xen: of each domain's gntalloc limit). */
    protected abstract long regionSize();

    /** Pool bytes an allocation of {@code bytes} takes: whole pages, to which xen adds its directory and fence pages. */
    protected long poolCost(final long bytes)
    {
        final long pages = (bytes + 4095) / 4096;
        if (!xen())
        {
            return pages * 4096;
        }
        return (pages + (pages + 1019) / 1020 + 1) * 4096;
    }

    /** Whether this class runs on the xen backend over the Xen emulation instead of kvm-ivshmem. */
    protected boolean xen()
    {
        return false;
    }

    @BeforeAll
    void startSystem() throws Exception
    {
        system = xen() ? TwoVmSystem.startXenInTempDir("hdx", (int)(regionSize() / 4096), List.of(), List.of()) :
            TwoVmSystem.startInTempDir("hd", regionSize(), List.of(), List.of());
        try (HdmabufClient sink = HdmabufClient.connect(system.sinkSocket()))
        {
            initialFree = E2e.poolFree(sink);
        }
    }

    /** Every test returns all memory (disconnects are processed asynchronously: wait for them). */
    @AfterEach
    void poolIsWhole() throws Exception
    {
        try (HdmabufClient sink = HdmabufClient.connect(system.sinkSocket()))
        {
            E2e.awaitPoolFree(sink, initialFree);
        }
    }

    @AfterAll
    void stopSystem() throws Exception
    {
        if (system != null)
        {
            system.closeAndVerify();
        }
    }
}
