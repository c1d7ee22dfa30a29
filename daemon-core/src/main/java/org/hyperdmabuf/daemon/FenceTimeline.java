package org.hyperdmabuf.daemon;

import org.hyperdmabuf.abi.FenceAbi;
import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.abi.v1.Timeline;
import org.hyperdmabuf.hv.shm.FenceTimelineLayout;
import org.hyperdmabuf.hv.shm.MemoryWindow;

/**
 * One timeline of a fence slot as the daemon sees it (ABI.md "Fences"): a 64-bit value that only grows
 * and an error word, written error-first, value-last with release semantics; a {@code waiters} word that
 * a blocked wait raises so signallers know to ring the doorbell. The slot is shared with another VM, so
 * every word read here is only a hint or is validated by the caller.
 */
public final class FenceTimeline
{

    private final MemoryWindow slot;
    private final int valueOffset;
    private final int errorOffset;
    private final int waitersOffset;
    private final int wakeOffset;

    private FenceTimeline(final MemoryWindow slot, final int valueOffset, final int errorOffset,
        final int waitersOffset, final int wakeOffset)
    {
        this.slot = slot;
        this.valueOffset = valueOffset;
        this.errorOffset = errorOffset;
        this.waitersOffset = waitersOffset;
        this.wakeOffset = wakeOffset;
    }

    public static FenceTimeline of(final MemoryWindow slot, final Timeline timeline)
    {
        final FenceTimelineLayout words = FenceTimelineLayout.of(timeline == Timeline.TIMELINE_ACQUIRE);
        return new FenceTimeline(slot, words.value(), words.error(), words.waiters(), words.wake());
    }

    public long value()
    {
        return slot.getLongAcquire(valueOffset);
    }

    /** The value with a volatile load: ordered after a preceding {@link #addWaiter()} (store-load). */
    public long valueAfterWaiterRaised()
    {
        return slot.getLongVolatile(valueOffset);
    }

    /** The error word; meaningful after {@link #value()} observed the value it belongs to. */
    public int error()
    {
        return slot.getIntVolatile(errorOffset);
    }

    /**
     * Stores {@code error} then {@code value}. A value equal to the current one changes nothing (a kick);
     * a smaller one is refused: timelines only move forward.
     *
     * @return true if the value advanced
     */
    public boolean signal(final long value, final int error) throws ApiException
    {
        if (value < 0)
        {
            throw new ApiException(ErrorCode.EINVAL, "fence values are below 2^63; got " + Long.toUnsignedString(value));
        }
        final long current = value();
        if (current == FenceAbi.POISON_VALUE)
        {
            // Closed by a daemon: the signaller learns why (EPEERLOST, ENOENT), not that its value went backwards.
            final ErrorCode why = ErrorCode.forNumber(error());
            throw new ApiException(why == null || why == ErrorCode.OK ? ErrorCode.EPEERLOST : why,
                "the fence timeline was closed");
        }
        if (value < current)
        {
            throw new ApiException(ErrorCode.EINVAL, "fence value " + value + " goes backwards (timeline is at " +
                current + ")");
        }
        if (value == current)
        {
            return false;
        }
        slot.putIntVolatile(errorOffset, error);
        // Volatile, not just release: the caller reads the waiters word next (store-load order).
        slot.putLongVolatile(valueOffset, value);
        return true;
    }

    /** Completes every present and future wait with {@code error} (the signalling side is gone). */
    public void poison(final ErrorCode error)
    {
        slot.putIntVolatile(errorOffset, error.getNumber());
        slot.putLongVolatile(valueOffset, FenceAbi.POISON_VALUE);
    }

    /** The wake mask: the waiting VM's leased wake vectors, to ring after a signal (a hint). */
    public int wakeMask()
    {
        return slot.getIntVolatile(wakeOffset);
    }

    /** Sets ({@code on}) or clears the bit of wake vector {@code vector}, with a full barrier. */
    public void markWake(final int vector, final boolean on)
    {
        if (on)
        {
            slot.getAndBitwiseOrInt(wakeOffset, 1 << vector);
        }
        else
        {
            slot.getAndBitwiseAndInt(wakeOffset, ~(1 << vector));
        }
    }

    public boolean hasWaiters()
    {
        return slot.getIntVolatile(waitersOffset) != 0;
    }

    public void addWaiter()
    {
        adjustWaiters(1);
    }

    public void removeWaiter()
    {
        adjustWaiters(-1);
    }

    private void adjustWaiters(final int delta)
    {
        while (true)
        {
            final int n = slot.getIntVolatile(waitersOffset);
            final int next = Math.max(0, n + delta);
            if (slot.compareAndSetInt(waitersOffset, n, next))
            {
                return;
            }
        }
    }
}
