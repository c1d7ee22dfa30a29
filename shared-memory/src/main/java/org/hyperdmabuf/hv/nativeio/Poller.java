package org.hyperdmabuf.hv.nativeio;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * A reusable {@code poll(2)} set for threads that wait on a few fds (eventfds, a server socket).
 * Not thread-safe: one owner thread.
 */
public final class Poller
{
    private static final int POLLFD_SIZE = 8; // struct pollfd { int fd; short events; short revents; }

    private ByteBuffer fds = ByteBuffer.allocateDirect(16 * POLLFD_SIZE).order(ByteOrder.nativeOrder());
    private int count;

    public void clear()
    {
        count = 0;
    }

    /** Adds {@code fd} for POLLIN; returns its index. */
    public int add(final int fd)
    {
        return add(fd, Native.POLLIN);
    }

    /** Adds {@code fd} for hang-up and errors only (POLLHUP, POLLERR, POLLNVAL); returns its index. */
    public int addForHangup(final int fd)
    {
        return add(fd, (short)0);
    }

    private int add(final int fd, final short events)
    {
        if ((count + 1) * POLLFD_SIZE > fds.capacity())
        {
            final ByteBuffer bigger = ByteBuffer.allocateDirect(fds.capacity() * 2).order(ByteOrder.nativeOrder());
            fds.limit(count * POLLFD_SIZE).position(0);
            bigger.put(fds).clear();
            fds = bigger;
        }
        final int at = count * POLLFD_SIZE;
        fds.putInt(at, fd);
        fds.putShort(at + 4, events);
        fds.putShort(at + 6, (short)0);
        return count++;
    }

    /** Waits up to {@code timeoutMillis} (-1: forever); returns the number of ready fds, 0 on timeout or EINTR. */
    public int poll(final int timeoutMillis) throws NativeIoException
    {
        for (int i = 0; i < count; i++)
        {
            fds.putShort(i * POLLFD_SIZE + 6, (short)0);
        }
        final int n = Native.libc().poll(Native.address(fds), count, timeoutMillis);
        if (n < 0)
        {
            final int errno = Native.errno();
            if (errno == Errno.EINTR)
            {
                return 0;
            }
            throw new NativeIoException("poll", errno);
        }
        return n;
    }

    public short revents(final int index)
    {
        return fds.getShort(index * POLLFD_SIZE + 6);
    }

    public boolean readable(final int index)
    {
        return (revents(index) & (Native.POLLIN | Native.POLLHUP | Native.POLLERR | Native.POLLNVAL)) != 0;
    }

    public int fd(final int index)
    {
        return fds.getInt(index * POLLFD_SIZE);
    }
}
