package org.hyperdmabuf.tests.fence;

import org.hyperdmabuf.abi.v1.Access;
import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.abi.v1.Metadata;
import org.hyperdmabuf.client.Allocation;
import org.hyperdmabuf.client.HdmabufException;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link FenceTest} on the xen backend: each export's fence slot is the fence page of the buffer's grant file.
 * The read-only importer's fences run in {@code XenPolicyTest} (a sink with alloc-access=ro): this sink grants
 * allocations writable, so it refuses a read-only export of one with a typed EINVAL, checked here.
 */
class XenFenceTest extends FenceTest
{
    @Override
    protected boolean xen()
    {
        return true;
    }

    @Test
    @Override
    void aReadOnlyImporterSignalsReleaseThroughItsDaemon() throws Exception
    {
        try (Allocation a = producer().alloc(4096))
        {
            final HdmabufException e = assertThrows(HdmabufException.class, () -> producer().export(a.handle(),
                2, Metadata.newBuilder().setContentType("application/x-fence-ro").build(), Access.ACCESS_READ_ONLY));
            assertEquals(ErrorCode.EINVAL, e.code());
            assertTrue(e.getMessage().contains("granted writable"), e.getMessage());
            producer().free(a.handle());
        }
    }
}
