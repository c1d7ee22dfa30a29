package org.hyperdmabuf.hv.xen.emu;

import org.hyperdmabuf.hv.nativeio.Errno;
import org.hyperdmabuf.hv.nativeio.NativeIoException;
import org.hyperdmabuf.hv.nativeio.UnixSocket;
import org.hyperdmabuf.hv.xen.store.XsMessage;
import org.hyperdmabuf.hv.xen.store.XsTransport;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * EMULATION wire format between an emulated device file and the emulated hypervisor: frames of
 * {@code u32 count, u32 words[count]} (native-endian) with at most one fd. A request's first word is the
 * operation; a reply's first word is 0 or a negative errno. Not an ABI: both ends are this module.
 */
final class EmuWire
{
    static final int HELLO_DOMAIN = 1;
    static final int HELLO_GNTALLOC = 2;
    static final int HELLO_GNTDEV = 3;
    static final int HELLO_EVTCHN = 4;
    static final int GNT_ALLOC = 10;
    static final int GNT_DEALLOC = 11;
    static final int GNT_MAP = 12;
    static final int GNT_UNMAP = 13;
    static final int EVT_BIND_UNBOUND = 20;
    static final int EVT_BIND_INTERDOMAIN = 21;
    static final int EVT_NOTIFY = 22;
    static final int EVT_UNBIND = 23;
    static final int EVT_PENDING = 24;
    static final int EVT_UNMASK = 25;
    /** Closes the file synchronously, as close(2) of a device file ends its grants before returning. */
    static final int FILE_CLOSE = 30;

    static final int MAX_WORDS = 70_000;

    private EmuWire()
    {
    }

    /** A received frame and the fd that came with it (-1 if none). */
    record Frame(int[] words, int fd)
    {
    }

    /** Per-thread scratch: a request allocates no direct memory (allocateDirect per call ends in System.gc stalls). */
    private static final ThreadLocal<ByteBuffer[]> SCRATCH = ThreadLocal.withInitial(() -> new ByteBuffer[] {
        ByteBuffer.allocateDirect(4 * 64).order(ByteOrder.nativeOrder()),
        ByteBuffer.allocateDirect(4 * 64).order(ByteOrder.nativeOrder())});

    private static ByteBuffer scratch(final int which, final int bytes)
    {
        final ByteBuffer[] s = SCRATCH.get();
        if (s[which].capacity() < bytes)
        {
            s[which] = ByteBuffer.allocateDirect(Integer.highestOneBit(bytes) << 1).order(ByteOrder.nativeOrder());
        }
        final ByteBuffer b = s[which];
        b.clear().limit(bytes);
        return b;
    }

    static void send(final UnixSocket socket, final int[] words, final int count, final int fd)
        throws NativeIoException
    {
        final ByteBuffer b = scratch(0, 4 + 4 * count);
        b.putInt(count);
        for (int i = 0; i < count; i++)
        {
            b.putInt(words[i]);
        }
        b.flip();
        if (fd >= 0)
        {
            socket.sendFully(b, new int[] {fd}, 1);
        }
        else
        {
            socket.sendFully(b, null, 0);
        }
    }

    static Frame receive(final UnixSocket socket) throws IOException
    {
        final int[] fd = {-1};
        final ByteBuffer head = scratch(1, 4);
        readFully(socket, head, fd);
        final int count = head.getInt(0);
        if (count < 1 || count > MAX_WORDS)
        {
            throw new NativeIoException("emulator frame of " + count + " words", Errno.EINVAL);
        }
        final ByteBuffer body = scratch(1, 4 * count);
        readFully(socket, body, fd);
        final int[] words = new int[count];
        for (int i = 0; i < count; i++)
        {
            words[i] = body.getInt(4 * i);
        }
        return new Frame(words, fd[0]);
    }

    private static void readFully(final UnixSocket socket, final ByteBuffer into, final int[] fd) throws IOException
    {
        while (into.hasRemaining())
        {
            if (socket.receive(into, f -> fd[0] = f) == 0)
            {
                throw new EOFException("emulated hypervisor connection closed");
            }
        }
    }

    /**
     * First message of a connection to the fake xenstored that makes it a domain's xenbus connection (the
     * domain's permissions, not dom0's privilege); a vendor message type Xen's protocol does not use.
     */
    public static final int EMU_DECLARE_DOMAIN = 0x454D5500;

    /** EMULATION of a domain's xenbus device: a connection to {@code socketPath} that declared {@code domid}. */
    public static XsTransport connectAsDomain(final String socketPath, final int domid) throws IOException
    {
        final XsTransport t = XsTransport.socket(socketPath);
        try
        {
            t.write(new XsMessage(EMU_DECLARE_DOMAIN, 0, 0, XsMessage.strings(Integer.toString(domid))));
            final XsMessage reply = t.read();
            if (reply.type() != EMU_DECLARE_DOMAIN)
            {
                throw new IOException("fake xenstored refused domain " + domid + ": " + reply.text());
            }
            return t;
        }
        catch (final IOException e)
        {
            t.close();
            throw e;
        }
    }

}
