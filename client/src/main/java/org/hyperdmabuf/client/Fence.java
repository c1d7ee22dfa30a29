package org.hyperdmabuf.client;

import org.hyperdmabuf.abi.FenceAbi;
import edu.umd.cs.findbugs.annotations.SuppressFBWarnings;
import org.hyperdmabuf.abi.v1.BufferId;
import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.abi.v1.FenceState;
import org.hyperdmabuf.abi.v1.Timeline;
import org.hyperdmabuf.hv.nativeio.EventFd;
import org.hyperdmabuf.hv.nativeio.MappedMemory;
import org.hyperdmabuf.hv.nativeio.Native;
import org.hyperdmabuf.hv.nativeio.NativeIoException;
import org.hyperdmabuf.hv.nativeio.Poller;
import org.hyperdmabuf.hv.shm.FenceSlotDescriptor;
import org.hyperdmabuf.hv.shm.FenceTimelineWords;
import org.hyperdmabuf.hv.shm.MemoryWindow;

import java.io.IOException;
import java.time.Duration;

/**
 * The two fence timelines of one exported buffer, mapped from shared memory (ABI.md "Fences").
 * The producer side signals <em>acquire</em> ("content ready up to N") and waits on <em>release</em>;
 * the consumer side does the opposite. A signal is a store (error word, then the value with release
 * semantics); a waiter spins on the value, then sleeps on a wake vector of its own that the other VM's
 * signaller rings directly (FENCE_WAKE), or, when none is free, blocks in its daemon (FENCE_WAIT).
 * <p>
 * The spin path allocates nothing. A side that cannot store (a read-only import) signals through its
 * daemon. When the other VM dies, its daemon's peer poisons the timeline: waits return with
 * {@link #error()} = EPEERLOST within the liveness bound, spinning ones included.
 * <p>
 * Not thread-safe: one signaller and one waiter thread per side.
 */
public final class Fence implements AutoCloseable
{
    /** Which end of the buffer this process is. */
    public enum Side
    {
        PRODUCER, CONSUMER
    }

    /** How {@link #await} waits. */
    public enum WaitStrategy
    {
        /** Busy-poll the shared value: lowest latency, burns a core. */
        SPIN,
        /**
         * Sleep until the value is reached: on a leased wake vector the signaller rings (one wake-up, as an
         * eventfd ping-pong), else in the daemon (FENCE_WAIT: a socket round trip plus a doorbell). No CPU.
         */
        BLOCK,
        /** Spin for {@link #ADAPTIVE_SPIN} first, then block. */
        ADAPTIVE
    }

    public static final Duration ADAPTIVE_SPIN = Duration.ofNanos(50_000);
    private static final long ADAPTIVE_SPIN_NANOS = ADAPTIVE_SPIN.toNanos();
    private static final int NO_DOORBELL = -2;
    /** A wake vector the other VM does not have (a stale or forged mask bit): not rung. */
    private static final int IGNORED = -3;
    /** Longest single sleep on the wake vector: bounds what a wake-up taken by a stale holder of it can cost. */
    static final int WAKE_SLICE_MS = 100;
    private static final int MASK_BITS = 32;
    private static final short HANGUP = Native.POLLHUP | Native.POLLERR | Native.POLLNVAL;

    private final HdmabufClient client;
    private final BufferId id;
    private final Side side;
    private final boolean canStore;
    private final MappedMemory mapping;
    private final MemoryWindow slot;
    /** The timeline this side signals, and the one it waits on ({@link FenceTimelineWords}). */
    private final int signals;
    private final int waits;
    private final Timeline signalTimeline;
    private final Timeline waitTimeline;
    private int lastError;
    /** What this side last stored or saw on its signal timeline, and the error word it last stored there. */
    private long lastSignalled;
    private int lastSignalledError;
    private EventFd ringer;
    /** FENCE_WAKE's eventfd once asked for: {@link #NO_DOORBELL} until then, -1 if none could be leased. */
    private int wake = NO_DOORBELL;
    /** The bit of the leased vector in the wake word, when this side sets it around its sleeps; else 0. */
    private int wakeBit;
    private Poller wakePoller;
    /**
     * FENCE_DOORBELL eventfds of the other VM's vectors by number (its fence doorbell, its wake vectors), each
     * asked for the first time it is rung: {@link #NO_DOORBELL} until then, -1 where only the daemon can ring,
     * {@link #IGNORED} for a vector that VM does not have.
     */
    private int[] doorbells;

    private Fence(final HdmabufClient client, final BufferId id, final Side side, final boolean canStore,
        final MappedMemory mapping, final int slotIndex)
    {
        this.client = client;
        this.id = id;
        this.side = side;
        this.canStore = canStore;
        this.mapping = mapping;
        this.slot = new MemoryWindow(mapping.buffer()).slice(slotIndex, FenceSlotDescriptor.SLOT_LENGTH);
        final boolean producer = side == Side.PRODUCER;
        this.signalTimeline = producer ? Timeline.TIMELINE_ACQUIRE : Timeline.TIMELINE_RELEASE;
        this.waitTimeline = producer ? Timeline.TIMELINE_RELEASE : Timeline.TIMELINE_ACQUIRE;
        // A producer signals acquire and waits for release; a consumer the other way round.
        this.signals = FenceTimelineWords.of(producer);
        this.waits = FenceTimelineWords.of(!producer);
        this.lastSignalled = FenceTimelineWords.value(slot, signals);
        this.lastSignalledError = FenceTimelineWords.error(slot, signals);
    }

    /** Maps the pages holding the slot at region offset {@code fenceOffset} from {@code fd} (which stays open). */
    static Fence map(final HdmabufClient client, final BufferId id, final Side side, final int fd,
        final long fenceOffset, final boolean writable, final int pageSize) throws NativeIoException
    {
        final long base = fenceOffset & -(long)pageSize;
        final long end = (fenceOffset + FenceSlotDescriptor.SLOT_LENGTH + pageSize - 1) & -(long)pageSize;
        final MappedMemory m = MappedMemory.map(fd, base, end - base, !writable);
        return new Fence(client, id, side, writable, m, (int)(fenceOffset - base));
    }

    @SuppressFBWarnings(value = "EI_EXPOSE_REP", justification = "a protobuf message: immutable")
    public BufferId id()
    {
        return id;
    }

    public Side side()
    {
        return side;
    }

    /** Current value of the acquire timeline. */
    public long acquireValue()
    {
        return FenceTimelineWords.value(slot, FenceTimelineWords.of(true));
    }

    /** Current value of the release timeline. */
    public long releaseValue()
    {
        return FenceTimelineWords.value(slot, FenceTimelineWords.of(false));
    }

    /** Signals this side's timeline to {@code value} (must not go backwards). */
    public void signal(final long value) throws IOException
    {
        signal(value, 0);
    }

    /**
     * Signals this side's timeline to {@code value} with an error word (an {@link ErrorCode} number, or any
     * application code; 0 = none) that the other side's waiters read with {@link #error()}.
     */
    public void signal(final long value, final int error) throws IOException
    {
        if (!canStore)
        {
            client.fenceSignal(id, signalTimeline, value, error);
            return;
        }
        if (value < 0)
        {
            throw new HdmabufException(ErrorCode.EINVAL, "fence value " + value + " is negative");
        }
        // One compare-and-exchange from the value we last stored (ABI.md "Signalling"). It fails only when someone
        // else moved the timeline (a daemon closing it, another handle of this side): decide again on that value.
        while (true)
        {
            final long current = lastSignalled;
            if (current == FenceAbi.POISON_VALUE)
            {
                // Closed by a daemon (the other VM went, or ours rejoined without it): nothing to signal any more.
                throw closed(FenceTimelineWords.error(slot, signals));
            }
            if (value < current)
            {
                throw new HdmabufException(ErrorCode.EINVAL, "fence value " + value + " goes backwards (timeline is at " +
                    current + ")");
            }
            if (value == current)
            {
                final long now = FenceTimelineWords.value(slot, signals);
                if (now == current)
                {
                    return;
                }
                lastSignalled = now;
                continue;
            }
            final boolean storeError = error != lastSignalledError;
            lastSignalledError = error;
            final long witness = FenceTimelineWords.publishFrom(slot, signals, current, value, error, storeError);
            lastSignalled = witness == current ? value : witness;
            if (witness == current)
            {
                break;
            }
        }
        final boolean blockedInDaemon = FenceTimelineWords.waiters(slot, signals) != 0;
        final int wakeMask = FenceTimelineWords.wakeMask(slot, signals);
        if (blockedInDaemon || wakeMask != 0)
        {
            // Rung directly, so our own daemon is not woken at all; what we cannot ring, our daemon rings.
            boolean viaDaemon = blockedInDaemon && !ring(FenceAbi.FENCE_VECTOR);
            for (int m = wakeMask & -(1 << FenceAbi.FIRST_WAKE_VECTOR); m != 0; m &= m - 1)
            {
                viaDaemon |= !ring(Integer.numberOfTrailingZeros(m));
            }
            if (viaDaemon)
            {
                client.fenceSignal(id, signalTimeline, value, error); // equal value: the daemon only rings
            }
        }
    }

    /**
     * Rings doorbell {@code vector} of the other VM (its fence doorbell, where a wait is parked in its daemon, or
     * one of its wake vectors) through a FENCE_DOORBELL eventfd; false if only a FENCE_SIGNAL through the daemon
     * can. A wake vector that VM does not have (a stale or forged mask bit) is skipped.
     */
    private boolean ring(final int vector) throws IOException
    {
        if (doorbells == null)
        {
            doorbells = new int[MASK_BITS];
            java.util.Arrays.fill(doorbells, NO_DOORBELL);
        }
        int fd = doorbells[vector];
        if (fd == NO_DOORBELL)
        {
            try
            {
                fd = client.openFenceDoorbell(id, vector); // -1: ENOTSUP, ring through the daemon
            }
            catch (final HdmabufException e)
            {
                // The fence doorbell: the daemon's FENCE_SIGNAL will report what is wrong. A wake vector: EINVAL.
                fd = vector == FenceAbi.FENCE_VECTOR ? -1 : IGNORED;
            }
            doorbells[vector] = fd;
            if (fd >= 0 && ringer == null)
            {
                ringer = new EventFd();
            }
        }
        if (fd == IGNORED)
        {
            return true;
        }
        if (fd < 0)
        {
            return false;
        }
        try
        {
            ringer.signal(fd);
            return true;
        }
        catch (final NativeIoException e)
        {
            Native.closeQuietly(fd);
            doorbells[vector] = -1;
            return false;
        }
    }

    /** Waits (adaptively) until the other side's timeline reaches {@code value}; returns the value seen. */
    public long await(final long value, final Duration timeout) throws IOException
    {
        return await(value, timeout, WaitStrategy.ADAPTIVE);
    }

    /**
     * Waits until the other side's timeline reaches {@code value}. Returns the value observed; the error word
     * that came with it (0, or what the signaller passed) is {@link #error()} afterwards.
     *
     * @throws HdmabufException ETIMEDOUT when {@code timeout} passes first; EPEERLOST when the other side died
     *                          and ENOENT when the buffer was unexported (the timeline was closed), whatever the
     *                          strategy
     */
    public long await(final long value, final Duration timeout, final WaitStrategy strategy) throws IOException
    {
        final long start = System.nanoTime();
        final long timeoutNanos = timeout.toNanos();
        if (strategy != WaitStrategy.BLOCK)
        {
            final long spinNanos = strategy == WaitStrategy.SPIN ? timeoutNanos : Math.min(timeoutNanos,
                ADAPTIVE_SPIN_NANOS);
            int spins = 0;
            while (true)
            {
                final long seen = FenceTimelineWords.value(slot, waits);
                if (seen >= value)
                {
                    return reached(seen);
                }
                if ((++spins & 0xff) == 0 && System.nanoTime() - start >= spinNanos)
                {
                    break;
                }
                Thread.onSpinWait();
            }
            if (strategy == WaitStrategy.SPIN)
            {
                throw new HdmabufException(ErrorCode.ETIMEDOUT, "fence value " + value + " not reached within " +
                    timeout.toMillis() + " ms");
            }
        }
        if (wake == NO_DOORBELL)
        {
            leaseWake();
        }
        if (wake >= 0)
        {
            return awaitWoken(value, start, timeoutNanos, timeout);
        }
        final long left = timeoutNanos - (System.nanoTime() - start);
        final FenceState state = client.fenceWait(id, waitTimeline, value,
            Math.max(0, Math.min(Integer.MAX_VALUE, left / 1_000_000L)));
        lastError = state.getError();
        return state.getValue();
    }

    private void leaseWake() throws IOException
    {
        HdmabufClient.WakeLease lease;
        try
        {
            lease = client.openFenceWake(id); // null: all leased, or the backend has none
        }
        catch (final HdmabufException e)
        {
            lease = null; // FENCE_WAIT reports what is wrong
        }
        wake = lease == null ? -1 : lease.fd();
        if (lease != null && !lease.bitHeldByDaemon())
        {
            if (!canStore || lease.vector() < FenceAbi.FIRST_WAKE_VECTOR || lease.vector() >= MASK_BITS)
            {
                Native.closeQuietly(wake); // a bit we could not set: the lease would never ring
                wake = -1;
                return;
            }
            wakeBit = 1 << lease.vector();
        }
        if (wake >= 0)
        {
            wakePoller = new Poller();
            wakePoller.add(wake);
            wakePoller.addForHangup(client.socketFd());
            if (ringer == null)
            {
                ringer = new EventFd();
            }
        }
    }

    /**
     * Sleeps on the leased wake vector until the value is reached. Its bit is set in the wake word before the
     * value is checked (by us, a full barrier; or for the whole lease by the daemon), so a signal stored after
     * our last look at the value rings it; we clear our bit when we stop waiting, so signallers do not ring a
     * waiter that spins. The daemon rings it too when it closes the timeline; its hang-up on our socket ends
     * the wait.
     */
    private long awaitWoken(final long value, final long start, final long timeoutNanos, final Duration timeout)
        throws IOException
    {
        if (wakeBit == 0)
        {
            return sleepOnWake(value, start, timeoutNanos, timeout);
        }
        markWake(true);
        try
        {
            return sleepOnWake(value, start, timeoutNanos, timeout);
        }
        finally
        {
            markWake(false);
        }
    }

    /** Sets or clears our bit in the wake word (a full barrier: the value check that follows stays after it). */
    private void markWake(final boolean on)
    {
        FenceTimelineWords.markWake(slot, waits, wakeBit, on);
    }

    private long sleepOnWake(final long value, final long start, final long timeoutNanos, final Duration timeout)
        throws IOException
    {
        while (true)
        {
            final long seen = FenceTimelineWords.value(slot, waits);
            if (seen >= value)
            {
                return reached(seen);
            }
            final long left = timeoutNanos - (System.nanoTime() - start);
            if (left <= 0)
            {
                throw new HdmabufException(ErrorCode.ETIMEDOUT, "fence value " + value + " not reached within " +
                    timeout.toMillis() + " ms (at " + seen + ")");
            }
            wakePoller.poll((int)Math.min(WAKE_SLICE_MS, (left + 999_999) / 1_000_000));
            if ((wakePoller.revents(1) & HANGUP) != 0)
            {
                throw new HdmabufException(ErrorCode.EPEERLOST, "the daemon closed the connection");
            }
            if ((wakePoller.revents(0) & Native.POLLIN) != 0)
            {
                final long now = FenceTimelineWords.value(slot, waits);
                if (now >= value)
                {
                    return reached(now); // the count is left for the next wait to reset, off this wake-up's path
                }
                ringer.drain(wake); // before the value is checked again: a ring after it is not lost
            }
        }
    }

    /** The awaited value {@code seen} arrived: its error word, or the closed timeline's error. */
    private long reached(final long seen) throws HdmabufException
    {
        lastError = FenceTimelineWords.error(slot, waits);
        if (seen == FenceAbi.POISON_VALUE)
        {
            throw closed(lastError);
        }
        return seen;
    }

    private static HdmabufException closed(final int error)
    {
        final ErrorCode code = FenceTimelineWords.closedBecause(error);
        return new HdmabufException(code, "the fence timeline was closed: " + (code == ErrorCode.ENOENT ?
            "the buffer was unexported" : "the other VM is gone"));
    }

    /** The error word observed with the value the last {@link #await} returned; 0 = none. */
    public int error()
    {
        return lastError;
    }

    @Override
    public void close()
    {
        if (wake >= 0)
        {
            Native.closeQuietly(wake);
            wake = -1;
        }
        if (doorbells != null)
        {
            for (int i = 0; i < doorbells.length; i++)
            {
                if (doorbells[i] >= 0)
                {
                    Native.closeQuietly(doorbells[i]);
                }
                doorbells[i] = -1;
            }
        }
        mapping.close();
    }
}
