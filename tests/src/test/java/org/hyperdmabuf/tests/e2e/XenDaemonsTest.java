package org.hyperdmabuf.tests.e2e;

import org.hyperdmabuf.abi.v1.Caps;
import org.hyperdmabuf.cli.ChildProcess;
import org.hyperdmabuf.client.Allocation;
import org.hyperdmabuf.client.HdmabufClient;
import org.hyperdmabuf.tests.support.Await;
import org.hyperdmabuf.tests.support.SystemTest;
import org.hyperdmabuf.tests.support.TwoVmSystem;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The real daemons as separate processes on the xen backend, over the Xen EMULATION ({@code hdmabuf xen-emu}):
 * they meet through the fake xenstored, allocate grant pages, and see a killed domain go.
 */
@SystemTest
class XenDaemonsTest
{
    private static final Duration TIMEOUT = Duration.ofSeconds(30);

    @Test
    void daemonsMeetAndReportHypervisorEnforcedPerBufferIsolation() throws Exception
    {
        final TwoVmSystem system = TwoVmSystem.startXenInTempDir("hdmabuf-xen", 1024, List.of(), List.of());
        try (HdmabufClient producer = HdmabufClient.connect(system.sinkSocket()))
        {
            assertEquals(1, system.sinkVm());
            assertEquals(2, system.sourceVm());
            awaitLog(system.sink(), "dom2 session", "up");
            awaitLog(system.source(), "dom1 session", "up");
            final Caps caps = producer.caps();
            assertEquals("xen", caps.getBackend());
            assertEquals("hypervisor", caps.getReadOnlyEnforcement());
            assertEquals("per-buffer", caps.getIsolation());
            assertEquals(1024L * 4096, caps.getPoolBytes(), "the gntalloc limit is the pool");
            try (Allocation a = producer.alloc(3 * 4096 + 1))
            {
                assertEquals(4L * 4096, a.buffer().length(), "whole granted pages");
                a.buffer().bytes().putLong(3 * 4096, 0x5EED);
                assertEquals(0x5EED, a.buffer().bytes().getLong(3 * 4096));
                assertEquals((1024L - 6) * 4096, producer.caps().getPoolFreeBytes(), "4 pages, a directory page, a fence page");
            }
        }
        finally
        {
            system.closeAndVerify();
        }
    }

    @Test
    void aKilledDomainIsSeenGoneThroughXenstoreNotATimeout() throws Exception
    {
        final TwoVmSystem system = TwoVmSystem.startXenInTempDir("hdmabuf-xen", 1024, List.of(), List.of());
        try
        {
            awaitLog(system.sink(), "dom2 session", "up");
            final long start = System.nanoTime();
            system.source().kill();
            awaitLog(system.sink(), "dom2 session", "down: gone");
            final long ms = (System.nanoTime() - start) / 1_000_000L;
            assertTrue(ms < 1500, "seen through @releaseDomain before the 1500 ms heartbeat timeout: " + ms + " ms");
        }
        finally
        {
            system.closeAndVerify();
        }
    }

    private static void awaitLog(final ChildProcess p, final String a, final String b) throws Exception
    {
        Await.until(p.name() + " to log '" + a + "..." + b + "'", TIMEOUT,
            () -> p.output().stream().anyMatch(l -> l.contains(a) && l.contains(b)));
    }
}
