package org.hyperdmabuf.hv.shm;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.util.HashSet;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** FencePool over a fence table shared by two peers' pools, as in a region. */
class FencePoolTest
{
    private static final int SLOTS = 8;
    private static final long SESSION0 = 0x1111_2222_3333_4444L;
    private static final long SESSION1 = 0x5555_6666_7777_8888L;

    private RegionLayout layout;
    private MemoryWindow table;
    private FencePool pool0;
    private FencePool pool1;

    @BeforeEach
    void createPools()
    {
        layout = RegionLayout.compute(1L << 20, 4096, 2, 4096, SLOTS);
        table = new MemoryWindow(ByteBuffer.allocateDirect(SLOTS * FenceSlotDescriptor.SLOT_LENGTH));
        pool0 = new FencePool(table, layout, 0, SESSION0);
        pool1 = new FencePool(table, layout, 1, SESSION1);
    }

    private int base(final int index)
    {
        return index * FenceSlotDescriptor.SLOT_LENGTH;
    }

    /** Writes every timeline word of a slot, as a previous user (or a hostile peer) might have left it. */
    private void scribble(final int index)
    {
        table.putLong(base(index) + FenceSlotDescriptor.ACQUIRE_VALUE_OFFSET, 41);
        table.putInt(base(index) + FenceSlotDescriptor.ACQUIRE_ERROR_OFFSET, 5);
        table.putInt(base(index) + FenceSlotDescriptor.ACQUIRE_WAITERS_OFFSET, 2);
        table.putLong(base(index) + FenceSlotDescriptor.RELEASE_VALUE_OFFSET, 40);
        table.putInt(base(index) + FenceSlotDescriptor.RELEASE_ERROR_OFFSET, 1000);
        table.putInt(base(index) + FenceSlotDescriptor.RELEASE_WAITERS_OFFSET, 3);
    }

    private void assertZeroTimelines(final int index)
    {
        for (final int offset : new int[] {FenceSlotDescriptor.ACQUIRE_VALUE_OFFSET,
            FenceSlotDescriptor.RELEASE_VALUE_OFFSET})
        {
            assertEquals(0, table.getLong(base(index) + offset), "value at " + offset + " of slot " + index);
        }
        for (final int offset : new int[] {FenceSlotDescriptor.ACQUIRE_ERROR_OFFSET,
            FenceSlotDescriptor.ACQUIRE_WAITERS_OFFSET, FenceSlotDescriptor.RELEASE_ERROR_OFFSET,
            FenceSlotDescriptor.RELEASE_WAITERS_OFFSET})
        {
            assertEquals(0, table.getInt(base(index) + offset), "word at " + offset + " of slot " + index);
        }
    }

    @Test
    void waitersWordsSitInTheReservedBytesOfEachTimelineLine()
    {
        assertEquals(FenceSlotDescriptor.ACQUIRE_ERROR_OFFSET + 4, FenceSlotDescriptor.ACQUIRE_WAITERS_OFFSET);
        assertEquals(FenceSlotDescriptor.RELEASE_ERROR_OFFSET + 4, FenceSlotDescriptor.RELEASE_WAITERS_OFFSET);
        assertEquals(FenceSlotDescriptor.ACQUIRE_VALUE_OFFSET / 64, FenceSlotDescriptor.ACQUIRE_WAITERS_OFFSET / 64,
            "acquire waiters on the acquire line");
        assertEquals(FenceSlotDescriptor.RELEASE_VALUE_OFFSET / 64, FenceSlotDescriptor.RELEASE_WAITERS_OFFSET / 64,
            "release waiters on the release line");
    }

    @Test
    void allocatedSlotsAreClaimedZeroedAndDistinct()
    {
        for (int i = 0; i < SLOTS; i++)
        {
            scribble(i);
        }
        assertEquals(SLOTS, pool0.freeSlots());
        final Set<Integer> seen = new HashSet<>();
        for (int i = 0; i < SLOTS / 2; i++)
        {
            final int a = pool0.allocate();
            final int b = pool1.allocate();
            assertTrue(seen.add(a) && seen.add(b), "slots are handed out once: " + a + ", " + b);
            assertZeroTimelines(a);
            assertZeroTimelines(b);
            assertEquals(PageTableDescriptor.ownerWord(0, SESSION0), table.getLong(base(a)), "owner word of " + a);
            assertTrue(pool0.isOwnedBy(a, 0) && pool0.isOwnedBy(a, 0, SESSION0));
            assertFalse(pool0.isOwnedBy(a, 1), "not another peer's");
            assertFalse(pool0.isOwnedBy(a, 0, SESSION1), "not another session's");
            assertTrue(pool1.isOwnedBy(b, 1, SESSION1));
        }
        assertEquals(0, pool0.freeSlots());
        assertEquals(-1, pool0.allocate(), "a full table has nothing (ENOSPC)");
        assertEquals(-1, pool1.allocate());
        assertEquals(SLOTS / 2, pool0.ownedSlots());
    }

    @Test
    void freeZeroesAndReleasesOnlyOwnSlots()
    {
        final int a = pool0.allocate();
        final int b = pool1.allocate();
        scribble(a);
        assertFalse(pool1.free(a), "a slot of another peer cannot be freed");
        assertFalse(pool0.free(-1));
        assertFalse(pool0.free(SLOTS));
        assertTrue(pool0.isOwnedBy(a, 0), "failed frees changed nothing");
        assertTrue(pool0.free(a));
        assertZeroTimelines(a);
        assertEquals(PageTableDescriptor.FREE, table.getLong(base(a)));
        assertFalse(pool0.free(a), "double free");
        assertTrue(pool1.free(b));
        assertEquals(SLOTS, pool0.freeSlots());
        assertEquals(0, pool0.foreignOverwrites());
    }

    @Test
    void freeLeavesASlotOverwrittenByAnotherPeerAlone()
    {
        final int a = pool0.allocate();
        final long hostile = PageTableDescriptor.ownerWord(1, 99);
        table.putLong(base(a), hostile);
        scribble(a);
        assertTrue(pool0.free(a));
        assertEquals(1, pool0.foreignOverwrites());
        assertEquals(hostile, table.getLong(base(a)));
        assertEquals(41, table.getLong(base(a) + FenceSlotDescriptor.ACQUIRE_VALUE_OFFSET), "its timelines untouched");
    }

    @Test
    void slotOffsetsAreInTheFenceTable()
    {
        assertEquals(layout.fenceTableOffset(), pool0.slotOffset(0));
        assertEquals(layout.fenceTableOffset() + 5L * FenceSlotDescriptor.SLOT_LENGTH, pool0.slotOffset(5));
        assertThrows(IllegalArgumentException.class, () -> pool0.slotOffset(-1));
        assertThrows(IllegalArgumentException.class, () -> pool0.slotOffset(SLOTS));
        assertFalse(pool0.isOwnedBy(-1, 0));
        assertFalse(pool0.isOwnedBy(SLOTS, 0));
        assertFalse(pool0.isOwnedBy(Integer.MIN_VALUE, 0));
        final int a = pool0.allocate();
        assertFalse(pool0.isOwnedBy(a, -1), "the free marker is nobody's");
    }

    @Test
    void reclaimSessionFreesExactlyThatIncarnationsSlots()
    {
        final int a = pool0.allocate();
        final int a2 = pool0.allocate();
        final int b = pool1.allocate();
        final FencePool restarted = new FencePool(table, layout, 0, 0x9999_AAAA_BBBB_CCCCL);
        final int c = restarted.allocate();
        scribble(a);
        scribble(c);
        assertEquals(0, pool1.reclaimSession(0, SESSION0 ^ 1));
        assertEquals(2, pool1.reclaimSession(0, SESSION0));
        assertZeroTimelines(a);
        assertFalse(pool1.isOwnedBy(a, 0));
        assertFalse(pool1.isOwnedBy(a2, 0));
        assertTrue(pool1.isOwnedBy(b, 1, SESSION1), "another peer's slot stays");
        assertTrue(pool1.isOwnedBy(c, 0), "the restarted incarnation's slot stays");
        assertEquals(41, table.getLong(base(c) + FenceSlotDescriptor.ACQUIRE_VALUE_OFFSET), "with its values");
        assertEquals(SLOTS - 2, pool1.freeSlots());
        assertThrows(IllegalArgumentException.class, () -> pool1.reclaimSession(1, SESSION1),
            "a pool never reclaims its own live session");
    }

    @Test
    void aTableWithoutSlotsHasNone()
    {
        final RegionLayout none = RegionLayout.compute(1L << 20, 4096, 2, 4096, 0);
        final FencePool empty = new FencePool(new MemoryWindow(ByteBuffer.allocateDirect(0)), none, 0, SESSION0);
        assertEquals(-1, empty.allocate());
        assertEquals(0, empty.freeSlots());
        assertFalse(empty.isOwnedBy(0, 0));
    }
}
