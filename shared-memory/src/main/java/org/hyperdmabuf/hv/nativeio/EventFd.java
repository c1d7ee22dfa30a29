package org.hyperdmabuf.hv.nativeio;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * eventfd signalling, as ivshmem peers use it: write the native-endian uint64 1 to ring, read and
 * discard the counter to receive. Each instance holds its own 8-byte scratch, so signalling allocates nothing.
 */
public final class EventFd
{
    private final ByteBuffer scratch = ByteBuffer.allocateDirect(8).order(ByteOrder.nativeOrder());
    private final long scratchAddress = Native.address(scratch);

    /** Creates a new eventfd (non-blocking, close-on-exec); the caller owns it. */
    public static int create() throws NativeIoException
    {
        return Native.check(Native.libc().eventfd(0, Native.EFD_CLOEXEC | Native.EFD_NONBLOCK), "eventfd");
    }

    /** Adds 1 to the counter of {@code fd}, waking a poller. */
    public synchronized void signal(final int fd) throws NativeIoException
    {
        scratch.putLong(0, 1L);
        final long n = Native.libc().write(fd, scratchAddress, 8);
        if (n < 0)
        {
            final int errno = Native.errno();
            if (errno != Errno.EAGAIN) // counter saturated: the peer is already signalled
            {
                throw new NativeIoException("eventfd write", errno);
            }
        }
    }

    /** Reads and resets the counter of a non-blocking {@code fd}; 0 when nothing was pending. */
    public synchronized long drain(final int fd) throws NativeIoException
    {
        final long n = Native.libc().read(fd, scratchAddress, 8);
        if (n < 0)
        {
            final int errno = Native.errno();
            if (errno == Errno.EAGAIN)
            {
                return 0;
            }
            throw new NativeIoException("eventfd read", errno);
        }
        return scratch.getLong(0);
    }
}
