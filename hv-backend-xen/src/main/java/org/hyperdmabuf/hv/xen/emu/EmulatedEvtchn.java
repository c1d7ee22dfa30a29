package org.hyperdmabuf.hv.xen.emu;

import org.hyperdmabuf.hv.nativeio.EventFd;
import org.hyperdmabuf.hv.nativeio.NativeIoException;
import org.hyperdmabuf.hv.xen.dev.EventChannelDevice;

/** EMULATION of an evtchn file: {@link #fd()} is an eventfd the emulator rings when a port becomes pending. */
final class EmulatedEvtchn extends EmulatedDeviceFile implements EventChannelDevice
{
    private final EventFd eventFd = new EventFd();

    EmulatedEvtchn(final String socketPath, final int domid) throws NativeIoException
    {
        super(socketPath, EmuWire.HELLO_EVTCHN, domid, "evtchn");
    }

    @Override
    public int fd()
    {
        return openFd;
    }

    @Override
    public int bindUnboundPort(final int remoteDomid) throws NativeIoException
    {
        return call(new int[] {EmuWire.EVT_BIND_UNBOUND, remoteDomid}, "BIND_UNBOUND_PORT").words()[1];
    }

    @Override
    public int bindInterdomain(final int remoteDomid, final int remotePort) throws NativeIoException
    {
        return call(new int[] {EmuWire.EVT_BIND_INTERDOMAIN, remoteDomid, remotePort}, "BIND_INTERDOMAIN")
            .words()[1];
    }

    @Override
    public void notify(final int port) throws NativeIoException
    {
        call(new int[] {EmuWire.EVT_NOTIFY, port}, "NOTIFY(" + port + ")");
    }

    @Override
    public void unbind(final int port) throws NativeIoException
    {
        call(new int[] {EmuWire.EVT_UNBIND, port}, "UNBIND(" + port + ")");
    }

    @Override
    public int readPending(final int[] ports) throws NativeIoException
    {
        eventFd.drain(openFd);
        final int[] w = call(new int[] {EmuWire.EVT_PENDING}, "read pending").words();
        final int n = Math.min(w.length - 1, ports.length);
        System.arraycopy(w, 1, ports, 0, n);
        return n;
    }

    @Override
    public void unmask(final int port) throws NativeIoException
    {
        call(new int[] {EmuWire.EVT_UNMASK, port}, "unmask(" + port + ")");
    }
}
