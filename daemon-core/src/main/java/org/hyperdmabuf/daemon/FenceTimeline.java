package org.hyperdmabuf.daemon;

import org.hyperdmabuf.abi.FenceAbi;
import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.abi.v1.Timeline;
import org.hyperdmabuf.hv.shm.FenceTimelineWords;
import org.hyperdmabuf.hv.shm.MemoryWindow;

/**
 * One timeline of a fence slot as the daemon sees it (ABI.md "Fences"): a 64-bit value that only grows
 * and an error word, written error-first, value-last with release semantics; a {@code waiters} word that
 * a blocked wait raises so signallers know to ring the doorbell. The slot is shared with another VM, so
 * every word read here is only a hint or is validated by the caller. The word operations are the client
 * library's ({@link FenceTimelineWords}); this class adds the daemon's checks.
 */
public final class FenceTimeline
{
    private final MemoryWindow slot;
    /** The offset of the timeline's value word in {@link #slot}. */
    private final int timeline;

    private FenceTimeline(final MemoryWindow slot, final int timeline)
    {
        this.slot = slot;
        this.timeline = timeline;
    }

    public static FenceTimeline of(final MemoryWindow slot, final Timeline timeline)
    {
        return new FenceTimeline(slot, FenceTimelineWords.of(timeline == Timeline.TIMELINE_ACQUIRE));
    }

    public long value()
    {
        return FenceTimelineWords.value(slot, timeline);
    }

    /** The value with a volatile load: ordered after a preceding {@link #addWaiter()} (store-load). */
    public long valueAfterWaiterRaised()
    {
        return FenceTimelineWords.valueVolatile(slot, timeline);
    }

    /** The error word; meaningful after {@link #value()} observed the value it belongs to. */
    public int error()
    {
        return FenceTimelineWords.error(slot, timeline);
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
            throw new ApiException(FenceTimelineWords.closedBecause(error()), "the fence timeline was closed");
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
        FenceTimelineWords.publish(slot, timeline, value, error);
        return true;
    }

    /** Completes every present and future wait with {@code error} (the signalling side is gone). */
    public void poison(final ErrorCode error)
    {
        FenceTimelineWords.poison(slot, timeline, error.getNumber());
    }

    /** The wake mask: the waiting VM's leased wake vectors, to ring after a signal (a hint). */
    public int wakeMask()
    {
        return FenceTimelineWords.wakeMask(slot, timeline);
    }

    /** Sets ({@code on}) or clears the bit of wake vector {@code vector}, with a full barrier. */
    public void markWake(final int vector, final boolean on)
    {
        FenceTimelineWords.markWake(slot, timeline, 1 << vector, on);
    }

    public boolean hasWaiters()
    {
        return FenceTimelineWords.waiters(slot, timeline) != 0;
    }

    public void addWaiter()
    {
        FenceTimelineWords.adjustWaiters(slot, timeline, 1);
    }

    public void removeWaiter()
    {
        FenceTimelineWords.adjustWaiters(slot, timeline, -1);
    }
}
