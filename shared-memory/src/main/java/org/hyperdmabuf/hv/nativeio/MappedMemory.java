package org.hyperdmabuf.hv.nativeio;

import edu.umd.cs.findbugs.annotations.SuppressFBWarnings;

import java.nio.ByteBuffer;

/**
 * An {@code mmap}ed range of a file descriptor, viewed as a direct {@link ByteBuffer}.
 * The mapping stays valid after the fd is closed, until {@link #close()}.
 */
public final class MappedMemory implements AutoCloseable
{
    private final long address;
    private final long length;
    private final boolean readOnly;
    private final ByteBuffer buffer;
    private boolean closed;

    private MappedMemory(final long address, final long length, final boolean readOnly)
    {
        this.address = address;
        this.length = length;
        this.readOnly = readOnly;
        this.buffer = Native.wrap(address, (int)length);
    }

    /**
     * Maps {@code [offset, offset + length)} of {@code fd} shared. {@code offset} must be page-aligned and
     * {@code length} at most {@link Integer#MAX_VALUE} (one ByteBuffer view per mapping).
     */
    public static MappedMemory map(final int fd, final long offset, final long length, final boolean readOnly)
        throws NativeIoException
    {
        if (length <= 0 || length > Integer.MAX_VALUE)
        {
            throw new NativeIoException("mmap length " + length, Errno.EINVAL);
        }
        final int prot = readOnly ? Native.PROT_READ : Native.PROT_READ | Native.PROT_WRITE;
        final long addr = Native.libc().mmap(0, length, prot, Native.MAP_SHARED, fd, offset);
        if (addr == Native.MAP_FAILED)
        {
            throw new NativeIoException("mmap(fd=" + fd + ", offset=" + offset + ", length=" + length + ")",
                Native.errno());
        }
        return new MappedMemory(addr, length, readOnly);
    }

    public long address()
    {
        return address;
    }

    public long length()
    {
        return length;
    }

    public boolean isReadOnly()
    {
        return readOnly;
    }

    /** The view of the whole mapping; callers duplicate it for independent positions. */
    @SuppressFBWarnings(value = "EI_EXPOSE_REP",
        justification = "the view of the mapping itself: callers read and write the mapped memory through it (zero copy)")
    public ByteBuffer buffer()
    {
        return buffer;
    }

    @Override
    public synchronized void close()
    {
        if (!closed)
        {
            closed = true;
            Native.libc().munmap(address, length);
        }
    }
}
