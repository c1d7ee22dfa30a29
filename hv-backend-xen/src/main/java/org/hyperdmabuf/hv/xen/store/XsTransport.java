package org.hyperdmabuf.hv.xen.store;

import org.hyperdmabuf.hv.nativeio.Native;
import org.hyperdmabuf.hv.nativeio.NativeIoException;
import org.hyperdmabuf.hv.nativeio.UnixSocket;
import org.hyperdmabuf.hv.xen.abi.XsWireDescriptor;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * A blocking byte stream carrying xenstore messages: the xenstored Unix socket or the {@code /dev/xen/xenbus}
 * file (both are read and written the same way; the device buffers partial writes until a whole message).
 * One reader thread and one writer at a time.
 */
public final class XsTransport implements AutoCloseable
{
    private final int fd;
    private final UnixSocket socket;
    private final ByteBuffer header = ByteBuffer.allocateDirect(XsWireDescriptor.HEADER_LENGTH)
        .order(ByteOrder.nativeOrder());
    private final ByteBuffer body = ByteBuffer.allocateDirect(XsWireDescriptor.PAYLOAD_MAX)
        .order(ByteOrder.nativeOrder());
    private final ByteBuffer out = ByteBuffer.allocateDirect(XsWireDescriptor.HEADER_LENGTH +
        XsWireDescriptor.PAYLOAD_MAX).order(ByteOrder.nativeOrder());
    private volatile boolean closed;
    private boolean released;

    private XsTransport(final int fd, final UnixSocket socket)
    {
        this.fd = fd;
        this.socket = socket;
    }

    public static XsTransport socket(final String path) throws NativeIoException
    {
        final UnixSocket s = UnixSocket.connect(path);
        return new XsTransport(s.fd(), s);
    }

    public static XsTransport accepted(final UnixSocket s)
    {
        return new XsTransport(s.fd(), s);
    }

    public static XsTransport device(final String path) throws NativeIoException
    {
        return new XsTransport(Native.check(Native.libc().open(path, Native.O_RDWR | Native.O_CLOEXEC, 0),
            "open(" + path + ")"), null);
    }

    public void write(final XsMessage m) throws IOException
    {
        final byte[] payload = m.payload();
        if (payload.length > XsWireDescriptor.PAYLOAD_MAX)
        {
            throw new NativeIoException("xenstore message of " + payload.length + " bytes (max " +
                XsWireDescriptor.PAYLOAD_MAX + ")", org.hyperdmabuf.hv.nativeio.Errno.EINVAL);
        }
        synchronized (out)
        {
            out.clear();
            out.putInt(XsWireDescriptor.TYPE_OFFSET, m.type());
            out.putInt(XsWireDescriptor.REQ_ID_OFFSET, m.reqId());
            out.putInt(XsWireDescriptor.TX_ID_OFFSET, m.txId());
            out.putInt(XsWireDescriptor.LEN_OFFSET, payload.length);
            out.position(XsWireDescriptor.HEADER_LENGTH);
            out.put(payload);
            out.flip();
            if (socket != null)
            {
                socket.sendFully(out, null, 0);
            }
            else
            {
                final long n = Native.check(Native.libc().write(fd, Native.address(out), out.remaining()),
                    "write(xenbus)");
                if (n != out.remaining())
                {
                    throw new IOException("short write to xenbus: " + n + " of " + out.remaining());
                }
            }
        }
    }

    /** Reads one message; EOFException at end of stream; a length over 4096 is a protocol error. */
    public XsMessage read() throws IOException
    {
        readFully(header, XsWireDescriptor.HEADER_LENGTH);
        final int len = header.getInt(XsWireDescriptor.LEN_OFFSET);
        if (len < 0 || len > XsWireDescriptor.PAYLOAD_MAX)
        {
            throw new IOException("xenstore message length " + (len & 0xFFFFFFFFL) + " exceeds " +
                XsWireDescriptor.PAYLOAD_MAX);
        }
        readFully(body, len);
        final byte[] payload = new byte[len];
        body.get(0, payload);
        return new XsMessage(header.getInt(XsWireDescriptor.TYPE_OFFSET), header.getInt(XsWireDescriptor.REQ_ID_OFFSET),
            header.getInt(XsWireDescriptor.TX_ID_OFFSET), payload);
    }

    private void readFully(final ByteBuffer into, final int length) throws IOException
    {
        into.clear().limit(length);
        while (into.hasRemaining())
        {
            if (closed)
            {
                // Never read once shut down: the fd number may already belong to another file.
                throw new EOFException("xenstore connection closed");
            }
            final int n;
            if (socket != null)
            {
                n = socket.receive(into, fd -> Native.closeQuietly(fd));
            }
            else
            {
                final long r = Native.check(Native.libc().read(fd, Native.address(into) + into.position(),
                    into.remaining()), "read(xenbus)");
                into.position(into.position() + (int)r);
                n = (int)r;
            }
            if (n == 0)
            {
                throw new EOFException("xenstore connection closed");
            }
        }
    }

    /**
     * Ends the stream without freeing its fd: the reader reads no more (a socket's blocked read returns at once;
     * the device's returns when its next message arrives). Then {@link #close} once the reader has stopped, so its
     * next read cannot land on a file that reused the fd number.
     */
    public void shutdown()
    {
        closed = true;
        if (socket != null)
        {
            socket.shutdown(); // a no-op once the socket is closed
        }
    }

    /** {@link #shutdown} and frees the fd. */
    @Override
    public synchronized void close()
    {
        shutdown();
        if (!released)
        {
            released = true;
            if (socket != null)
            {
                socket.close();
            }
            else
            {
                Native.closeQuietly(fd);
            }
        }
    }
}
