package org.hyperdmabuf.tests.lifecycle;

import org.hyperdmabuf.abi.BufferIds;
import org.hyperdmabuf.abi.UEvent;
import org.hyperdmabuf.abi.v1.BufferId;
import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.abi.v1.FenceState;
import org.hyperdmabuf.cli.ChildProcess;
import org.hyperdmabuf.client.HdmabufClient;
import org.hyperdmabuf.client.HdmabufException;
import org.hyperdmabuf.client.ImportedBuffer;
import org.hyperdmabuf.client.ReceivedEvent;
import org.hyperdmabuf.tests.support.Await;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.LongBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Predicate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/** Helpers of the lifecycle tests: an event log per client, waits running in their own thread, frame patterns. */
final class Lifecycle
{
    /** Bound on any wait for a state that should come promptly (2 CI cores, many JVMs). */
    static final Duration TIMEOUT = Duration.ofSeconds(20);
    /**
     * Peer-death detection bound plus margin: no pending wait may outlive it (ABI.md "Liveness", "When the other side goes
     * away").
     */
    static final Duration DEATH_BOUND = Duration.ofSeconds(3);
    static final int ENOENT = ErrorCode.ENOENT.getNumber();
    static final int EPEERLOST = ErrorCode.EPEERLOST.getNumber();
    /** Same pattern as the stream-producer/stream-consumer CLI (DemoFrames): word 0 = seq, word i = seq * G + i. */
    private static final long GOLDEN = 0x9E3779B97F4A7C15L;
    /** Byte offset of the producer's timestamp in a stream frame; not part of the pattern. */
    static final int TIMESTAMP_OFFSET = 8;

    private Lifecycle()
    {
    }

    // ---- frame pattern ----

    static void fill(final ByteBuffer frame, final long seq)
    {
        final LongBuffer l = frame.duplicate().order(ByteOrder.LITTLE_ENDIAN).asLongBuffer();
        l.put(0, seq);
        for (int i = 1; i < l.limit(); i++)
        {
            l.put(i, seq * GOLDEN + i);
        }
        l.put(TIMESTAMP_OFFSET / 8, System.nanoTime());
    }

    /**
     * The frame bytes of an import: its first metadata.size bytes (a frame stream keeps its frame header after
     * them, ABI.md "Frame headers"), or the whole mapping when the export declared no size.
     */
    static ByteBuffer content(final ImportedBuffer b)
    {
        final long size = b.metadata().getSize();
        final ByteBuffer all = b.buffer().bytes();
        return size > 0 && size < all.capacity() ? all.slice(0, (int)size) : all;
    }

    /** Fails unless {@code frame} holds frame {@code seq} of the pattern (every word but the timestamp). */
    static void assertFrame(final ByteBuffer frame, final long seq, final String what)
    {
        final LongBuffer l = frame.duplicate().order(ByteOrder.LITTLE_ENDIAN).asLongBuffer();
        assertEquals(seq, l.get(0), what + ": sequence number");
        for (int i = 1; i < l.limit(); i++)
        {
            if (i != TIMESTAMP_OFFSET / 8 && l.get(i) != seq * GOLDEN + i)
            {
                fail(what + ": frame " + seq + " differs at byte " + 8L * i);
            }
        }
    }

    // ---- events ----

    /** Every event a client received, in order, so a test can wait for one and later assert on all. */
    static final class EventLog
    {
        private final HdmabufClient client;
        private final List<UEvent> seen = new ArrayList<>();

        EventLog(final HdmabufClient client)
        {
            this.client = client;
        }

        /** Index of the next event to arrive (to wait only for events after something happened). */
        int mark() throws IOException, InterruptedException
        {
            drain();
            return seen.size();
        }

        List<UEvent> all() throws IOException, InterruptedException
        {
            drain();
            return List.copyOf(seen);
        }

        /** The first event at or after index {@code from} that matches; fails after {@code timeout}. */
        UEvent await(final String what, final int from, final Duration timeout, final Predicate<UEvent> match)
            throws IOException, InterruptedException
        {
            final long deadline = System.nanoTime() + timeout.toNanos();
            int i = from;
            while (true)
            {
                for (; i < seen.size(); i++)
                {
                    if (match.test(seen.get(i)))
                    {
                        return seen.get(i);
                    }
                }
                final long left = deadline - System.nanoTime();
                if (left <= 0)
                {
                    throw new AssertionError("no " + what + " within " + timeout + "; events since: " +
                        describe(seen.subList(from, seen.size())));
                }
                add(client.nextEvent(Duration.ofNanos(left)));
            }
        }

        private void drain() throws IOException, InterruptedException
        {
            ReceivedEvent e;
            while ((e = client.nextEvent(Duration.ZERO)) != null)
            {
                add(e);
            }
        }

        private void add(final ReceivedEvent e)
        {
            if (e == null)
            {
                return;
            }
            if (e.isOverflow())
            {
                fail("overflow marker: " + e.overflowDropped() + " events dropped");
            }
            seen.add(e.event());
        }
    }

    static Predicate<UEvent> is(final String action, final BufferId id, final String key, final String value)
    {
        final String text = BufferIds.format(id);
        return e -> action.equals(e.action()) && text.equals(e.get("BUFFER")) &&
            (key == null || value.equals(e.get(key)));
    }

    static String describe(final List<UEvent> events)
    {
        final StringBuilder b = new StringBuilder();
        for (final UEvent e : events)
        {
            b.append("\n  ").append(e.action()).append(' ').append(e.get("BUFFER"));
            if (e.get("STATE") != null)
            {
                b.append(" STATE=").append(e.get("STATE"));
            }
            if (e.get("REASON") != null)
            {
                b.append(" REASON=").append(e.get("REASON"));
            }
        }
        return b.length() == 0 ? "(none)" : b.toString();
    }

    // ---- waits in their own thread ----

    /** How a wait ended: a value and error word, or an error response ({@code thrown}); when, on nanoTime. */
    record WaitResult(long value, int error, ErrorCode thrown, String message, long endNanos)
    {
        long millisSince(final long startNanos)
        {
            return TimeUnit.NANOSECONDS.toMillis(endNanos - startNanos);
        }

        @Override
        public String toString()
        {
            return thrown != null ? "threw " + message : "returned value=" + value + " error=" + error;
        }
    }

    @FunctionalInterface
    interface WaitCall
    {
        /** Returns {value, error}. */
        long[] run() throws IOException;
    }

    static WaitCall fenceState(final FenceStateCall call)
    {
        return () ->
        {
            final FenceState s = call.run();
            return new long[]{s.getValue(), s.getError()};
        };
    }

    @FunctionalInterface
    interface FenceStateCall
    {
        FenceState run() throws IOException;
    }

    /** A fence wait (spin or block) running in its own thread, started before the peer is killed. */
    static final class PendingWait
    {
        private final String name;
        private final Thread thread;
        private final CompletableFuture<WaitResult> result = new CompletableFuture<>();

        private PendingWait(final String name, final WaitCall call)
        {
            this.name = name;
            this.thread = new Thread(() ->
            {
                try
                {
                    final long[] r = call.run();
                    result.complete(new WaitResult(r[0], (int)r[1], null, null, System.nanoTime()));
                }
                catch (final HdmabufException e)
                {
                    result.complete(new WaitResult(0, 0, e.code(), e.getMessage(), System.nanoTime()));
                }
                catch (final Throwable t)
                {
                    result.completeExceptionally(t);
                }
            }, "wait-" + name);
            this.thread.setDaemon(true);
        }

        static PendingWait start(final String name, final WaitCall call)
        {
            final PendingWait w = new PendingWait(name, call);
            w.thread.start();
            return w;
        }

        /**
         * For a blocking wait: waits until the thread sent a request and waits for its answer (FENCE_WAIT, or
         * FENCE_WAKE for a lease) or sleeps on its leased wake vector, then makes a round trip on the same
         * connection. A daemon serves a connection's requests in order, so afterwards the FENCE_WAIT is parked
         * in the daemon, or the wake vector's bit is set in the timeline (ABI.md "Direct fence wake-ups").
         */
        PendingWait parkedIn(final HdmabufClient client) throws Exception
        {
            Await.until(name + " to block (in its daemon or on its wake vector)", TIMEOUT, () -> result.isDone() ||
                awaitsReply(thread));
            client.caps();
            return this;
        }

        boolean isDone()
        {
            return result.isDone();
        }

        /**
         * Whether the thread has sent its request and waits for the response (parked as a follower or reading the
         * socket itself: then it is RUNNABLE in poll, so its state does not tell), or polls its wake vector.
         */
        private static boolean awaitsReply(final Thread thread)
        {
            for (final StackTraceElement f : thread.getStackTrace())
            {
                if (f.getMethodName().equals("awaitReply") || f.getMethodName().equals("awaitWoken"))
                {
                    return true;
                }
            }
            return false;
        }

        WaitResult get(final Duration timeout) throws Exception
        {
            try
            {
                return result.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
            }
            catch (final java.util.concurrent.TimeoutException e)
            {
                throw new AssertionError(name + " still pending after " + timeout);
            }
        }

        @Override
        public String toString()
        {
            return name;
        }

        /** Lets a stuck thread go at cleanup (the daemon thread dies with the JVM otherwise). */
        void abandon()
        {
            thread.interrupt();
        }
    }

    /**
     * A wait on a poisoned timeline fails with the poison's error code, whatever the wait strategy
     * (ABI.md "Fences": spinning waiters see the poison in shared memory, the daemon answers blocked ones).
     */
    static void assertPoisoned(final WaitResult r, final ErrorCode code, final boolean spinning, final String what)
    {
        assertEquals(code, r.thrown(), what + " (" + (spinning ? "spinning" : "blocked") + "): " + r);
    }

    static void report(final String line)
    {
        System.out.println("[lifecycle] " + line);
    }

    /** kill -SIG pid through the kill command (Java has no SIGSTOP). */
    static void signal(final String sig, final long pid) throws Exception
    {
        final Process p = new ProcessBuilder("kill", "-" + sig, Long.toString(pid)).redirectErrorStream(true).start();
        assertTrue(p.waitFor(10, TimeUnit.SECONDS), "kill -" + sig + " did not finish");
        assertEquals(0, p.exitValue(), "kill -" + sig + " " + pid);
    }

    /** Stops {@code process} (SIGSTOP) for {@code stall}, the stimulus of a paused VM, and continues it. */
    static void stall(final ChildProcess process, final Duration stall) throws Exception
    {
        signal("STOP", process.pid());
        try
        {
            LockSupport.parkNanos(stall.toNanos()); // the stimulus being simulated, not synchronisation
        }
        finally
        {
            signal("CONT", process.pid());
        }
    }
}
