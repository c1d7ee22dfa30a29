package org.hyperdmabuf.tests.security;

import com.google.protobuf.InvalidProtocolBufferException;
import org.hyperdmabuf.abi.v1.Request;
import org.hyperdmabuf.abi.v1.Response;
import org.hyperdmabuf.abi.v1.ServerFrame;
import org.hyperdmabuf.hv.nativeio.Native;
import org.hyperdmabuf.hv.nativeio.NativeIoException;
import org.hyperdmabuf.hv.nativeio.Poller;
import org.hyperdmabuf.hv.nativeio.UnixSocket;
import org.hyperdmabuf.tests.support.ServerFrames;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A client socket that sends whatever bytes and fds it is given (real {@code sendmsg} with SCM_RIGHTS) and
 * reads everything the daemon sends on its own thread, closing every fd it receives. Used to play a hostile
 * local client; every wait is bounded by a deadline.
 */
// "try": closing waits for the daemon to drop the connection and may be interrupted.
@SuppressWarnings("try")
final class HostileConnection implements AutoCloseable
{
    private final UnixSocket socket;
    /** What was read and not yet parsed; the reader thread's once started (starting it publishes it). */
    private final ByteBuffer in = ByteBuffer.allocateDirect(1 << 20);
    private final BlockingQueue<ServerFrame> frames = new LinkedBlockingQueue<>();
    private final AtomicInteger fdsReceived = new AtomicInteger();
    private final Thread reader;
    private volatile boolean endOfStream;
    private volatile String protocolError;

    private HostileConnection(final UnixSocket socket, final boolean read)
    {
        this.socket = socket;
        this.reader = new Thread(this::readLoop, "hostile-reader-" + socket.fd());
        this.reader.setDaemon(true);
        if (read)
        {
            reader.start();
        }
    }

    /** Connects and starts reading. */
    static HostileConnection open(final Path socket) throws NativeIoException
    {
        return new HostileConnection(UnixSocket.connect(socket.toString()), true);
    }

    /** Connects and never reads: the daemon's frames pile up in the socket (a client that stopped reading). */
    static HostileConnection openNotReading(final Path socket) throws NativeIoException
    {
        return new HostileConnection(UnixSocket.connect(socket.toString()), false);
    }

    static byte[] frame(final Request request)
    {
        final ByteArrayOutputStream out = new ByteArrayOutputStream();
        try
        {
            request.writeDelimitedTo(out);
        }
        catch (final IOException e)
        {
            throw new IllegalStateException(e);
        }
        return out.toByteArray();
    }

    /**
     * On a connection opened with {@link #openNotReading}, before {@link #startReading}: reads on the calling
     * thread until one frame is complete and returns it, or null if none came within {@code timeout} (the
     * connection then still counts as not reading). Bytes after that frame are kept for the reader.
     */
    ServerFrame readOneFrame(final Duration timeout) throws NativeIoException, InvalidProtocolBufferException
    {
        final long deadline = System.nanoTime() + timeout.toNanos();
        final Poller poller = new Poller();
        while (true)
        {
            in.flip();
            final ServerFrame f = ServerFrames.next(in);
            in.compact();
            final long left = deadline - System.nanoTime();
            if (f != null || left <= 0)
            {
                return f;
            }
            poller.clear();
            final int s = poller.add(socket.fd());
            poller.poll((int)Math.max(1, TimeUnit.NANOSECONDS.toMillis(left)));
            if (poller.readable(s) && socket.receive(in, fd ->
            {
                fdsReceived.incrementAndGet();
                Native.closeQuietly(fd);
            }) == 0)
            {
                return null; // end of stream
            }
        }
    }

    /**
     * On a connection opened with {@link #openNotReading}: true once the daemon has sent something (or closed),
     * without reading it; false if nothing came within {@code timeout}.
     */
    boolean awaitReadable(final Duration timeout) throws NativeIoException
    {
        final Poller poller = new Poller();
        final int s = poller.add(socket.fd());
        poller.poll((int)Math.max(1, timeout.toMillis()));
        return poller.readable(s);
    }

    /** Starts reading on a connection opened with {@link #openNotReading}. */
    void startReading()
    {
        reader.start();
    }

    /** Sends {@code bytes} with {@code fds} attached to the first byte; false if the daemon closed the socket. */
    boolean send(final byte[] bytes, final int... fds)
    {
        final ByteBuffer b = ByteBuffer.allocateDirect(Math.max(1, bytes.length)).put(bytes).flip();
        try
        {
            socket.sendFully(b, fds, fds.length);
            return true;
        }
        catch (final NativeIoException e)
        {
            return false; // EPIPE / ECONNRESET: the daemon closed this connection
        }
    }

    /** The next frame, or null if none came within {@code timeout} or the stream ended. */
    ServerFrame next(final Duration timeout) throws InterruptedException
    {
        final long deadline = System.nanoTime() + timeout.toNanos();
        while (true)
        {
            final ServerFrame f = frames.poll(10, TimeUnit.MILLISECONDS);
            if (f != null || (endOfStream && frames.isEmpty()) || System.nanoTime() > deadline)
            {
                return f;
            }
        }
    }

    /** The response with {@code requestId} (events and other responses skipped), or null on timeout/close. */
    Response responseTo(final long requestId, final Duration timeout) throws InterruptedException
    {
        final long deadline = System.nanoTime() + timeout.toNanos();
        while (true)
        {
            final long left = deadline - System.nanoTime();
            final ServerFrame f = left > 0 ? next(Duration.ofNanos(left)) : null;
            if (f == null)
            {
                return null;
            }
            if (f.hasResponse() && f.getResponse().getRequestId() == requestId)
            {
                return f.getResponse();
            }
        }
    }

    /** True once the daemon closed the connection (end of stream) within {@code timeout}. */
    boolean awaitClosed(final Duration timeout) throws InterruptedException
    {
        final long deadline = System.nanoTime() + timeout.toNanos();
        while (!endOfStream && System.nanoTime() < deadline)
        {
            Thread.sleep(5); // polling our own reader thread's flag, not synchronizing with the daemon
        }
        return endOfStream;
    }

    boolean isClosedByDaemon()
    {
        return endOfStream;
    }

    /** A framing error in what the daemon sent (must never happen), or null. */
    String protocolError()
    {
        return protocolError;
    }

    int fdsReceived()
    {
        return fdsReceived.get();
    }

    private void readLoop()
    {
        try
        {
            while (true)
            {
                final int n = socket.receive(in, fd ->
                {
                    fdsReceived.incrementAndGet();
                    Native.closeQuietly(fd);
                });
                if (n == 0)
                {
                    break;
                }
                in.flip();
                while (parseOne(in))
                {
                    // next frame
                }
                in.compact();
            }
        }
        catch (final NativeIoException e)
        {
            // ECONNRESET after the daemon closed with our bytes unread: also the end of the stream
        }
        endOfStream = true;
    }

    /** Queues one frame from {@code in} if complete; false if more bytes are needed or the stream is broken. */
    private boolean parseOne(final ByteBuffer in)
    {
        try
        {
            final ServerFrame f = ServerFrames.next(in);
            if (f != null)
            {
                frames.add(f);
            }
            return f != null;
        }
        catch (final InvalidProtocolBufferException e)
        {
            protocolError = "the daemon broke the framing: " + e.getMessage();
            in.position(in.limit());
            return false;
        }
    }

    /** Closes the socket at once, whatever is in flight (a client that dies mid-request). */
    @Override
    public void close() throws InterruptedException
    {
        socket.shutdown();
        if (reader.getState() != Thread.State.NEW)
        {
            reader.join(10_000);
        }
        socket.close();
    }
}
