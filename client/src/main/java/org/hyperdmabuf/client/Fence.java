package org.hyperdmabuf.client;

import org.hyperdmabuf.abi.v1.BufferId;
import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.abi.v1.FenceState;
import org.hyperdmabuf.abi.v1.Timeline;
import org.hyperdmabuf.hv.nativeio.EventFd;
import org.hyperdmabuf.hv.nativeio.MappedMemory;
import org.hyperdmabuf.hv.nativeio.Native;
import org.hyperdmabuf.hv.nativeio.NativeIoException;
import org.hyperdmabuf.hv.shm.FenceSlotDescriptor;
import org.hyperdmabuf.hv.shm.MemoryWindow;

import java.io.IOException;
import java.lang.invoke.VarHandle;
import java.time.Duration;

/**
 * The two fence timelines of one exported buffer, mapped from shared memory (ABI.md "Fences").
 * The producer side signals <em>acquire</em> ("content ready up to N") and waits on <em>release</em>;
 * the consumer side does the opposite. A signal is a store (error word, then the value with release
 * semantics); a waiter spins on the value, blocks in its daemon (woken by the fence doorbell), or both.
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
        /** Ask the daemon to answer when the value is reached: no CPU, one socket round trip plus a doorbell. */
        BLOCK,
        /** Spin for {@link #ADAPTIVE_SPIN} first, then block. */
        ADAPTIVE
    }

    public static final Duration ADAPTIVE_SPIN = Duration.ofNanos(50_000);
    /** The value a daemon stores when it closes a timeline (the other side died, or the buffer was unexported). */
    public static final long POISON_VALUE = Long.MAX_VALUE;
    private static final long ADAPTIVE_SPIN_NANOS = ADAPTIVE_SPIN.toNanos();
    private static final int NO_DOORBELL = -2;

    private final HdmabufClient client;
    private final BufferId id;
    private final Side side;
    private final boolean canStore;
    private final MappedMemory mapping;
    private final MemoryWindow slot;
    private final int signalValue;
    private final int signalError;
    private final int signalWaiters;
    private final int waitValue;
    private final int waitError;
    private final Timeline signalTimeline;
    private final Timeline waitTimeline;
    private int lastError;
    /** FENCE_DOORBELL's eventfd once asked for: {@link #NO_DOORBELL} until then, -1 if the daemon has none. */
    private int doorbell = NO_DOORBELL;
    private EventFd ringer;

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
        this.signalValue = producer ? FenceSlotDescriptor.ACQUIRE_VALUE_OFFSET : FenceSlotDescriptor.RELEASE_VALUE_OFFSET;
        this.signalError = producer ? FenceSlotDescriptor.ACQUIRE_ERROR_OFFSET : FenceSlotDescriptor.RELEASE_ERROR_OFFSET;
        this.signalWaiters = producer ? FenceSlotDescriptor.ACQUIRE_WAITERS_OFFSET :
            FenceSlotDescriptor.RELEASE_WAITERS_OFFSET;
        this.waitValue = producer ? FenceSlotDescriptor.RELEASE_VALUE_OFFSET : FenceSlotDescriptor.ACQUIRE_VALUE_OFFSET;
        this.waitError = producer ? FenceSlotDescriptor.RELEASE_ERROR_OFFSET : FenceSlotDescriptor.ACQUIRE_ERROR_OFFSET;
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
        return slot.getLongAcquire(FenceSlotDescriptor.ACQUIRE_VALUE_OFFSET);
    }

    /** Current value of the release timeline. */
    public long releaseValue()
    {
        return slot.getLongAcquire(FenceSlotDescriptor.RELEASE_VALUE_OFFSET);
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
        final long current = slot.getLongAcquire(signalValue);
        if (value < current || value < 0)
        {
            throw new HdmabufException(ErrorCode.EINVAL, "fence value " + value + " goes backwards (timeline is at " +
                current + ")");
        }
        if (value == current)
        {
            return;
        }
        slot.putIntVolatile(signalError, error);
        slot.putLongRelease(signalValue, value);
        VarHandle.fullFence(); // the waiters word must be read after the value is visible (store-load order)
        if (slot.getIntVolatile(signalWaiters) != 0)
        {
            ringWaiters(value, error);
        }
    }

    /**
     * Wakes the other VM's daemon, where a waiter is parked: through the FENCE_DOORBELL eventfd (asked for once),
     * so our own daemon is not woken at all, or else by a FENCE_SIGNAL of the unchanged value, which only rings.
     */
    private void ringWaiters(final long value, final int error) throws IOException
    {
        if (doorbell == NO_DOORBELL)
        {
            try
            {
                doorbell = client.openFenceDoorbell(id);
                ringer = doorbell >= 0 ? new EventFd() : null;
            }
            catch (final HdmabufException e)
            {
                doorbell = -1; // the daemon's FENCE_SIGNAL will report what is wrong
            }
        }
        if (doorbell >= 0)
        {
            try
            {
                ringer.signal(doorbell);
                return;
            }
            catch (final NativeIoException e)
            {
                Native.closeQuietly(doorbell);
                doorbell = -1;
            }
        }
        client.fenceSignal(id, signalTimeline, value, error); // equal value: the daemon only rings the doorbell
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
                final long seen = slot.getLongAcquire(waitValue);
                if (seen >= value)
                {
                    lastError = slot.getIntVolatile(waitError);
                    if (seen == POISON_VALUE)
                    {
                        throw closed(lastError);
                    }
                    return seen;
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
        final long left = timeoutNanos - (System.nanoTime() - start);
        final FenceState state = client.fenceWait(id, waitTimeline, value,
            Math.max(0, Math.min(Integer.MAX_VALUE, left / 1_000_000L)));
        lastError = state.getError();
        return state.getValue();
    }

    private static HdmabufException closed(final int error)
    {
        final ErrorCode code = ErrorCode.forNumber(error);
        return new HdmabufException(code == null || code == ErrorCode.OK ? ErrorCode.EPEERLOST : code,
            "the fence timeline was closed: " + (code == ErrorCode.ENOENT ? "the buffer was unexported" :
                "the other VM is gone"));
    }

    /** The error word observed with the value the last {@link #await} returned; 0 = none. */
    public int error()
    {
        return lastError;
    }

    @Override
    public void close()
    {
        if (doorbell >= 0)
        {
            Native.closeQuietly(doorbell);
            doorbell = -1;
        }
        mapping.close();
    }
}
