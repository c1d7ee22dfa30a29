package org.hyperdmabuf.hv.nativeio;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * Unix datagram sockets ({@code SOCK_DGRAM}), which the JDK does not offer: one-shot sends (systemd's notification
 * socket) and a bound receiver (tests that stand in for systemd). An address starting with {@code @} names the
 * abstract namespace: the {@code @} becomes a NUL byte and the name is not NUL-terminated, as sd_notify(3) does.
 */
public final class UnixDatagram implements AutoCloseable
{
    private static final int SOCK_DGRAM = 2;
    private static final int SUN_PATH_MAX = 108;
    private static final int SUN_PATH_OFFSET = 2;
    private static final int MAX_DATAGRAM = 4096;

    private final int fd;
    private final ByteBuffer buffer = ByteBuffer.allocateDirect(MAX_DATAGRAM);
    private final Poller poller = new Poller();
    private boolean closed;

    private UnixDatagram(final int fd)
    {
        this.fd = fd;
        poller.add(fd);
    }

    /** Sends {@code message} as one datagram to {@code address} (a path, or {@code @name}). */
    public static void send(final String address, final String message) throws NativeIoException
    {
        final LibC libc = Native.libc();
        final ByteBuffer addr = sockaddr(address);
        final byte[] bytes = message.getBytes(StandardCharsets.UTF_8);
        final ByteBuffer data = ByteBuffer.allocateDirect(Math.max(1, bytes.length));
        data.put(bytes).flip();
        final int fd = Native.check(libc.socket(Native.AF_UNIX, SOCK_DGRAM | Native.SOCK_CLOEXEC, 0), "socket");
        try
        {
            if (libc.connect(fd, Native.address(addr), addr.limit()) < 0)
            {
                throw new NativeIoException("connect(" + address + ")", Native.errno());
            }
            if (libc.write(fd, Native.address(data), bytes.length) != bytes.length)
            {
                throw new NativeIoException("send to " + address, Native.errno());
            }
        }
        finally
        {
            libc.close(fd);
        }
    }

    /** A datagram socket bound to {@code address} (a path that must not exist, or {@code @name}). */
    public static UnixDatagram bind(final String address) throws NativeIoException
    {
        final LibC libc = Native.libc();
        final ByteBuffer addr = sockaddr(address);
        final int fd = Native.check(libc.socket(Native.AF_UNIX, SOCK_DGRAM | Native.SOCK_CLOEXEC, 0), "socket");
        if (libc.bind(fd, Native.address(addr), addr.limit()) < 0)
        {
            final int errno = Native.errno();
            libc.close(fd);
            throw new NativeIoException("bind(" + address + ")", errno);
        }
        return new UnixDatagram(fd);
    }

    /** The next datagram as text, or null if none arrives within {@code timeoutMillis}. */
    public String receive(final int timeoutMillis) throws NativeIoException
    {
        if (poller.poll(timeoutMillis) == 0)
        {
            return null;
        }
        final long n = Native.check(Native.libc().read(fd, Native.address(buffer), MAX_DATAGRAM), "read");
        final byte[] bytes = new byte[(int)n];
        buffer.get(0, bytes);
        return new String(bytes, StandardCharsets.UTF_8);
    }

    @Override
    public void close()
    {
        if (!closed)
        {
            closed = true;
            Native.libc().close(fd);
        }
    }

    /** A sockaddr_un whose limit is the address length to pass to bind/connect. */
    private static ByteBuffer sockaddr(final String address) throws NativeIoException
    {
        final boolean abstractName = address.startsWith("@");
        final byte[] bytes = address.getBytes(StandardCharsets.UTF_8);
        if (bytes.length >= SUN_PATH_MAX || bytes.length < 2 && abstractName || bytes.length == 0)
        {
            throw new NativeIoException("not a Unix socket address (a path or @name under " + SUN_PATH_MAX +
                " bytes): '" + address + "'", Errno.EINVAL);
        }
        final ByteBuffer addr = ByteBuffer.allocateDirect(SUN_PATH_OFFSET + SUN_PATH_MAX).order(ByteOrder.nativeOrder());
        addr.putShort(0, (short)Native.AF_UNIX);
        addr.position(SUN_PATH_OFFSET);
        if (abstractName)
        {
            addr.put((byte)0).put(bytes, 1, bytes.length - 1);
        }
        else
        {
            addr.put(bytes).put((byte)0);
        }
        return addr.flip();
    }
}
