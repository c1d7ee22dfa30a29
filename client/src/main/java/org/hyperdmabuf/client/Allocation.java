package org.hyperdmabuf.client;

import org.hyperdmabuf.hv.nativeio.Native;

/**
 * Memory the sink allocated for this producer: its handle, the producer's mapping of it, and the fd it
 * came with (kept to map the fences of its exports, or the dma-buf of an ALLOC with dma_buf). The allocation
 * itself lives until FREE or disconnect.
 */
public final class Allocation implements AutoCloseable
{
    private final long handle;
    private final long offset;
    private final SharedBuffer buffer;
    private final boolean dmaBuf;
    private int fd;

    Allocation(final long handle, final long offset, final SharedBuffer buffer, final int fd, final boolean dmaBuf)
    {
        this.handle = handle;
        this.offset = offset;
        this.buffer = buffer;
        this.fd = fd;
        this.dmaBuf = dmaBuf;
    }

    /**
     * Where the buffer starts in the fd ALLOC answered with (Allocated.offset): its offset in the region, or 0 for
     * a dma-buf allocation (the dma-buf starts at the buffer).
     */
    public long offset()
    {
        return offset;
    }

    /** The dma-buf of exactly this buffer ({@link HdmabufClient#allocDmaBuf}), owned by this object; else -1. */
    public synchronized int dmaBufFd()
    {
        return dmaBuf ? fd : -1;
    }

    boolean isDmaBuf()
    {
        return dmaBuf;
    }

    public long handle()
    {
        return handle;
    }

    public SharedBuffer buffer()
    {
        return buffer;
    }

    int fd()
    {
        return fd;
    }

    /** Unmaps locally and closes the fd. */
    @Override
    public synchronized void close()
    {
        buffer.close();
        Native.closeQuietly(fd);
        fd = -1;
    }
}
