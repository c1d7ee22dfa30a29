package org.hyperdmabuf.client;

import com.google.protobuf.InvalidProtocolBufferException;
import org.hyperdmabuf.abi.Limits;
import org.hyperdmabuf.abi.UEvent;
import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.abi.v1.Event;
import org.hyperdmabuf.abi.v1.Response;
import org.hyperdmabuf.abi.v1.ServerFrame;
import org.hyperdmabuf.hv.nativeio.Errno;
import org.hyperdmabuf.hv.nativeio.Native;
import org.hyperdmabuf.hv.nativeio.NativeIoException;
import org.hyperdmabuf.hv.nativeio.Poller;
import org.hyperdmabuf.hv.nativeio.UnixSocket;

import java.io.IOException;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.util.Map;
import java.util.Queue;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.LockSupport;

/**
 * Reads the daemon's frames on the threads that wait for them (leader/follower): there is no reader thread.
 * A thread waiting for a response or an event becomes the <em>leader</em> if nobody is reading, and
 * {@code poll}s + {@code recvmsg}s the socket itself until what it waits for has arrived, dispatching
 * everything else it reads (other threads' responses complete their {@link Waiter} and unpark them; events
 * go to the event queue). The others are <em>followers</em>, parked until their response is dispatched or
 * they are handed the lead. So a lone caller costs one wakeup per round trip, as a C client does, instead
 * of two (the kernel waking a reader thread, the reader unparking the caller).
 * <p>
 * Hand-off without lost wakeups: every waiter registers (a volatile write into {@link #pending} or
 * {@link #eventWaiters}) before it tries to lead (a CAS on {@link #reading}); every thread leaving the
 * protocol deregisters, releases the lead if it held it, then reads {@link #reading} and, when nobody leads,
 * unparks one registered thread that still waits. Of a registering follower and a leaving leader, at least
 * one sees the other's write, so somebody always reads while anybody waits.
 * <p>
 * Nobody reads while nobody waits: events then stay in the socket and the daemon's bounded per-connection
 * queue (ABI.md "Delivery and back-pressure"), and reach the application on its next call or
 * {@link HdmabufClient#nextEvent}. No background thread is kept for that: a thread that always reads would
 * bring back the second wakeup on every call.
 * <p>
 * The receive buffer, the fd FIFO and the {@link Poller} belong to whoever leads; the {@link #reading} CAS
 * and its release order their use between leaders.
 */
final class LeaderFollowerReader
{
    /** Largest frame a daemon may send (a LIST of many buffers). */
    private static final int INITIAL_BUFFER = 4 * 65536;
    /**
     * Longest single poll: a Java interrupt does not end a poll(2), so a thread leading a long wait looks
     * at its interrupt flag this often (only waits this long pay the extra wakeup).
     */
    private static final long POLL_SLICE_NANOS = 100_000_000L;

    private final UnixSocket socket;
    private final Map<Long, Waiter> pending = new ConcurrentHashMap<>();
    private final Set<Waiter> eventWaiters = ConcurrentHashMap.newKeySet();
    private final Queue<ReceivedEvent> events = new ConcurrentLinkedQueue<>();
    private final AtomicBoolean reading = new AtomicBoolean();
    private final Poller poller = new Poller();
    private final FdFifo fds = new FdFifo();
    private final UnixSocket.FdSink fdSink = fds::add;
    private ByteBuffer in = ByteBuffer.allocateDirect(INITIAL_BUFFER);
    private volatile IOException failure;

    LeaderFollowerReader(final UnixSocket socket)
    {
        this.socket = socket;
        poller.add(socket.fd());
    }

    /** A thread waiting for the response to one request, or for an event ({@code requestId} 0). */
    static final class Waiter
    {
        private static final VarHandle STATE;
        private static final int WAITING = 0;
        private static final int ANSWERED = 1;
        private static final int FAILED = 2;
        private static final int ABANDONED = 3;

        static
        {
            try
            {
                STATE = MethodHandles.lookup().findVarHandle(Waiter.class, "state", int.class);
            }
            catch (final ReflectiveOperationException e)
            {
                throw new ExceptionInInitializerError(e);
            }
        }

        final long requestId;
        final Thread thread = Thread.currentThread();
        private volatile int state;
        private HdmabufClient.Reply reply;
        private IOException error;

        private Waiter(final long requestId)
        {
            this.requestId = requestId;
        }

        /** Hands the reply over; false (the caller keeps its fds) if the waiter gave up first. */
        private boolean answer(final HdmabufClient.Reply r)
        {
            reply = r;
            if (STATE.compareAndSet(this, WAITING, ANSWERED))
            {
                wake();
                return true;
            }
            return false;
        }

        private void fail(final IOException e)
        {
            error = e;
            if (STATE.compareAndSet(this, WAITING, FAILED))
            {
                wake();
            }
        }

        /**
         * Unparks the waiting thread unless it is the caller (a leader answering itself): a permit left on the
         * caller's own thread would make the application's next {@code LockSupport.park} return at once.
         */
        private void wake()
        {
            if (thread != Thread.currentThread())
            {
                LockSupport.unpark(thread);
            }
        }

        /** Gives up (timeout, interrupt); false if the reply or a failure came first. */
        private boolean abandon()
        {
            return STATE.compareAndSet(this, WAITING, ABANDONED);
        }

        private boolean isWaiting()
        {
            return state == WAITING;
        }
    }

    /** Registers a request about to be sent; {@link #awaitReply} or {@link #deregister} must follow. */
    Waiter register(final long requestId)
    {
        final Waiter w = new Waiter(requestId);
        pending.put(requestId, w);
        return w;
    }

    /** Forgets a request (answered, failed or abandoned) and passes the lead on if nobody holds it. */
    void deregister(final Waiter w)
    {
        pending.remove(w.requestId);
        if (!w.abandon() && w.state == Waiter.ANSWERED && w.reply != null)
        {
            closeFds(w.reply.fds()); // answered but never taken: the caller failed between send and await
            w.reply = null;
        }
        passLead();
    }

    /**
     * Waits until the response to {@code w} arrives (leading reads when nobody else does) or until
     * {@code deadlineNanos}; null on timeout. Throws the connection's failure.
     */
    HdmabufClient.Reply awaitReply(final Waiter w, final long deadlineNanos) throws IOException
    {
        while (true)
        {
            final int s = w.state;
            if (s == Waiter.ANSWERED)
            {
                final HdmabufClient.Reply r = w.reply;
                w.reply = null;
                return r;
            }
            if (s == Waiter.FAILED)
            {
                throw w.error;
            }
            final IOException f = failure;
            if (f != null)
            {
                w.fail(f); // registered after fail() went through pending; loops to take the answer or failure
                continue;
            }
            final long left = deadlineNanos - System.nanoTime();
            if (left <= 0 || Thread.currentThread().isInterrupted())
            {
                if (w.abandon())
                {
                    return null;
                }
                continue;
            }
            leadOrPark(w, deadlineNanos, left);
        }
    }

    /** Reads for everyone while nobody else does; otherwise parks until handed a result or the lead. */
    private void leadOrPark(final Waiter w, final long deadlineNanos, final long left)
    {
        if (reading.compareAndSet(false, true))
        {
            try
            {
                lead(w, deadlineNanos);
            }
            finally
            {
                reading.set(false);
            }
        }
        else
        {
            LockSupport.parkNanos(this, left);
        }
    }

    /**
     * The next event, waiting (leading reads when nobody else does) until {@code deadlineNanos}; null on
     * timeout. Queued events come before the connection's failure.
     */
    ReceivedEvent nextEvent(final long deadlineNanos) throws IOException, InterruptedException
    {
        ReceivedEvent e = events.poll();
        if (e != null)
        {
            return e;
        }
        final Waiter w = new Waiter(0);
        eventWaiters.add(w);
        try
        {
            while (true)
            {
                e = events.poll();
                if (e != null)
                {
                    return e;
                }
                final IOException f = failure;
                if (f != null)
                {
                    throw f;
                }
                if (Thread.interrupted())
                {
                    throw new InterruptedException();
                }
                final long left = deadlineNanos - System.nanoTime();
                if (left <= 0)
                {
                    return null;
                }
                leadOrPark(w, deadlineNanos, left);
            }
        }
        finally
        {
            eventWaiters.remove(w);
            passLead();
        }
    }

    /**
     * Reads whatever the socket holds now without blocking (when nobody else leads), so a daemon that went
     * away is noticed. Returns the connection's failure, null if it is healthy.
     */
    IOException poke()
    {
        if (failure == null && reading.compareAndSet(false, true))
        {
            try
            {
                if (poller.poll(0) > 0)
                {
                    readAvailable();
                }
            }
            catch (final IOException e)
            {
                failWhileLeading(e);
            }
            catch (final RuntimeException e)
            {
                failWhileLeading(protocolError(e));
            }
            finally
            {
                reading.set(false);
            }
            passLead();
        }
        return failure;
    }

    IOException failure()
    {
        return failure;
    }

    /** Fails every waiter, now and later, with the first failure recorded. */
    void fail(final IOException e)
    {
        synchronized (this)
        {
            if (failure == null)
            {
                failure = e;
            }
        }
        final IOException first = failure;
        for (final Waiter w : pending.values())
        {
            w.fail(first);
        }
        for (final Waiter w : eventWaiters)
        {
            w.wake();
        }
    }

    /**
     * Takes the lead for good once the current leader has left (it leaves promptly after a failure and a
     * socket shutdown), so the socket can be closed without anybody reading a recycled fd number, and closes
     * the fds that arrived for frames never completed.
     */
    void stopReading()
    {
        while (!reading.compareAndSet(false, true))
        {
            LockSupport.parkNanos(this, 100_000L);
        }
        fds.closeAll();
    }

    /** Reads until {@code w} is satisfied, the deadline passes or the connection fails. Holds the lead. */
    private void lead(final Waiter w, final long deadlineNanos)
    {
        try
        {
            final Thread self = Thread.currentThread();
            while (failure == null && (w.requestId == 0 ? events.isEmpty() : w.isWaiting()) && !self.isInterrupted())
            {
                final long left = deadlineNanos - System.nanoTime();
                if (left <= 0)
                {
                    return;
                }
                if (poller.poll((int)((Math.min(left, POLL_SLICE_NANOS) + 999_999) / 1_000_000)) > 0)
                {
                    readAvailable();
                }
            }
        }
        catch (final IOException e)
        {
            failWhileLeading(e);
        }
        catch (final RuntimeException e)
        {
            failWhileLeading(protocolError(e));
        }
    }

    private static HdmabufException protocolError(final RuntimeException e)
    {
        return new HdmabufException(ErrorCode.EPROTO, "client reader failed: " + e, e);
    }

    private void failWhileLeading(final IOException e)
    {
        fail(e);
        fds.closeAll();
    }

    /** Unparks one thread that still waits, if nobody leads: it leads or finds its answer. */
    private void passLead()
    {
        if (reading.get())
        {
            return;
        }
        final Thread self = Thread.currentThread();
        for (final Waiter w : pending.values())
        {
            if (w.thread != self && w.isWaiting())
            {
                LockSupport.unpark(w.thread);
                return;
            }
        }
        for (final Waiter w : eventWaiters)
        {
            if (w.thread != self)
            {
                LockSupport.unpark(w.thread);
                return;
            }
        }
    }

    /** One {@code recvmsg}, then every frame it completed is dispatched. Only the leader calls this. */
    private void readAvailable() throws IOException
    {
        final int n;
        try
        {
            n = socket.receive(in, fdSink);
        }
        catch (final NativeIoException e)
        {
            // ECONNRESET: the daemon died with our requests unread
            throw new HdmabufException(e.errno() == Errno.EINVAL ? ErrorCode.EPROTO : ErrorCode.EPEERLOST,
                "the daemon connection failed: " + e.getMessage(), e);
        }
        if (n == 0)
        {
            throw new HdmabufException(ErrorCode.EPEERLOST, "the daemon closed the connection");
        }
        in.flip();
        while (true)
        {
            final int start = in.position();
            final long prefix = readVarint(in);
            if (prefix > Limits.MAX_SERVER_FRAME_BYTES)
            {
                throw new HdmabufException(ErrorCode.EPROTO, "daemon sent a frame of " + prefix + " bytes, limit " +
                    Limits.MAX_SERVER_FRAME_BYTES);
            }
            if (prefix < 0)
            {
                in.position(start);
                break;
            }
            final int length = (int)prefix;
            if (in.remaining() < length)
            {
                in.position(start);
                if (in.capacity() < length + 5)
                {
                    in = ByteBuffer.allocateDirect(length + 5).put(in).flip();
                }
                break;
            }
            final ByteBuffer body = in.slice(in.position(), length);
            in.position(in.position() + length);
            dispatch(parse(body));
        }
        in.compact();
    }

    /** A frame that is no ServerFrame: the peer is not a hyperdmabuf daemon (or a broken one). */
    private static ServerFrame parse(final ByteBuffer body) throws HdmabufException
    {
        try
        {
            return ServerFrame.parseFrom(body);
        }
        catch (final InvalidProtocolBufferException e)
        {
            throw new HdmabufException(ErrorCode.EPROTO, "the peer sent a frame that is not a hyperdmabuf answer " +
                "(is this a daemon's client socket?): " + e.getMessage(), e);
        }
    }

    private void dispatch(final ServerFrame frame) throws HdmabufException
    {
        if (frame.hasEvent())
        {
            final Event e = frame.getEvent();
            events.add(new ReceivedEvent(e.getSubscriptionId(),
                e.getOverflowDropped() > 0 ? null : UEvent.decode(e.getUevent().toByteArray()), e.getOverflowDropped()));
            for (final Waiter w : eventWaiters)
            {
                w.wake();
            }
            return;
        }
        final Response r = frame.getResponse();
        if (r.getFdCount() > fds.size())
        {
            throw new HdmabufException(ErrorCode.EPROTO, "response announces " + r.getFdCount() + " fds, " +
                fds.size() + " arrived");
        }
        final int[] mine = new int[r.getFdCount()];
        for (int i = 0; i < mine.length; i++)
        {
            mine[i] = fds.poll();
        }
        final Waiter w = r.getRequestId() == 0 ? null : pending.get(r.getRequestId());
        if (w == null || !w.answer(new HdmabufClient.Reply(r, mine)))
        {
            closeFds(mine); // late answer to a request that timed out, or an error on request id 0
            if (r.getRequestId() == 0 && r.getError() != ErrorCode.OK)
            {
                fail(new HdmabufException(r.getError(), r.getMessage()));
            }
        }
    }

    /** Reads a varint32 (as an unsigned value) at the position; -1 (position unspecified) if incomplete. */
    private static long readVarint(final ByteBuffer in) throws HdmabufException
    {
        long result = 0;
        for (int shift = 0; shift < 35; shift += 7)
        {
            if (!in.hasRemaining())
            {
                return -1;
            }
            final byte b = in.get();
            result |= (long)(b & 0x7f) << shift;
            if (b >= 0)
            {
                return result;
            }
        }
        throw new HdmabufException(ErrorCode.EPROTO, "malformed varint from the daemon");
    }

    static void closeFds(final int[] fds)
    {
        for (final int fd : fds)
        {
            Native.closeQuietly(fd);
        }
    }

    /** The fds received ahead of their frames, in arrival order (ABI.md "File descriptors"). */
    private static final class FdFifo
    {
        private int[] fds = new int[16];
        private int head;
        private int size;

        void add(final int fd)
        {
            if (size == fds.length)
            {
                final int[] bigger = new int[fds.length * 2];
                for (int i = 0; i < size; i++)
                {
                    bigger[i] = fds[(head + i) % fds.length];
                }
                fds = bigger;
                head = 0;
            }
            fds[(head + size) % fds.length] = fd;
            size++;
        }

        int poll()
        {
            final int fd = fds[head];
            head = (head + 1) % fds.length;
            size--;
            return fd;
        }

        int size()
        {
            return size;
        }

        void closeAll()
        {
            while (size > 0)
            {
                Native.closeQuietly(poll());
            }
        }
    }
}
