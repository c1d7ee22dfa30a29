package org.hyperdmabuf.tests.e2e;

import com.google.protobuf.CodedOutputStream;
import org.hyperdmabuf.abi.v1.Request;
import org.hyperdmabuf.abi.v1.ServerFrame;
import org.hyperdmabuf.tests.support.ServerFrames;

import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.net.SocketException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.time.Duration;

/**
 * A bare client socket speaking the framing by hand, for input the real client library refuses to send.
 * Every read is bounded by a deadline.
 */
final class RawConnection implements AutoCloseable
{
    private final SocketChannel channel;
    private final Selector selector;
    private final ByteBuffer in = ByteBuffer.allocate(1 << 20);

    private RawConnection(final SocketChannel channel, final Selector selector)
    {
        this.channel = channel;
        this.selector = selector;
    }

    static RawConnection open(final Path socket) throws IOException
    {
        final SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
        ch.connect(UnixDomainSocketAddress.of(socket));
        ch.configureBlocking(false);
        final Selector selector = Selector.open();
        ch.register(selector, SelectionKey.OP_READ);
        return new RawConnection(ch, selector);
    }

    /** A varint length prefix followed by the request (what a well-behaved client sends). */
    static byte[] frame(final Request request) throws IOException
    {
        final ByteArrayOutputStream out = new ByteArrayOutputStream();
        request.writeDelimitedTo(out);
        return out.toByteArray();
    }

    static byte[] varint(final int value) throws IOException
    {
        final ByteArrayOutputStream out = new ByteArrayOutputStream();
        final CodedOutputStream c = CodedOutputStream.newInstance(out);
        c.writeUInt32NoTag(value);
        c.flush();
        return out.toByteArray();
    }

    /** Writes the parts with one write call (the daemon may close the connection right after reading them). */
    void write(final byte[]... parts) throws IOException
    {
        final ByteArrayOutputStream all = new ByteArrayOutputStream();
        for (final byte[] part : parts)
        {
            all.writeBytes(part);
        }
        final ByteBuffer b = ByteBuffer.wrap(all.toByteArray());
        channel.write(b);
        if (b.hasRemaining())
        {
            throw new IOException("short write of a small frame: " + b.remaining() + " bytes left");
        }
    }

    /** The next frame from the daemon; EOFException if it closed the connection first. */
    ServerFrame readFrame(final Duration timeout) throws IOException
    {
        final long deadline = System.nanoTime() + timeout.toNanos();
        while (true)
        {
            final ServerFrame f = parseBuffered();
            if (f != null)
            {
                return f;
            }
            if (!fill(deadline))
            {
                throw new EOFException("the daemon closed the connection");
            }
        }
    }

    /**
     * True once the daemon has closed the connection (end of stream, or a reset because it closed with our
     * bytes unread); fails if a frame or the deadline comes first.
     */
    boolean awaitClosed(final Duration timeout) throws IOException
    {
        final long deadline = System.nanoTime() + timeout.toNanos();
        try
        {
            while (fill(deadline))
            {
                final ServerFrame f = parseBuffered();
                if (f != null)
                {
                    throw new AssertionError("expected the connection to close, got a frame: " + f);
                }
            }
        }
        catch (final SocketException e)
        {
            if (!"Connection reset".equals(e.getMessage()))
            {
                throw e;
            }
        }
        return true;
    }

    /** Reads more bytes; false on end of stream; AssertionError past the deadline. */
    private boolean fill(final long deadline) throws IOException
    {
        while (true)
        {
            final int n = channel.read(in);
            if (n < 0)
            {
                return false;
            }
            if (n > 0)
            {
                return true;
            }
            final long left = deadline - System.nanoTime();
            if (left <= 0)
            {
                throw new AssertionError("no data from the daemon before the deadline");
            }
            selector.select(Math.max(1, left / 1_000_000));
            selector.selectedKeys().clear();
        }
    }

    private ServerFrame parseBuffered() throws IOException
    {
        in.flip();
        try
        {
            return ServerFrames.next(in);
        }
        finally
        {
            in.compact();
        }
    }

    @Override
    public void close() throws IOException
    {
        selector.close();
        channel.close();
    }
}
