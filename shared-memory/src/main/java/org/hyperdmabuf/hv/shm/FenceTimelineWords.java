package org.hyperdmabuf.hv.shm;

import org.hyperdmabuf.abi.FenceAbi;
import org.hyperdmabuf.abi.v1.ErrorCode;

import java.lang.invoke.VarHandle;

/**
 * The operations on one timeline of a fence slot ({@link FenceSlotDescriptor}) that the client library and the
 * daemons share: reading, signalling and poisoning the value, the waiters and wake words. A timeline is named by
 * the offset of its value word in the slot ({@link #of}); its other words sit at the same distances from it in
 * both timelines ({@link FenceTimelineLayout}), so a caller keeps one int and the fence fast path allocates
 * nothing and follows no reference. Every method is static and small, for the JIT to inline.
 */
public final class FenceTimelineWords
{
    private static final int ERROR = FenceTimelineLayout.ACQUIRE.error() - FenceTimelineLayout.ACQUIRE.value();
    private static final int WAITERS = FenceTimelineLayout.ACQUIRE.waiters() - FenceTimelineLayout.ACQUIRE.value();
    private static final int WAKE = FenceTimelineLayout.ACQUIRE.wake() - FenceTimelineLayout.ACQUIRE.value();

    private FenceTimelineWords()
    {
    }

    /** The acquire timeline if {@code acquire}, else the release one: the offset of its value word. */
    public static int of(final boolean acquire)
    {
        return FenceTimelineLayout.of(acquire).value();
    }

    /** The value, with acquire semantics: the error word stored before it is visible after it. */
    public static long value(final MemoryWindow slot, final int timeline)
    {
        return slot.getLongAcquire(timeline);
    }

    /** The value with a volatile load: ordered after a preceding store such as a raised waiter (store-load). */
    public static long valueVolatile(final MemoryWindow slot, final int timeline)
    {
        return slot.getLongVolatile(timeline);
    }

    /** The error word; meaningful after {@link #value} observed the value it belongs to. */
    public static int error(final MemoryWindow slot, final int timeline)
    {
        return slot.getIntVolatile(timeline + ERROR);
    }

    /**
     * Stores {@code error}, then {@code value} with release semantics, then a full fence: the waiters and wake
     * words the caller reads next are read after the value is visible (store-load order). The caller has checked
     * that the value advances.
     */
    public static void publish(final MemoryWindow slot, final int timeline, final long value, final int error)
    {
        // The error word shares the value's cache line, which the other side is spinning on: storing it when
        // it is unchanged (nearly always) would hand the line over twice per signal instead of once.
        if (slot.getInt(timeline + ERROR) != error)
        {
            slot.putIntRelease(timeline + ERROR, error);
        }
        slot.putLongRelease(timeline, value); // orders the error word before the value
        VarHandle.fullFence();
    }

    /**
     * The signal as one compare-and-exchange from {@code expected}, the value the caller last stored or saw
     * (ABI.md "Signalling"; {@code hdmabuf_fence_signal_exchange} in the C header). It does not load the value
     * first: that load would fetch the cache line the other side spins on only to give it up again for the store.
     * The exchange is also the full fence before the waiters and wake words are read. The error word is stored
     * first when {@code storeError}. Returns what the timeline held: {@code expected} if {@code value} was stored;
     * anything else means nothing was (the caller decides again on that value).
     */
    public static long publishFrom(final MemoryWindow slot, final int timeline, final long expected, final long value,
        final int error, final boolean storeError)
    {
        if (storeError)
        {
            slot.putIntRelease(timeline + ERROR, error);
        }
        return slot.compareAndExchangeLong(timeline, expected, value);
    }

    /** Completes every present and future wait with {@code error}: the value becomes the poison value. */
    public static void poison(final MemoryWindow slot, final int timeline, final int error)
    {
        slot.putIntVolatile(timeline + ERROR, error);
        slot.putLongVolatile(timeline, FenceAbi.POISON_VALUE);
    }

    /** Why a timeline whose value is the poison value was closed, from its error word: EPEERLOST if it says none. */
    public static ErrorCode closedBecause(final int error)
    {
        final ErrorCode code = ErrorCode.forNumber(error);
        return code == null || code == ErrorCode.OK ? ErrorCode.EPEERLOST : code;
    }

    /** The waiters word: non-zero when a daemon has a wait on this timeline parked (a hint). */
    public static int waiters(final MemoryWindow slot, final int timeline)
    {
        return slot.getIntVolatile(timeline + WAITERS);
    }

    /** Adds {@code delta} to the waiters word, never below 0 (the other VM writes it too), with a full barrier. */
    public static void adjustWaiters(final MemoryWindow slot, final int timeline, final int delta)
    {
        while (true)
        {
            final int n = slot.getIntVolatile(timeline + WAITERS);
            final int next = Math.max(0, n + delta);
            if (slot.compareAndSetInt(timeline + WAITERS, n, next))
            {
                return;
            }
        }
    }

    /** The wake mask: the waiting VM's leased wake vectors to ring after a signal (a hint). */
    public static int wakeMask(final MemoryWindow slot, final int timeline)
    {
        return slot.getIntVolatile(timeline + WAKE);
    }

    /**
     * Sets ({@code on}) or clears {@code bits} in the wake word, which holds other waiters' bits too. The atomic
     * read-modify-write is a full barrier: a value check that follows cannot move before it.
     */
    public static void markWake(final MemoryWindow slot, final int timeline, final int bits, final boolean on)
    {
        if (on)
        {
            slot.getAndBitwiseOrInt(timeline + WAKE, bits);
        }
        else
        {
            slot.getAndBitwiseAndInt(timeline + WAKE, ~bits);
        }
    }
}
