package org.hyperdmabuf.hv.nativeio;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * A Unix stream socket with file-descriptor passing: data and {@code SCM_RIGHTS} fds travel in one
 * {@code sendmsg}, so a C or Python peer with a plain {@code recvmsg} sees them together (netty's own fd
 * passing sends one dummy byte per fd and cannot do this).
 * <p>
 * Sending and receiving each use their own pre-allocated native scratch, so one reader thread and one
 * writer at a time may use the socket concurrently; the calls allocate nothing.
 * <pre>
 * struct msghdr  (LP64): name@0 namelen@8 iov@16 iovlen@24 control@32 controllen@40 flags@48, 56 bytes
 * struct iovec   (LP64): base@0 len@8, 16 bytes
 * struct cmsghdr (LP64): len@0 level@8 type@12 data@16; CMSG_SPACE(n) = 16 + align8(n)
 * </pre>
 */
public final class UnixSocket implements AutoCloseable
{
    /** Most fds one message may carry (the kernel's SCM_MAX_FD is 253). */
    public static final int MAX_FDS_PER_MESSAGE = 16;
    private static final int SUN_PATH_MAX = 108;
    private static final int SOCKADDR_UN_SIZE = 110;
    private static final int MSGHDR_SIZE = 56;
    private static final int IOVEC_SIZE = 16;
    private static final int CMSG_HDR = 16;
    private static final int CONTROL_SIZE = CMSG_HDR + align8(4 * MAX_FDS_PER_MESSAGE);

    private final int fd;
    private final MsgScratch sendScratch = new MsgScratch();
    private final MsgScratch recvScratch = new MsgScratch();
    private volatile boolean closed;

    public UnixSocket(final int fd)
    {
        this.fd = fd;
    }

    /** Connects a blocking stream socket to {@code path}. */
    public static UnixSocket connect(final String path) throws NativeIoException
    {
        final LibC libc = Native.libc();
        final int fd = Native.check(libc.socket(Native.AF_UNIX, Native.SOCK_STREAM | Native.SOCK_CLOEXEC, 0),
            "socket");
        final ByteBuffer addr = sockaddr(path);
        if (libc.connect(fd, Native.address(addr), SOCKADDR_UN_SIZE) < 0)
        {
            final int errno = Native.errno();
            libc.close(fd);
            throw new NativeIoException("connect(" + path + ")", errno);
        }
        return new UnixSocket(fd);
    }

    /** Binds and listens on {@code path} (which must not exist); returns the listening fd. */
    public static int listen(final String path, final int backlog) throws NativeIoException
    {
        final LibC libc = Native.libc();
        final int fd = Native.check(libc.socket(Native.AF_UNIX, Native.SOCK_STREAM | Native.SOCK_CLOEXEC, 0),
            "socket");
        final ByteBuffer addr = sockaddr(path);
        if (libc.bind(fd, Native.address(addr), SOCKADDR_UN_SIZE) < 0 || libc.listen(fd, backlog) < 0)
        {
            final int errno = Native.errno();
            libc.close(fd);
            throw new NativeIoException("bind/listen(" + path + ")", errno);
        }
        return fd;
    }

    /** Accepts one connection on a listening fd (blocking); the result is a blocking socket. */
    public static UnixSocket accept(final int listenFd) throws NativeIoException
    {
        return new UnixSocket(Native.check(Native.libc().accept4(listenFd, 0, 0, Native.SOCK_CLOEXEC), "accept4"));
    }

    public int fd()
    {
        return fd;
    }

    /**
     * Sends {@code data} (position to limit, a direct buffer) with {@code fdCount} fds from {@code fds}.
     * Returns the number of bytes written (the fds went with the first of them), which may be fewer than
     * remaining on a non-blocking socket. Does not change the buffer's position.
     */
    public long send(final ByteBuffer data, final int[] fds, final int fdCount) throws NativeIoException
    {
        synchronized (sendScratch)
        {
            final MsgScratch s = sendScratch;
            s.prepare(Native.address(data) + data.position(), data.remaining());
            if (fdCount > 0)
            {
                if (fdCount > MAX_FDS_PER_MESSAGE)
                {
                    throw new NativeIoException("sendmsg with " + fdCount + " fds", Errno.EINVAL);
                }
                final ByteBuffer c = s.control;
                c.putLong(0, CMSG_HDR + 4L * fdCount);
                c.putInt(8, Native.SOL_SOCKET);
                c.putInt(12, Native.SCM_RIGHTS);
                for (int i = 0; i < fdCount; i++)
                {
                    c.putInt(CMSG_HDR + 4 * i, fds[i]);
                }
                s.msghdr.putLong(32, s.controlAddress);
                s.msghdr.putLong(40, CMSG_HDR + align8(4 * fdCount));
            }
            while (true)
            {
                final long n = Native.libc().sendmsg(fd, s.msghdrAddress, Native.MSG_NOSIGNAL);
                if (n >= 0)
                {
                    return n;
                }
                final int errno = Native.errno();
                if (errno != Errno.EINTR)
                {
                    throw new NativeIoException("sendmsg", errno);
                }
            }
        }
    }

    /** Sends all of {@code data} on a blocking socket, the fds with the first byte. */
    public void sendFully(final ByteBuffer data, final int[] fds, final int fdCount) throws NativeIoException
    {
        final ByteBuffer view = data.duplicate();
        long n = send(view, fds, fdCount);
        view.position(view.position() + (int)n);
        while (view.hasRemaining())
        {
            n = send(view, null, 0);
            view.position(view.position() + (int)n);
        }
    }

    /**
     * Receives into {@code into} (a direct buffer, from position to limit) and appends any fds that came with the
     * data to {@code fdSink}. Returns the bytes read, 0 at end of stream. Advances the buffer's position.
     * Received fds are close-on-exec.
     */
    public int receive(final ByteBuffer into, final FdSink fdSink) throws NativeIoException
    {
        synchronized (recvScratch)
        {
            final MsgScratch s = recvScratch;
            s.prepare(Native.address(into) + into.position(), into.remaining());
            s.msghdr.putLong(32, s.controlAddress);
            s.msghdr.putLong(40, CONTROL_SIZE);
            long n;
            while (true)
            {
                n = Native.libc().recvmsg(fd, s.msghdrAddress, Native.MSG_CMSG_CLOEXEC);
                if (n >= 0)
                {
                    break;
                }
                final int errno = Native.errno();
                if (errno != Errno.EINTR)
                {
                    throw new NativeIoException("recvmsg", errno);
                }
            }
            final long controlLen = s.msghdr.getLong(40);
            if (controlLen >= CMSG_HDR)
            {
                final ByteBuffer c = s.control;
                final long cmsgLen = c.getLong(0);
                if (c.getInt(8) == Native.SOL_SOCKET && c.getInt(12) == Native.SCM_RIGHTS &&
                    cmsgLen >= CMSG_HDR && cmsgLen <= CONTROL_SIZE)
                {
                    final int count = (int)((cmsgLen - CMSG_HDR) / 4);
                    for (int i = 0; i < count; i++)
                    {
                        fdSink.accept(c.getInt(CMSG_HDR + 4 * i));
                    }
                }
            }
            if ((s.msghdr.getInt(48) & Native.MSG_CTRUNC) != 0)
            {
                throw new NativeIoException("recvmsg: more fds than " + MAX_FDS_PER_MESSAGE + " (truncated)",
                    Errno.EINVAL);
            }
            into.position(into.position() + (int)n);
            return (int)n;
        }
    }

    /** Peer credentials of a connected socket: {pid, uid, gid}. */
    public static int[] peerCredentials(final int fd) throws NativeIoException
    {
        final ByteBuffer cred = ByteBuffer.allocateDirect(16).order(ByteOrder.nativeOrder());
        cred.putInt(12, 12);
        Native.check(Native.libc().getsockopt(fd, Native.SOL_SOCKET, Native.SO_PEERCRED, Native.address(cred),
            Native.address(cred) + 12), "getsockopt(SO_PEERCRED)");
        return new int[] {cred.getInt(0), cred.getInt(4), cred.getInt(8)};
    }

    /** Wakes a blocked reader; nothing once closed (the fd number may name another file by then). */
    public synchronized void shutdown()
    {
        if (!closed)
        {
            Native.libc().shutdown(fd, Native.SHUT_RDWR);
        }
    }

    public boolean isClosed()
    {
        return closed;
    }

    @Override
    public synchronized void close()
    {
        if (!closed)
        {
            closed = true;
            Native.libc().close(fd);
        }
    }

    /** Receives fds as they arrive. */
    @FunctionalInterface
    public interface FdSink
    {
        void accept(int fd);
    }

    private static ByteBuffer sockaddr(final String path) throws NativeIoException
    {
        final byte[] bytes = path.getBytes(StandardCharsets.UTF_8);
        if (bytes.length >= SUN_PATH_MAX)
        {
            throw new NativeIoException("socket path longer than " + (SUN_PATH_MAX - 1) + " bytes: " + path,
                Errno.EINVAL);
        }
        final ByteBuffer addr = ByteBuffer.allocateDirect(SOCKADDR_UN_SIZE).order(ByteOrder.nativeOrder());
        addr.putShort(0, (short)Native.AF_UNIX);
        for (int i = 0; i < bytes.length; i++)
        {
            addr.put(2 + i, bytes[i]);
        }
        return addr;
    }

    private static int align8(final int n)
    {
        return (n + 7) & ~7;
    }

    private static final class MsgScratch
    {
        final ByteBuffer msghdr = ByteBuffer.allocateDirect(MSGHDR_SIZE + IOVEC_SIZE).order(ByteOrder.nativeOrder());
        final long msghdrAddress = Native.address(msghdr);
        final ByteBuffer control = ByteBuffer.allocateDirect(CONTROL_SIZE).order(ByteOrder.nativeOrder());
        final long controlAddress = Native.address(control);

        void prepare(final long dataAddress, final long dataLength)
        {
            final long iov = msghdrAddress + MSGHDR_SIZE;
            msghdr.putLong(0, 0L);
            msghdr.putInt(8, 0);
            msghdr.putLong(16, iov);
            msghdr.putLong(24, 1L);
            msghdr.putLong(32, 0L);
            msghdr.putLong(40, 0L);
            msghdr.putInt(48, 0);
            msghdr.putLong(MSGHDR_SIZE, dataAddress);
            msghdr.putLong(MSGHDR_SIZE + 8, dataLength);
        }
    }
}
