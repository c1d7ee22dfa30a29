package org.hyperdmabuf.hv.kvm;

import org.hyperdmabuf.hv.nativeio.MemFd;
import org.hyperdmabuf.hv.nativeio.Native;
import org.hyperdmabuf.hv.nativeio.NativeIoException;
import org.hyperdmabuf.hv.nativeio.Poller;
import org.hyperdmabuf.hv.nativeio.UnixSocket;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;

/**
 * The client side of QEMU's ivshmem server protocol, as QEMU's {@code ivshmem_recv_setup} and
 * {@code ivshmem_read} implement it: version 0, own id, then messages until -1 with the shared-memory fd;
 * afterwards a peer id with an fd adds that peer's next vector, a peer id without an fd is a disconnect.
 * <p>
 * Vector counts may differ between peers, as QEMU tolerates: extra eventfds beyond our {@code vectors} are
 * closed, missing ones stay unconnected and ringing them is a no-op. When the server dies (EOF) the peers
 * keep their eventfds and keep working with each other; only joins and leaves stop, as with QEMU.
 * <p>
 * A disconnect does not close that peer's eventfds at once: QEMU's server announces every peer as gone when it
 * shuts down gracefully, and the peers, alive, keep ringing each other. The eventfds of a peer announced gone
 * are kept, still rung, until its id is announced again, or until {@link #DEPARTED_GRACE_MS} have passed with
 * the server still alive (then the disconnect was real); after the server's end they stay until {@link #close}.
 * This class speaks the protocol; the eventfds are held by a {@link PeerVectorTable}.
 * <p>
 * Threading: {@link #connect} and {@link #processServerMessages} must be called by one thread at a time (the
 * owner's receive thread); {@link #ring}, the accessors and {@link #drain} may be called from any thread.
 * {@link #close()} after the receive thread has stopped.
 */
public final class IvshmemPeerConnection implements AutoCloseable
{
    /** Callbacks from the thread that processes server messages. */
    public interface Listener
    {
        /** The server announced {@code peerId} (its first eventfd arrived). */
        default void onPeerConnected(final int peerId)
        {
        }

        /** The server announced that {@code peerId} is gone (its eventfds are kept a while: see the class comment). */
        default void onPeerDisconnected(final int peerId)
        {
        }

        /** The server connection ended; peers stay connected, no joins or leaves will be reported. */
        default void onServerLost(final String reason)
        {
        }
    }

    public static final int PROTOCOL_VERSION = 0;
    public static final int MAX_PEER_ID = IvshmemServer.MAX_ID;
    private static final Listener NO_LISTENER = new Listener()
    {
    };
    /** After own vector 0, how long the socket may stay quiet before we stop waiting for further own vectors. */
    private static final int QUIET_WINDOW_MS = 200;
    /** How long a disconnected peer's eventfds are kept while the server lives (a shutdown ends within it). */
    static final long DEPARTED_GRACE_MS = 1000;
    private static final int MESSAGE = 1;
    private static final int TIMEOUT = 0;
    private static final int EOF = -1;

    private static final Logger LOG = LoggerFactory.getLogger(IvshmemPeerConnection.class);

    private final UnixSocket socket;
    private final int vectors;
    private final Listener listener;
    private final String path;
    /** Guards closing the socket. */
    private final Object lock = new Object();
    private final PeerVectorTable table;
    private final Poller poller = new Poller();
    private final ByteBuffer message = ByteBuffer.allocateDirect(8).order(ByteOrder.LITTLE_ENDIAN);
    private final UnixSocket.FdSink fdSink = this::onFd;
    private int messageFd = -1;
    private long messageValue;
    private int ownId = -1;
    private int shmFd = -1;
    private long shmSize;
    private volatile boolean serverAlive = true;
    private boolean closed;

    private IvshmemPeerConnection(final String path, final UnixSocket socket, final int vectors,
        final Listener listener)
    {
        this.path = path;
        this.socket = socket;
        this.vectors = vectors;
        this.listener = listener == null ? NO_LISTENER : listener;
        this.table = new PeerVectorTable(path, vectors);
    }

    /**
     * Connects to the server at {@code socketPath} and runs the setup: returns once the shared memory and our
     * own vector-0 eventfd have arrived (and any further own vectors that follow without a pause).
     *
     * @param vectors       vectors this peer uses (QEMU's {@code vectors=}).
     * @param timeoutMillis bound on the whole setup.
     * @throws IvshmemProtocolException if the server breaks the protocol or is too slow.
     */
    public static IvshmemPeerConnection connect(final String socketPath, final int vectors, final long timeoutMillis,
        final Listener listener) throws IOException
    {
        if (vectors < 1 || vectors > IvshmemServer.MAX_VECTORS)
        {
            throw new IllegalArgumentException("vectors=" + vectors + " must be in [1, " + IvshmemServer.MAX_VECTORS +
                "]");
        }
        final IvshmemPeerConnection connection =
            new IvshmemPeerConnection(socketPath, UnixSocket.connect(socketPath), vectors, listener);
        try
        {
            connection.setup(System.nanoTime() + timeoutMillis * 1_000_000L);
            return connection;
        }
        catch (final IOException | RuntimeException e)
        {
            connection.close();
            throw e;
        }
    }

    private void setup(final long deadline) throws IOException
    {
        expectMessage(deadline, "version");
        if (messageFd >= 0 || messageValue != PROTOCOL_VERSION)
        {
            throw new IvshmemProtocolException(path + ": server sent version " + messageValue +
                (messageFd >= 0 ? " with an fd" : "") + ", expected " + PROTOCOL_VERSION);
        }
        expectMessage(deadline, "own id");
        if (messageFd >= 0 || messageValue < 0 || messageValue > MAX_PEER_ID)
        {
            throw new IvshmemProtocolException(path + ": server sent an invalid id message " + messageValue);
        }
        ownId = (int)messageValue;
        table.setOwnId(ownId);
        while (true)
        {
            expectMessage(deadline, "shared memory");
            if (messageValue == -1)
            {
                if (messageFd < 0)
                {
                    throw new IvshmemProtocolException(path + ": shared memory message without an fd");
                }
                shmFd = takeMessageFd();
                break;
            }
            handleMessage(messageValue, takeMessageFd());
        }
        shmSize = MemFd.size(shmFd);
        while (ownVectorCount() == 0)
        {
            expectMessage(deadline, "own vector 0");
            handleMessage(messageValue, takeMessageFd());
        }
        while (ownVectorCount() < vectors && serverAlive)
        {
            final long remainingMs = (deadline - System.nanoTime()) / 1_000_000L;
            if (remainingMs <= 0)
            {
                break;
            }
            final int r = readMessage((int)Math.min(QUIET_WINDOW_MS, remainingMs));
            if (r == TIMEOUT)
            {
                break;
            }
            if (r == EOF)
            {
                serverLost("end of stream");
                break;
            }
            handleMessage(messageValue, takeMessageFd());
        }
        if (ownVectorCount() < vectors)
        {
            LOG.info("{}: server gave {} of {} vectors; the rest stay unconnected", path, ownVectorCount(), vectors);
        }
        LOG.debug("{}: ivshmem peer {} ready, {} bytes of shared memory, {} peers", path, ownId, shmSize,
            peerIds().size());
    }

    private void expectMessage(final long deadline, final String what) throws IOException
    {
        final long remainingMs = (deadline - System.nanoTime()) / 1_000_000L;
        final int r = remainingMs <= 0 ? TIMEOUT : readMessage((int)Math.min(Integer.MAX_VALUE, remainingMs));
        if (r == TIMEOUT)
        {
            throw new IvshmemProtocolException(path + ": timed out waiting for the " + what + " message");
        }
        if (r == EOF)
        {
            throw new IvshmemProtocolException(path + ": server closed the connection before the " + what +
                " message (all ids taken?)");
        }
    }

    /**
     * Processes server messages: waits up to {@code timeoutMillis} for the first one, then handles all that
     * are already available. Returns the number handled; 0 if the server is gone.
     */
    public int processServerMessages(final int timeoutMillis) throws NativeIoException
    {
        int handled = 0;
        int wait = timeoutMillis;
        while (serverAlive)
        {
            final int r;
            try
            {
                r = readMessage(wait);
            }
            catch (final NativeIoException e)
            {
                serverLost(e.getMessage());
                break;
            }
            if (r == TIMEOUT)
            {
                break;
            }
            if (r == EOF)
            {
                serverLost("end of stream");
                break;
            }
            handleMessage(messageValue, takeMessageFd());
            handled++;
            wait = 0;
        }
        return handled;
    }

    /** Reads one whole message into {@link #messageValue}/{@link #messageFd}, waiting for its first byte. */
    private int readMessage(final int timeoutMillis) throws NativeIoException
    {
        while (message.position() < 8)
        {
            poller.clear();
            poller.add(socket.fd());
            if (poller.poll(timeoutMillis) == 0)
            {
                return TIMEOUT;
            }
            if (socket.receive(message, fdSink) == 0)
            {
                return EOF;
            }
        }
        messageValue = message.getLong(0);
        message.clear();
        return MESSAGE;
    }

    private void onFd(final int fd)
    {
        if (messageFd < 0)
        {
            messageFd = fd;
        }
        else
        {
            LOG.warn("{}: more than one fd in one message; closing fd {}", path, fd);
            Native.closeQuietly(fd);
        }
    }

    private int takeMessageFd()
    {
        final int fd = messageFd;
        messageFd = -1;
        return fd;
    }

    private void handleMessage(final long value, final int fd)
    {
        if (value < -1 || value > MAX_PEER_ID)
        {
            LOG.warn("{}: server sent invalid message {}", path, value);
            Native.closeQuietly(fd);
        }
        else if (value == -1)
        {
            LOG.warn("{}: server sent unexpected shared memory message", path);
            Native.closeQuietly(fd);
        }
        else if (fd >= 0)
        {
            addVector((int)value, fd);
        }
        else
        {
            removePeer((int)value);
        }
    }

    private void addVector(final int id, final int fd)
    {
        if (table.addVector(id, fd))
        {
            listener.onPeerConnected(id);
        }
    }

    private void removePeer(final int id)
    {
        if (id == ownId)
        {
            LOG.warn("{}: server sent a disconnect for our own id {}; ignored", path, id);
            return;
        }
        if (table.depart(id))
        {
            listener.onPeerDisconnected(id);
        }
    }

    /**
     * Closes the eventfds of peers announced gone more than {@link #DEPARTED_GRACE_MS} ago while the server still
     * runs (their disconnect was real). Called by the owner's receive thread, often.
     */
    public void releaseDeparted(final long now)
    {
        if (serverAlive)
        {
            table.releaseDeparted(now, DEPARTED_GRACE_MS * 1_000_000L);
        }
    }

    private void serverLost(final String reason)
    {
        if (!serverAlive)
        {
            return;
        }
        serverAlive = false;
        synchronized (lock)
        {
            socket.close();
        }
        Native.closeQuietly(takeMessageFd());
        LOG.warn("{}: ivshmem server lost ({}); peers keep working, no further joins or leaves", path, reason);
        listener.onServerLost(reason);
    }

    public int ownId()
    {
        return ownId;
    }

    /** The shared-memory fd; owned by this connection (dup it to hand it out). */
    public int shmFd()
    {
        return shmFd;
    }

    /** Size of the shared memory, from the fd itself (as QEMU does with fstat). */
    public long shmSize()
    {
        return shmSize;
    }

    public int vectors()
    {
        return vectors;
    }

    /** The eventfd we receive on for {@code vector}, or -1 if the server has not (yet) provided it. */
    public int ownVectorFd(final int vector)
    {
        return table.ownVectorFd(vector);
    }

    public int ownVectorCount()
    {
        return table.ownVectorCount();
    }

    /** Reads and resets our receive counter for {@code vector}; 0 if nothing was pending or it is unconnected. */
    public long drain(final int vector) throws NativeIoException
    {
        return table.drain(vector);
    }

    /**
     * Interrupts {@code peerId} on {@code vector} (our own id rings ourselves, as in QEMU). Returns false, doing
     * nothing, if that peer or vector is not connected (a peer announced gone still is, for a while: see the class
     * comment), as QEMU ignores such doorbells.
     */
    public boolean ring(final int peerId, final int vector) throws NativeIoException
    {
        return table.ring(peerId, vector);
    }

    /**
     * A new fd (dup) of {@code peerId}'s {@code vector} eventfd, for a local client that rings it itself; -1 if
     * that peer or vector is not connected. The caller owns the fd.
     */
    public int dupPeerVector(final int peerId, final int vector) throws NativeIoException
    {
        return table.dupPeerVector(peerId, vector);
    }

    /** A new fd (dup) of our own {@code vector} eventfd, for a local client that polls it; -1 if unconnected. */
    public int dupOwnVector(final int vector) throws NativeIoException
    {
        return table.dupOwnVector(vector);
    }

    public boolean isPeerConnected(final int peerId)
    {
        return table.isPeerConnected(peerId);
    }

    /** Vectors we hold for {@code peerId} (0 if unknown). */
    public int peerVectorCount(final int peerId)
    {
        return table.peerVectorCount(peerId);
    }

    /** Connected peers (not including ourselves), ascending. */
    public List<Integer> peerIds()
    {
        return table.peerIds();
    }

    public boolean isServerAlive()
    {
        return serverAlive;
    }

    /** The server socket to poll for messages, or -1 once the server is gone. */
    public int serverFd()
    {
        return serverAlive ? socket.fd() : -1;
    }

    @Override
    public void close()
    {
        synchronized (lock)
        {
            if (closed)
            {
                return;
            }
            closed = true;
            serverAlive = false;
            socket.close();
            table.close();
            Native.closeQuietly(shmFd);
            shmFd = -1;
            Native.closeQuietly(takeMessageFd());
        }
    }
}
