package org.hyperdmabuf.hv.xen.dev;

import edu.umd.cs.findbugs.annotations.SuppressFBWarnings;
import org.hyperdmabuf.hv.nativeio.Native;
import org.hyperdmabuf.hv.nativeio.NativeIoException;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/** An open {@code /dev/xen/*} file and the ioctl call with errno mapped to {@link NativeIoException}. */
abstract class LinuxDeviceFile implements AutoCloseable
{
    private final int fd;
    private final String path;
    private volatile boolean closed;

    @SuppressFBWarnings(value = "CT_CONSTRUCTOR_THROW",
        justification = "package-private with final subclasses only: no subclass can finalize a half-built file")
    LinuxDeviceFile(final String path) throws NativeIoException
    {
        this.path = path;
        this.fd = Native.check(Native.libc().open(path, Native.O_RDWR | Native.O_CLOEXEC, 0), "open(" + path + ")");
    }

    public final int fd()
    {
        return fd;
    }

    static ByteBuffer argument(final int length)
    {
        return ByteBuffer.allocateDirect(length).order(ByteOrder.nativeOrder());
    }

    /** ioctl; returns its non-negative result (evtchn binds return the port). */
    final int ioctl(final int request, final ByteBuffer arg, final String name) throws NativeIoException
    {
        if (closed)
        {
            // another thread closed it: its fd number may name another file by now
            throw new NativeIoException(path + " " + name + " (closed)", org.hyperdmabuf.hv.nativeio.Errno.EBADF);
        }
        final int r = Native.libc().ioctl(fd, request & 0xFFFFFFFFL, arg == null ? 0 : Native.address(arg));
        if (r < 0)
        {
            throw new NativeIoException(path + " " + name, Native.errno());
        }
        return r;
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
}
