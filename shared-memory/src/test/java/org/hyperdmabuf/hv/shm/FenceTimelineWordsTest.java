package org.hyperdmabuf.hv.shm;

import org.hyperdmabuf.abi.FenceAbi;
import org.hyperdmabuf.abi.v1.ErrorCode;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The timeline word operations the client and the daemons share, on one slot in a heap buffer. */
class FenceTimelineWordsTest
{
    private final MemoryWindow slot = new MemoryWindow(ByteBuffer.allocate(FenceSlotDescriptor.SLOT_LENGTH));

    @Test
    void bothTimelinesHaveTheirWordsAtTheSameDistancesFromTheValue()
    {
        for (final FenceTimelineLayout t : new FenceTimelineLayout[] {FenceTimelineLayout.ACQUIRE,
            FenceTimelineLayout.RELEASE})
        {
            assertEquals(FenceTimelineLayout.ACQUIRE.error() - FenceTimelineLayout.ACQUIRE.value(),
                t.error() - t.value(), "error word");
            assertEquals(FenceTimelineLayout.ACQUIRE.waiters() - FenceTimelineLayout.ACQUIRE.value(),
                t.waiters() - t.value(), "waiters word");
            assertEquals(FenceTimelineLayout.ACQUIRE.wake() - FenceTimelineLayout.ACQUIRE.value(),
                t.wake() - t.value(), "wake word");
        }
        assertEquals(FenceSlotDescriptor.ACQUIRE_VALUE_OFFSET, FenceTimelineWords.of(true));
        assertEquals(FenceSlotDescriptor.RELEASE_VALUE_OFFSET, FenceTimelineWords.of(false));
    }

    @Test
    void publishStoresTheErrorAndTheValueOfItsTimelineOnly()
    {
        final int release = FenceTimelineWords.of(false);
        FenceTimelineWords.publish(slot, release, 7, 42);
        assertEquals(7, slot.getLong(FenceSlotDescriptor.RELEASE_VALUE_OFFSET));
        assertEquals(42, slot.getInt(FenceSlotDescriptor.RELEASE_ERROR_OFFSET));
        assertEquals(7, FenceTimelineWords.value(slot, release));
        assertEquals(42, FenceTimelineWords.error(slot, release));
        assertEquals(0, slot.getLong(FenceSlotDescriptor.ACQUIRE_VALUE_OFFSET), "acquire untouched");
        assertEquals(0, slot.getInt(FenceSlotDescriptor.ACQUIRE_ERROR_OFFSET), "acquire error untouched");
    }

    @Test
    void publishFromStoresOnlyFromTheExpectedValueAndReportsWhatTheTimelineHeld()
    {
        final int acquire = FenceTimelineWords.of(true);
        slot.putLong(FenceSlotDescriptor.ACQUIRE_VALUE_OFFSET, 8);
        assertEquals(8, FenceTimelineWords.publishFrom(slot, acquire, 3, 9, 0, false), "stale: the witness");
        assertEquals(8, FenceTimelineWords.value(slot, acquire), "nothing stored from a stale value");
        assertEquals(8, FenceTimelineWords.publishFrom(slot, acquire, 8, 9, 5, true), "stored from the value held");
        assertEquals(9, FenceTimelineWords.value(slot, acquire));
        assertEquals(5, FenceTimelineWords.error(slot, acquire));
        assertEquals(9, FenceTimelineWords.publishFrom(slot, acquire, 9, 10, 0, false));
        assertEquals(5, FenceTimelineWords.error(slot, acquire), "the error word is left alone when not asked");
        assertEquals(0, slot.getLong(FenceSlotDescriptor.RELEASE_VALUE_OFFSET), "release untouched");
    }

    @Test
    void poisonClosesTheTimelineWithItsReason()
    {
        final int acquire = FenceTimelineWords.of(true);
        FenceTimelineWords.poison(slot, acquire, ErrorCode.ENOENT.getNumber());
        assertEquals(FenceAbi.POISON_VALUE, FenceTimelineWords.value(slot, acquire));
        assertEquals(ErrorCode.ENOENT, FenceTimelineWords.closedBecause(FenceTimelineWords.error(slot, acquire)));
        assertEquals(ErrorCode.EPEERLOST, FenceTimelineWords.closedBecause(0), "no reason: the peer is gone");
        assertEquals(ErrorCode.EPEERLOST, FenceTimelineWords.closedBecause(0x7777), "an unknown number too");
    }

    @Test
    void waitersNeverGoBelowZeroAndWakeBitsAreSetAndClearedAlone()
    {
        final int acquire = FenceTimelineWords.of(true);
        FenceTimelineWords.adjustWaiters(slot, acquire, 1);
        assertEquals(1, slot.getInt(FenceSlotDescriptor.ACQUIRE_WAITERS_OFFSET));
        FenceTimelineWords.adjustWaiters(slot, acquire, -1);
        FenceTimelineWords.adjustWaiters(slot, acquire, -1);
        assertEquals(0, FenceTimelineWords.waiters(slot, acquire));
        FenceTimelineWords.markWake(slot, acquire, 1 << 3, true);
        FenceTimelineWords.markWake(slot, acquire, 1 << 5, true);
        FenceTimelineWords.markWake(slot, acquire, 1 << 3, false);
        assertEquals(1 << 5, FenceTimelineWords.wakeMask(slot, acquire));
        assertEquals(1 << 5, slot.getInt(FenceSlotDescriptor.ACQUIRE_WAKE_OFFSET));
    }
}
