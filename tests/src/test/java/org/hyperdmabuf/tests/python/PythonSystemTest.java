package org.hyperdmabuf.tests.python;

import org.hyperdmabuf.tests.support.SystemTest;
import org.hyperdmabuf.tests.support.TwoVmSystem;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;

import java.nio.file.Path;
import java.util.List;

/**
 * What the Python ABI tests run against: the generated bindings and real daemons, kvm-ivshmem or the xen backend
 * over the Xen emulation ({@link #xen()}). Read-only exports go to {@link #readOnlySystem()}: the same system,
 * but on xen a second one whose sink grants allocations read-only ({@code alloc-access=ro}), since gntalloc fixes
 * a grant's access when it makes the pages, before any export.
 */
@SystemTest
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class PythonSystemTest
{
    private static final long REGION_SIZE = 32L << 20;

    private final String prefix;
    private final String scriptName;
    /** The example script under test, {@code examples/python/<name>}. */
    protected Path script;
    /** The generated protobuf bindings (for {@code HDMABUF_PY_GEN}). */
    protected Path generated;
    private TwoVmSystem readWrite;
    private TwoVmSystem readOnly;

    /** {@code prefix}: of the systems' run directories under /tmp; {@code scriptName}: in examples/python. */
    protected PythonSystemTest(final String prefix, final String scriptName)
    {
        this.prefix = prefix;
        this.scriptName = scriptName;
    }

    /** Whether this class runs on the xen backend over the Xen emulation instead of kvm-ivshmem. */
    protected boolean xen()
    {
        return false;
    }

    @BeforeAll
    void startSystems() throws Exception
    {
        script = PythonSupport.example(scriptName);
        generated = PythonSupport.generateBindings();
        if (!xen())
        {
            readWrite = TwoVmSystem.startInTempDir(prefix, REGION_SIZE, List.of(), List.of());
            readOnly = readWrite;
            return;
        }
        final int pages = (int)(REGION_SIZE / 4096);
        readWrite = TwoVmSystem.startXenInTempDir(prefix, pages, List.of(), List.of());
        readOnly = TwoVmSystem.startXenInTempDir(prefix + "r", pages, List.of("-O", "alloc-access=ro"), List.of());
    }

    /** Stops the systems; fails if a daemon logged an error. */
    @AfterAll
    void stopSystems() throws Exception
    {
        try
        {
            if (readOnly != null && readOnly != readWrite)
            {
                readOnly.closeAndVerify();
            }
        }
        finally
        {
            if (readWrite != null)
            {
                readWrite.closeAndVerify();
            }
        }
    }

    /** The system of the read-write tests. */
    protected TwoVmSystem system()
    {
        return readWrite;
    }

    /** The system whose sink may export an allocation read-only. */
    protected TwoVmSystem readOnlySystem()
    {
        return readOnly;
    }
}
