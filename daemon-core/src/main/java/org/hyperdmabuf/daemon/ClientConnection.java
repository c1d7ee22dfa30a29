package org.hyperdmabuf.daemon;

import org.hyperdmabuf.abi.Limits;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelOutboundBuffer;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.abi.v1.Event;
import org.hyperdmabuf.abi.v1.Response;
import org.hyperdmabuf.abi.v1.ServerFrame;
import org.hyperdmabuf.hv.nativeio.Errno;
import org.hyperdmabuf.hv.nativeio.Native;
import org.hyperdmabuf.hv.nativeio.NativeIoException;
import org.hyperdmabuf.hv.nativeio.UnixSocket;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * One client of the daemon's socket. All methods run on the daemon's event loop.
 * <p>
 * Frames leave in order through one queue. Frames without fds go through netty; a frame with an fd is
 * written with our own {@code sendmsg} (fd attached to its first byte) once netty's outbound buffer is
 * empty, so it cannot overtake or split earlier frames. Events wait in a bounded queue while the socket is
 * not writable; past the bound they are counted and the subscriber gets an overflow marker, never silence.
 */
public final class ClientConnection
{
    private static final Logger LOG = LoggerFactory.getLogger(ClientConnection.class);
    private static final long FD_SEND_GIVE_UP_NANOS = TimeUnit.SECONDS.toNanos(10);

    private final long id;
    private final Channel channel;
    private final Refusals refusals;
    private final int uid;
    private final int gid;
    private final int pid;
    private final ArrayDeque<Outgoing> out = new ArrayDeque<>();
    private final ArrayDeque<Event> events = new ArrayDeque<>();
    private final Map<Long, Long> droppedBySubscription = new HashMap<>();
    private final int[] fdScratch = new int[1];
    private ByteBuffer sendScratch = ByteBuffer.allocateDirect(4096);
    private UnixSocket nativeSocket;
    private boolean drainScheduled;
    private boolean refused;
    private long fdBlockedSince;
    private long queuedEventBytes;
    private boolean pumping;
    private Runnable onDrained;
    /** Subscriptions held in the {@link EventHub}; bounded by {@link Limits#MAX_SUBSCRIPTIONS_PER_CLIENT}. */
    int subscriptions;
    /** Sum of {@link EventFilter#cost()} of those subscriptions; bounded by {@link Limits#MAX_GLOB_CHARS_PER_CLIENT}. */
    int subscribedGlobChars;
    /** FENCE_WAITs parked in {@link FenceWaits}; bounded by {@link Limits#MAX_FENCE_WAITS_PER_CLIENT}. */
    int parkedFenceWaits;

    private record Outgoing(byte[] frame, int fd)
    {
    }

    ClientConnection(final long id, final Channel channel, final Refusals refusals)
    {
        this.id = id;
        this.channel = channel;
        this.refusals = refusals;
        int u = -1;
        int g = -1;
        int p = -1;
        if (channel instanceof EpollDomainSocketChannel)
        {
            try
            {
                final var creds = ((EpollDomainSocketChannel)channel).peerCredentials();
                u = creds.uid();
                g = creds.gids().length > 0 ? creds.gids()[0] : -1;
                p = creds.pid();
            }
            catch (final java.io.IOException e)
            {
                LOG.warn("client {}: SO_PEERCRED failed: {}", id, e.toString());
            }
        }
        this.uid = u;
        this.gid = g;
        this.pid = p;
    }

    public long id()
    {
        return id;
    }

    public int uid()
    {
        return uid;
    }

    public int gid()
    {
        return gid;
    }

    public int pid()
    {
        return pid;
    }

    public boolean isOpen()
    {
        return channel.isOpen();
    }

    /** A refused connection is being closed ({@link Refusals}); nothing it sends is served. */
    public boolean isRefused()
    {
        return refused;
    }

    /**
     * True while responses are not leaving: netty's outbound buffer is above its high-water mark, or a frame
     * (one carrying an fd) waits for the socket. The server then serves no further request of this client, so
     * a client that does not read cannot make the daemon queue responses or fds without bound.
     */
    boolean isBacklogged()
    {
        return !channel.isWritable() || !out.isEmpty();
    }

    /** Runs {@code callback} on the event loop whenever queued frames that made this client backlogged have left. */
    void onDrained(final Runnable callback)
    {
        this.onDrained = callback;
    }

    /** Sends a success response. */
    public void reply(final long requestId, final Response.Builder response)
    {
        send(ServerFrame.newBuilder().setResponse(response.setRequestId(requestId).setFdCount(0)).build(), -1);
    }

    /** Sends a success response carrying {@code fd}; the fd is closed by this connection once sent (or dropped). */
    public void replyWithFd(final long requestId, final Response.Builder response, final int fd)
    {
        send(ServerFrame.newBuilder().setResponse(response.setRequestId(requestId).setFdCount(1)).build(), fd);
    }

    public void replyError(final long requestId, final ErrorCode code, final String message)
    {
        send(ServerFrame.newBuilder().setResponse(Response.newBuilder().setRequestId(requestId).setError(code)
            .setMessage(message)).build(), -1);
    }

    /** Answers {@code code} (request id 0) and closes the connection so that the client can read it first. */
    public void refuse(final ErrorCode code, final String message)
    {
        refused = true;
        replyError(0, code, message);
        refusals.close(channel);
    }

    /** Queues an event for this client, subject to back-pressure (see class comment). */
    public void deliverEvent(final long subscriptionId, final byte[] uevent)
    {
        if (!channel.isOpen())
        {
            return;
        }
        if (events.size() >= Limits.EVENT_QUEUE_PER_CLIENT ||
            queuedEventBytes + uevent.length > Limits.EVENT_QUEUE_BYTES_PER_CLIENT)
        {
            droppedBySubscription.merge(subscriptionId, 1L, Long::sum);
            return;
        }
        final Long dropped = droppedBySubscription.remove(subscriptionId);
        if (dropped != null)
        {
            events.add(Event.newBuilder().setSubscriptionId(subscriptionId).setOverflowDropped(dropped).build());
        }
        events.add(Event.newBuilder().setSubscriptionId(subscriptionId)
            .setUevent(com.google.protobuf.ByteString.copyFrom(uevent)).build());
        queuedEventBytes += uevent.length;
        pumpEvents();
    }

    /**
     * Moves queued events to the socket while it is writable; called again when writability returns. Netty
     * fires writability changes synchronously from inside our writes, so this is re-entered: the nested call
     * does nothing and the outer loop, which re-checks writability, carries on (so events keep their order and
     * the overflow markers are not iterated while being cleared).
     */
    void pumpEvents()
    {
        if (pumping)
        {
            return;
        }
        pumping = true;
        try
        {
            while (channel.isWritable() && !events.isEmpty())
            {
                final Event next = events.poll();
                queuedEventBytes -= next.getUevent().size();
                send(ServerFrame.newBuilder().setEvent(next).build(), -1);
            }
            if (events.isEmpty() && !droppedBySubscription.isEmpty() && channel.isWritable())
            {
                final List<Map.Entry<Long, Long>> markers = new ArrayList<>(droppedBySubscription.entrySet());
                droppedBySubscription.clear();
                for (final Map.Entry<Long, Long> e : markers)
                {
                    send(ServerFrame.newBuilder().setEvent(Event.newBuilder().setSubscriptionId(e.getKey())
                        .setOverflowDropped(e.getValue())).build(), -1);
                }
            }
        }
        finally
        {
            pumping = false;
        }
    }

    private void send(final ServerFrame frame, final int fd)
    {
        if (!channel.isOpen())
        {
            Native.closeQuietly(fd);
            return;
        }
        if (frame.getSerializedSize() > Limits.MAX_SERVER_FRAME_BYTES)
        {
            // A client would have to drop the connection on it (ABI.md "Framing"): answer the request instead.
            final long requestId = frame.getResponse().getRequestId();
            LOG.warn("client {}: a {}-byte answer to request {} exceeds the frame limit; answering EMSGSIZE", id,
                frame.getSerializedSize(), requestId);
            out.add(new Outgoing(Frames.encode(ServerFrame.newBuilder().setResponse(Response.newBuilder()
                .setRequestId(requestId).setError(ErrorCode.EMSGSIZE).setMessage("the answer would be " +
                    frame.getSerializedSize() + " bytes, over the " + Limits.MAX_SERVER_FRAME_BYTES +
                    "-byte frame limit")).build()), -1));
            Native.closeQuietly(fd);
        }
        else
        {
            out.add(new Outgoing(Frames.encode(frame), fd));
        }
        drain();
    }

    private void drain()
    {
        boolean wrote = false;
        while (!out.isEmpty() && channel.isOpen())
        {
            final Outgoing next = out.peek();
            if (next.fd < 0)
            {
                channel.write(Unpooled.wrappedBuffer(next.frame));
                out.poll();
                wrote = true;
                continue;
            }
            if (wrote)
            {
                channel.flush();
                wrote = false;
            }
            final ChannelOutboundBuffer pending = channel.unsafe().outboundBuffer();
            if (pending != null && !pending.isEmpty())
            {
                retryLater();
                return;
            }
            if (!sendWithFd(next))
            {
                retryLater();
                return;
            }
            out.poll();
        }
        if (wrote)
        {
            channel.flush();
        }
        if (!channel.isOpen())
        {
            closeQueued();
        }
    }

    /** Writes an fd-carrying frame with sendmsg; false if the socket buffer is full (try again later). */
    private boolean sendWithFd(final Outgoing next)
    {
        if (nativeSocket == null)
        {
            nativeSocket = new UnixSocket(((EpollDomainSocketChannel)channel).fd().intValue());
        }
        if (sendScratch.capacity() < next.frame.length)
        {
            sendScratch = ByteBuffer.allocateDirect(next.frame.length);
        }
        sendScratch.clear();
        sendScratch.put(next.frame).flip();
        fdScratch[0] = next.fd;
        try
        {
            final long n = nativeSocket.send(sendScratch, fdScratch, 1);
            Native.closeQuietly(next.fd);
            fdBlockedSince = 0;
            if (n < next.frame.length)
            {
                channel.writeAndFlush(Unpooled.wrappedBuffer(next.frame, (int)n, next.frame.length - (int)n));
            }
            return true;
        }
        catch (final NativeIoException e)
        {
            if (e.errno() == Errno.EAGAIN)
            {
                final long now = System.nanoTime();
                if (fdBlockedSince == 0)
                {
                    fdBlockedSince = now;
                }
                else if (now - fdBlockedSince > FD_SEND_GIVE_UP_NANOS)
                {
                    LOG.warn("client {} (pid {}) has not read for {} s; closing it", id, pid,
                        TimeUnit.NANOSECONDS.toSeconds(FD_SEND_GIVE_UP_NANOS));
                    channel.close();
                }
                return false;
            }
            LOG.debug("client {}: sendmsg failed: {}", id, e.getMessage());
            channel.close();
            return false;
        }
    }

    private void retryLater()
    {
        if (!drainScheduled && channel.isOpen())
        {
            drainScheduled = true;
            channel.eventLoop().schedule(() ->
            {
                drainScheduled = false;
                drain();
                if (out.isEmpty() && onDrained != null && channel.isOpen())
                {
                    onDrained.run();
                }
            }, 200, TimeUnit.MICROSECONDS);
        }
    }

    /** Closes fds of frames that will never be sent. */
    void closeQueued()
    {
        for (final Outgoing o : out)
        {
            Native.closeQuietly(o.fd);
        }
        out.clear();
        events.clear();
        queuedEventBytes = 0;
    }

    void close()
    {
        channel.close();
    }

    @Override
    public String toString()
    {
        return "client " + id + " (pid " + pid + ", uid " + uid + ")";
    }
}
