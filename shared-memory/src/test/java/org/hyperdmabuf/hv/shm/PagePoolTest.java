package org.hyperdmabuf.hv.shm;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/** PagePool over a page table shared by two peers' pools, as in a region. */
class PagePoolTest
{
    private static final int PAGE = 4096;

    private RegionLayout layout;
    private MemoryWindow pageTable;
    private PagePool pool0;
    private PagePool pool1;
    private long pages;

    @BeforeEach
    void createPools()
    {
        layout = RegionLayout.compute(1L << 20, PAGE, 2, 4096, 0);
        pages = layout.poolPages();
        pageTable = new MemoryWindow(ByteBuffer.allocateDirect((int)(pages * PageTableDescriptor.ENTRY_LENGTH)));
        pool0 = new PagePool(pageTable, layout, 0, 0x1111_2222_3333_4444L);
        pool1 = new PagePool(pageTable, layout, 1, 0x5555_6666_7777_8888L);
    }

    @Test
    void allocatesContiguousPageAlignedRuns()
    {
        assertTrue(pages > 32, "test layout has a pool: " + pages);
        assertEquals(pages * PAGE, pool0.freeBytes());
        final long a = pool0.allocate(3 * PAGE - 10);
        assertTrue(a >= layout.poolOffset(), "offset inside the pool");
        assertEquals(0, (a - layout.poolOffset()) % PAGE, "page aligned");
        assertTrue(pool0.isOwnedBy(a, 3 * PAGE, 0));
        assertFalse(pool0.isOwnedBy(a, 3 * PAGE, 1), "not owned by another peer");
        assertFalse(pool0.isOwnedBy(a, 4 * PAGE, 0), "the page after the run is not ours");
        assertEquals((pages - 3) * PAGE, pool0.freeBytes());
        assertEquals(3 * PAGE, pool0.ownedBytes());

        final long b = pool1.allocate(PAGE);
        assertTrue(b >= a + 3 * PAGE || b + PAGE <= a, "runs of different peers never overlap");
        assertTrue(pool1.isOwnedBy(b, PAGE, 1));
        assertEquals(pool0.freeBytes(), pool1.freeBytes(), "free bytes are counted from the shared table");
        final long entry = pageTable.getLong((int)((a - layout.poolOffset()) / PAGE * 8));
        assertEquals(PageTableDescriptor.ownerWord(0, 0x1111_2222_3333_4444L), entry, "owner word in the table");
        assertEquals(0, PageTableDescriptor.ownerPeer(entry));
    }

    @Test
    void fragmentationLeavesNoRunAndClaimsNothing()
    {
        final List<Long> singles = new ArrayList<>();
        for (long p = 0; p < pages; p++)
        {
            final long off = pool0.allocate(1);
            assertNotEquals(-1, off, "page " + p);
            singles.add(off);
        }
        assertEquals(0, pool0.freeBytes());
        assertEquals(-1, pool0.allocate(1), "a full pool has nothing");
        singles.sort(Long::compare);
        for (int i = 0; i < singles.size(); i += 2)
        {
            assertTrue(pool0.free(singles.get(i)));
        }
        final long free = pool0.freeBytes();
        assertEquals((pages + 1) / 2 * PAGE, free);
        assertEquals(-1, pool0.allocate(2 * PAGE), "no two adjacent free pages");
        assertEquals(-1, pool1.allocate(2 * PAGE), "nor for another peer");
        assertEquals(free, pool0.freeBytes(), "a failed allocation claims nothing");
        final long one = pool1.allocate(PAGE);
        assertTrue(one >= 0, "a single page still fits");
        assertTrue(pool1.isOwnedBy(one, PAGE, 1));
        assertEquals(free - PAGE, pool0.freeBytes());
    }

    @Test
    void tooLargeAllocationReturnsMinusOneAndClaimsNothing()
    {
        assertEquals(-1, pool0.allocate(pages * PAGE + 1));
        assertEquals(pages * PAGE, pool0.freeBytes());
        final long half = pool1.allocate(pages / 2 * PAGE);
        assertTrue(half >= 0);
        final long free = pool0.freeBytes();
        assertEquals(-1, pool0.allocate(free + PAGE));
        assertEquals(free, pool0.freeBytes(), "nothing claimed");
        assertEquals(0, pool0.ownedBytes());
        assertThrows(IllegalArgumentException.class, () -> pool0.allocate(0));
        assertThrows(IllegalArgumentException.class, () -> pool0.allocate(-PAGE));
    }

    @Test
    void freeReleasesOnlyOwnRuns()
    {
        final long a = pool0.allocate(2 * PAGE);
        final long b = pool1.allocate(PAGE);
        assertFalse(pool1.free(a), "a run of another peer cannot be freed");
        assertFalse(pool0.free(a + PAGE), "only the start of a run frees it");
        assertTrue(pool0.isOwnedBy(a, 2 * PAGE, 0), "failed frees changed nothing");
        assertTrue(pool0.free(a));
        assertFalse(pool0.free(a), "double free");
        assertFalse(pool0.isOwnedBy(a, PAGE, 0));
        assertTrue(pool1.free(b));
        assertEquals(pages * PAGE, pool0.freeBytes());
        assertEquals(0, pool0.foreignOverwrites());
    }

    @Test
    void freeLeavesPagesOverwrittenByAnotherPeerAlone()
    {
        final long a = pool0.allocate(PAGE);
        final int entry = (int)((a - layout.poolOffset()) / PAGE * 8);
        final long hostile = PageTableDescriptor.ownerWord(1, 99);
        pageTable.putLong(entry, hostile);
        assertTrue(pool0.free(a));
        assertEquals(1, pool0.foreignOverwrites());
        assertEquals(hostile, pageTable.getLong(entry));
    }

    @Test
    void freeWithZeroerSkipsAndReportsOverwrittenPagesAndZeroesOnlyOurs()
    {
        final long a = pool0.allocate(4 * PAGE);
        assertTrue(pool0.isAllocation(a, 4 * PAGE));
        assertFalse(pool0.isAllocation(a, 3 * PAGE), "a different length is not that allocation");
        assertFalse(pool0.isAllocation(a + PAGE, PAGE), "nor is a page inside it");
        final int second = (int)((a - layout.poolOffset()) / PAGE * 8) + 8;
        final long hostile = PageTableDescriptor.ownerWord(1, 99);
        pageTable.putLong(second, hostile);
        assertTrue(pool0.isAllocation(a, 4 * PAGE), "the private record decides, not the scribbled table");
        final List<long[]> zeroed = new ArrayList<>();
        assertEquals(1, pool0.free(a, (offset, length) -> zeroed.add(new long[] {offset, length})));
        assertEquals(2, zeroed.size(), "the stretches before and after the stolen page");
        assertArrayEquals(new long[] {a, PAGE}, zeroed.get(0));
        assertArrayEquals(new long[] {a + 2 * PAGE, 2 * PAGE}, zeroed.get(1));
        assertEquals(hostile, pageTable.getLong(second));
        assertEquals(-1, pool0.free(a, (offset, length) -> fail("nothing to zero")), "double free");
        assertFalse(pool0.isAllocation(a, 4 * PAGE));
    }

    @Test
    void isOwnedByRejectsEveryOutOfRangeReference()
    {
        final long a = pool0.allocate(PAGE);
        assertTrue(pool0.isOwnedBy(a, 1, 0), "a partial page is covered by its page");
        assertFalse(pool0.isOwnedBy(a, 0, 0), "empty");
        assertFalse(pool0.isOwnedBy(a, -1, 0), "negative length");
        assertFalse(pool0.isOwnedBy(a + 1, 1, 0), "misaligned offset");
        assertFalse(pool0.isOwnedBy(layout.poolOffset() - PAGE, PAGE, 0), "before the pool");
        assertFalse(pool0.isOwnedBy(0, PAGE, 0), "the header");
        assertFalse(pool0.isOwnedBy(layout.poolOffset() + pages * PAGE, PAGE, 0), "after the pool");
        assertFalse(pool0.isOwnedBy(a, Long.MAX_VALUE, 0), "overflowing length");
        assertFalse(pool0.isOwnedBy(Long.MAX_VALUE - PAGE + 1, PAGE, 0), "overflowing offset");
        assertFalse(pool0.isOwnedBy(Long.MIN_VALUE, PAGE, 0), "negative offset");
        assertFalse(pool0.isOwnedBy(a, PAGE, -1), "the free marker is nobody's");
    }

    @Test
    void reclaimSessionFreesExactlyThatIncarnationsPagesAndZeroesThemFirst()
    {
        final long a = pool0.allocate(3 * PAGE);
        final long gap = pool0.allocate(PAGE);
        final long a2 = pool0.allocate(2 * PAGE);
        assertTrue(pool0.free(gap));
        final long b = pool1.allocate(2 * PAGE);
        // Peer 0 restarted: its new incarnation allocates while the old one's pages are still claimed.
        final PagePool restarted = new PagePool(pageTable, layout, 0, 0x9999_AAAA_BBBB_CCCCL);
        final long c = restarted.allocate(PAGE);
        final List<long[]> zeroed = new ArrayList<>();
        final PagePool.Zeroer zeroer = (offset, length) ->
        {
            // Zeroing happens while the pages are still claimed: nobody else can have them yet.
            assertEquals(PageTableDescriptor.ownerWord(0, 0x1111_2222_3333_4444L),
                pageTable.getLong((int)((offset - layout.poolOffset()) / PAGE * 8)), "zeroed before release");
            zeroed.add(new long[] {offset, length});
        };
        assertEquals(0, pool1.reclaimSession(0, 0x7777_0000_0000_0000L, zeroer), "another session of 0 owns nothing");
        assertEquals(0, pool1.reclaimSession(0, 0x1111_2222_0000_0000L | 0x3333_4445L, zeroer),
            "the session half must match exactly");
        assertTrue(zeroed.isEmpty());
        assertEquals(5, pool1.reclaimSession(0, 0x1111_2222_3333_4444L, zeroer));
        assertEquals(2, zeroed.size(), "one zeroing per contiguous run: " + zeroed.size());
        assertEquals(a, zeroed.get(0)[0]);
        assertEquals(3L * PAGE, zeroed.get(0)[1]);
        assertEquals(a2, zeroed.get(1)[0]);
        assertEquals(2L * PAGE, zeroed.get(1)[1]);
        assertFalse(pool1.isOwnedBy(a, PAGE, 0));
        assertFalse(pool1.isOwnedBy(a2, PAGE, 0));
        assertTrue(pool1.isOwnedBy(b, 2 * PAGE, 1), "other peers' pages stay");
        assertTrue(pool1.isOwnedBy(c, PAGE, 0), "the restarted incarnation's pages stay");
        assertEquals((pages - 3) * PAGE, pool0.freeBytes());
        assertThrows(IllegalArgumentException.class, () -> pool1.reclaimSession(1, 0x5555_6666_7777_8888L, zeroer),
            "a pool never reclaims its own live session");
    }

    @Test
    void allocationsWrapAroundTheHint()
    {
        final long first = pool0.allocate((pages - 1) * PAGE);
        assertTrue(first >= 0);
        assertTrue(pool0.free(first));
        final long again = pool0.allocate(pages * PAGE);
        assertEquals(layout.poolOffset(), again, "the whole pool after the hint wrapped");
        assertTrue(pool0.free(again));
    }
}
