package org.hyperdmabuf.client;

import org.hyperdmabuf.hv.nativeio.Native;

/**
 * Memory the sink allocated for this producer: its handle, the producer's mapping of it, and the fd it
 * came with (kept to map the fences of its exports). The allocation itself lives until FREE or disconnect.
 */
public final class Allocation implements AutoCloseable
{
    private final long handle;
    private final SharedBuffer buffer;
    private int fd;

    Allocation(final long handle, final SharedBuffer buffer, final int fd)
    {
        this.handle = handle;
        this.buffer = buffer;
        this.fd = fd;
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
