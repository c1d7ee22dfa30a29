package org.hyperdmabuf.hv.xen.dev;

import org.hyperdmabuf.hv.nativeio.Errno;
import org.hyperdmabuf.hv.nativeio.Native;
import org.hyperdmabuf.hv.nativeio.NativeIoException;

import java.nio.ByteBuffer;

import static org.hyperdmabuf.hv.xen.abi.EvtchnDescriptor.BIND_INTERDOMAIN_LENGTH;
import static org.hyperdmabuf.hv.xen.abi.EvtchnDescriptor.BIND_INTERDOMAIN_REMOTE_DOMAIN_OFFSET;
import static org.hyperdmabuf.hv.xen.abi.EvtchnDescriptor.BIND_INTERDOMAIN_REMOTE_PORT_OFFSET;
import static org.hyperdmabuf.hv.xen.abi.EvtchnDescriptor.BIND_UNBOUND_LENGTH;
import static org.hyperdmabuf.hv.xen.abi.EvtchnDescriptor.IOCTL_BIND_INTERDOMAIN;
import static org.hyperdmabuf.hv.xen.abi.EvtchnDescriptor.IOCTL_BIND_UNBOUND_PORT;
import static org.hyperdmabuf.hv.xen.abi.EvtchnDescriptor.IOCTL_NOTIFY;
import static org.hyperdmabuf.hv.xen.abi.EvtchnDescriptor.IOCTL_UNBIND;
import static org.hyperdmabuf.hv.xen.abi.EvtchnDescriptor.NOTIFY_LENGTH;
import static org.hyperdmabuf.hv.xen.abi.EvtchnDescriptor.PORT_LENGTH;
import static org.hyperdmabuf.hv.xen.abi.EvtchnDescriptor.UNBIND_LENGTH;

/**
 * {@code /dev/xen/evtchn}, non-blocking: callers poll {@link #fd()} first (libxenevtchn warns O_NONBLOCK alone is
 * unreliable), then {@link #readPending}; each delivered port is written back to unmask it.
 */
public final class LinuxEvtchnDevice extends LinuxDeviceFile implements EventChannelDevice
{
    public static final String PATH = "/dev/xen/evtchn";
    private static final int PENDING_MAX = 1024;

    private final ByteBuffer pending = argument(PORT_LENGTH * PENDING_MAX);
    private final ByteBuffer unmask = argument(PORT_LENGTH);
    private final ByteBuffer notifyArg = argument(NOTIFY_LENGTH);

    public LinuxEvtchnDevice() throws NativeIoException
    {
        super(PATH);
        final int flags = Native.check(Native.libc().fcntl(fd(), Native.F_GETFL, 0), "fcntl(F_GETFL)");
        Native.check(Native.libc().fcntl(fd(), Native.F_SETFL, flags | Native.O_NONBLOCK), "fcntl(O_NONBLOCK)");
    }

    @Override
    public int bindUnboundPort(final int remoteDomid) throws NativeIoException
    {
        final ByteBuffer arg = argument(BIND_UNBOUND_LENGTH);
        arg.putInt(0, remoteDomid);
        return ioctl(IOCTL_BIND_UNBOUND_PORT, arg, "BIND_UNBOUND_PORT(dom" + remoteDomid + ")");
    }

    @Override
    public int bindInterdomain(final int remoteDomid, final int remotePort) throws NativeIoException
    {
        final ByteBuffer arg = argument(BIND_INTERDOMAIN_LENGTH);
        arg.putInt(BIND_INTERDOMAIN_REMOTE_DOMAIN_OFFSET, remoteDomid);
        arg.putInt(BIND_INTERDOMAIN_REMOTE_PORT_OFFSET, remotePort);
        return ioctl(IOCTL_BIND_INTERDOMAIN, arg, "BIND_INTERDOMAIN(dom" + remoteDomid + ":" + remotePort + ")");
    }

    @Override
    public void notify(final int port) throws NativeIoException
    {
        synchronized (notifyArg)
        {
            notifyArg.putInt(0, port);
            ioctl(IOCTL_NOTIFY, notifyArg, "NOTIFY");
        }
    }

    @Override
    public void unbind(final int port) throws NativeIoException
    {
        final ByteBuffer arg = argument(UNBIND_LENGTH);
        arg.putInt(0, port);
        ioctl(IOCTL_UNBIND, arg, "UNBIND(" + port + ")");
    }

    @Override
    public synchronized int readPending(final int[] ports) throws NativeIoException
    {
        final int max = Math.min(ports.length, PENDING_MAX);
        final long n = Native.libc().read(fd(), Native.address(pending), (long)PORT_LENGTH * max);
        if (n < 0)
        {
            final int errno = Native.errno();
            if (errno == Errno.EAGAIN)
            {
                return 0;
            }
            throw new NativeIoException("read(" + PATH + ")", errno);
        }
        final int count = (int)(n / PORT_LENGTH);
        for (int i = 0; i < count; i++)
        {
            ports[i] = pending.getInt(PORT_LENGTH * i);
        }
        return count;
    }

    @Override
    public synchronized void unmask(final int port) throws NativeIoException
    {
        unmask.putInt(0, port);
        Native.check(Native.libc().write(fd(), Native.address(unmask), PORT_LENGTH), "write(" + PATH + ", unmask)");
    }
}
