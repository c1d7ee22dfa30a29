package org.hyperdmabuf.hv.xen.dev;

import org.hyperdmabuf.hv.nativeio.NativeIoException;

/**
 * One open evtchn file (device boundary). {@link #fd()} polls readable while a port is pending; a delivered
 * port stays masked until {@link #unmask}. Ports not bound through this file fail with ENOTCONN.
 */
public interface EventChannelDevice extends AutoCloseable
{
    int fd();

    /** A new port a {@code remoteDomid} can bind to with {@link #bindInterdomain}. */
    int bindUnboundPort(int remoteDomid) throws NativeIoException;

    /** Connects to {@code remotePort}, an unbound port {@code remoteDomid} allocated for us; returns our port. */
    int bindInterdomain(int remoteDomid, int remotePort) throws NativeIoException;

    void notify(int port) throws NativeIoException;

    void unbind(int port) throws NativeIoException;

    /** Reads pending ports without blocking into {@code ports}; returns how many (0 when none). */
    int readPending(int[] ports) throws NativeIoException;

    void unmask(int port) throws NativeIoException;

    @Override
    void close();
}
