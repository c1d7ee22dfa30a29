package org.hyperdmabuf.client;

import org.hyperdmabuf.hv.nativeio.MappedMemory;
import org.hyperdmabuf.hv.nativeio.Native;
import org.hyperdmabuf.hv.nativeio.NativeIoException;

import java.nio.ByteBuffer;

/**
 * A buffer mapped into this process: the same physical pages the other VM maps (zero copy). The fd the
 * daemon passed is closed right after mapping; the mapping lives until {@link #close()}.
 */
public final class SharedBuffer implements AutoCloseable
{
    private final MappedMemory memory;

    private SharedBuffer(final MappedMemory memory)
    {
        this.memory = memory;
    }

    /** Maps {@code fd} at {@code offset}/{@code length}; the caller keeps (and closes) the fd. */
    static SharedBuffer mapKeepingFd(final int fd, final long offset, final long length, final boolean readOnly)
        throws NativeIoException
    {
        return new SharedBuffer(MappedMemory.map(fd, offset, length, readOnly));
    }

    /** Maps {@code fd} at {@code offset}/{@code length} and closes the fd. */
    static SharedBuffer map(final int fd, final long offset, final long length, final boolean readOnly)
        throws NativeIoException
    {
        try
        {
            return new SharedBuffer(MappedMemory.map(fd, offset, length, readOnly));
        }
        finally
        {
            Native.closeQuietly(fd);
        }
    }

    /** A view of the whole buffer (absolute indexing; duplicate it for a private position). */
    public ByteBuffer bytes()
    {
        return memory.buffer();
    }

    public long length()
    {
        return memory.length();
    }

    public boolean isReadOnly()
    {
        return memory.isReadOnly();
    }

    @Override
    public void close()
    {
        memory.close();
    }
}
