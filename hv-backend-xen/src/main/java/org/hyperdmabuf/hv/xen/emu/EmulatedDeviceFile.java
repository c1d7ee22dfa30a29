package org.hyperdmabuf.hv.xen.emu;

import edu.umd.cs.findbugs.annotations.SuppressFBWarnings;
import org.hyperdmabuf.hv.nativeio.Native;
import org.hyperdmabuf.hv.nativeio.NativeIoException;
import org.hyperdmabuf.hv.nativeio.UnixSocket;

import java.io.IOException;

/** EMULATION: one emulated device file, a connection to the emulated hypervisor; requests are synchronous. */
abstract class EmulatedDeviceFile implements AutoCloseable
{
    private final UnixSocket socket;
    private final String name;
    /** The fd the emulator sent when the file opened (memfd, eventfd) or -1. */
    protected final int openFd;
    private boolean closed;

    @SuppressFBWarnings(value = "CT_CONSTRUCTOR_THROW",
        justification = "package-private with final subclasses only: no subclass can finalize a half-built file")
    EmulatedDeviceFile(final String socketPath, final int hello, final int domid, final String name)
        throws NativeIoException
    {
        this.name = name;
        this.socket = UnixSocket.connect(socketPath);
        try
        {
            final EmuWire.Frame reply = call(new int[] {hello, domid}, "open");
            this.openFd = reply.fd();
        }
        catch (final NativeIoException e)
        {
            socket.close();
            throw e;
        }
    }

    /** One request; a negative status becomes a {@link NativeIoException} with that errno. */
    final synchronized EmuWire.Frame call(final int[] words, final String op) throws NativeIoException
    {
        if (closed)
        {
            // Its socket's fd number may already belong to another connection: a request there took the
            // reply meant for a domain being created (and hung it).
            throw new NativeIoException("emulated " + name + " " + op + " (closed)",
                org.hyperdmabuf.hv.nativeio.Errno.EBADF);
        }
        try
        {
            EmuWire.send(socket, words, words.length, -1);
            final EmuWire.Frame reply = EmuWire.receive(socket);
            if (reply.words()[0] < 0)
            {
                Native.closeQuietly(reply.fd());
                throw new NativeIoException("emulated " + name + " " + op, -reply.words()[0]);
            }
            return reply;
        }
        catch (final NativeIoException e)
        {
            throw e;
        }
        catch (final IOException e)
        {
            throw new NativeIoException("emulated " + name + " " + op + " (" + e.getMessage() + ")",
                org.hyperdmabuf.hv.nativeio.Errno.EIO);
        }
    }

    @Override
    public synchronized void close()
    {
        if (!closed)
        {
            Native.closeQuietly(openFd);
            try
            {
                call(new int[] {EmuWire.FILE_CLOSE}, "close");
            }
            catch (final NativeIoException e)
            {
                // the emulator or the domain is gone: nothing left to release
            }
            closed = true;
            socket.close();
        }
    }
}
