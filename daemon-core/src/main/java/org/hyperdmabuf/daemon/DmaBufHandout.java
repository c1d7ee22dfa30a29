package org.hyperdmabuf.daemon;

import org.hyperdmabuf.abi.v1.BufferId;
import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.hv.spi.BackendException;
import org.hyperdmabuf.hv.spi.DmaBufExports;

/**
 * Hands a client a dma-buf of exactly one buffer (IMPORT or ALLOC with dma_buf, ABI.md "Dma-buf imports"), with
 * the ABI's refusals: ENOTSUP and the reason where unavailable, EACCES for a read-only import.
 */
public final class DmaBufHandout
{
    private DmaBufHandout()
    {
    }

    /** The dma-buf name of an export: {@code hdmabuf-<exporter vm>-<export number>} in hex (at most 31 bytes). */
    public static String name(final BufferId id)
    {
        return "hdmabuf-" + Integer.toHexString(id.getExporterVm()) + "-" + Integer.toHexString(id.getExportNumber());
    }

    /** The dma-buf name of an allocation not exported yet: {@code hdmabuf-alloc-<handle>} in hex. */
    public static String allocationName(final long handle)
    {
        return "hdmabuf-alloc-" + Long.toHexString(handle);
    }

    /**
     * A new dma-buf of {@code [offset, offset + length)}; {@code readOnly} is refused with EACCES since udmabuf
     * always exports read-write. The caller owns the fd.
     */
    public static int open(final DmaBufExports exports, final long offset, final long length, final boolean readOnly,
        final String name) throws ApiException
    {
        if (readOnly)
        {
            throw new ApiException(ErrorCode.EACCES, "a read-only import cannot be a dma-buf (udmabuf dma-bufs are " +
                "always writable): import without dma_buf");
        }
        try
        {
            return exports.exportDmaBuf(offset, length, name);
        }
        catch (final BackendException e)
        {
            throw new ApiException(e.code(), e.getMessage());
        }
    }
}
