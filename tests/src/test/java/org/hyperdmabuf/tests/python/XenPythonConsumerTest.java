package org.hyperdmabuf.tests.python;

import org.hyperdmabuf.abi.v1.Access;
import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.abi.v1.Metadata;
import org.hyperdmabuf.client.Allocation;
import org.hyperdmabuf.client.HdmabufClient;
import org.hyperdmabuf.client.HdmabufException;
import org.hyperdmabuf.tests.support.SystemTest;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link PythonConsumerTest} on the xen backend over the Xen emulation: Python imports per-buffer gntdev fds. The
 * read-only case runs against a second sink that grants allocations read-only ({@code alloc-access=ro}), since
 * gntalloc fixes a grant's access before any export; the default sink refuses it, asserted here.
 */
@SystemTest
class XenPythonConsumerTest extends PythonConsumerTest
{
    @Override
    protected boolean xen()
    {
        return true;
    }

    @Test
    void aSinkGrantingAllocationsWritableRefusesAReadOnlyExport() throws Exception
    {
        try (HdmabufClient producer = HdmabufClient.connect(system().sinkSocket());
             Allocation a = producer.alloc(4096))
        {
            final HdmabufException e = assertThrows(HdmabufException.class, () -> producer.export(a.handle(),
                system().sourceVm(), Metadata.newBuilder().setContentType("application/x-test-ro").build(),
                Access.ACCESS_READ_ONLY));
            assertEquals(ErrorCode.EINVAL, e.code());
            assertTrue(e.getMessage().contains("granted writable"), e.getMessage());
            assertEquals(0, producer.list().getBuffersCount(), "the refusal left no export");
            producer.free(a.handle());
        }
    }
}
