package org.hyperdmabuf.hv.spi;

import org.hyperdmabuf.abi.v1.ErrorCode;

/**
 * Real dma-bufs of exactly one buffer (ABI.md "Dma-buf imports"): the daemon turns the buffer's pages into a
 * dma-buf (Linux udmabuf over a sealed memfd region) instead of handing out the region fd and an offset. A
 * backend without it, or where it is unavailable, answers ENOTSUP with the reason ({@link #of}).
 */
public interface DmaBufExports extends BackendCapability
{
    /** Why this daemon cannot make dma-bufs of buffers, or null when it can. Reported by QUERY_CAPS. */
    String dmaBufUnavailable();

    /**
     * A new dma-buf (the caller owns it) of exactly {@code [offset, offset + length)} of the region, named
     * {@code name}; always read-write. ENOTSUP when unavailable, E2BIG over the kernel's size limit.
     */
    int exportDmaBuf(long offset, long length, String name) throws BackendException;

    /** {@code backend}'s dma-buf exports, or for a backend without them one that refuses with the reason. */
    static DmaBufExports of(final HypervisorBackend backend)
    {
        return backend.capability(DmaBufExports.class).orElse(new Unavailable(backend.name() + " backend " +
            "memory is not a sealed memfd (udmabuf needs one)"));
    }

    /** Refuses every request with {@code reason}. */
    record Unavailable(String reason) implements DmaBufExports
    {
        @Override
        public String dmaBufUnavailable()
        {
            return reason;
        }

        @Override
        public int exportDmaBuf(final long offset, final long length, final String name) throws BackendException
        {
            throw new BackendException(ErrorCode.ENOTSUP, "no dma-buf imports: " + reason);
        }
    }
}
