package org.hyperdmabuf.hv.shm;

import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Random;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Seeded random garbage in everything another VM can write: ring counters and records, the region header, the
 * page table and the fence table. The parsers may refuse what they read only with a
 * {@link ShmCorruptionException} (or answer "not owned"/"full"); an IndexOutOfBoundsException,
 * BufferOverflowException, NullPointerException or any other exception would be a daemon crash (or an
 * out-of-bounds access) triggered by a hostile peer. A failure names the seed that reproduces it.
 */
class ShmGarbageFuzzTest
{
    private static final int CAPACITY = 4096;
    private static final int TAIL = CAPACITY + RingDescriptor.TAIL_OFFSET;
    private static final int HEAD = CAPACITY + RingDescriptor.HEAD_OFFSET;
    private static final int ROUNDS = 20_000;

    /** Values a fuzzer should favour: boundaries of every check, sign and overflow edges. */
    private static final long[] EDGES = {0, 1, 7, 8, 9, -1, -8, CAPACITY, CAPACITY - 8, CAPACITY + 8, CAPACITY / 4,
        CAPACITY / 4 + 1, Integer.MAX_VALUE, Integer.MIN_VALUE, Integer.MAX_VALUE - 7L, Long.MAX_VALUE,
        Long.MIN_VALUE, Long.MAX_VALUE - 7, 1L << 32, (1L << 32) - 8, 0xFFFF_FFFFL};

    private static long garbage(final Random r)
    {
        return switch (r.nextInt(4))
        {
            case 0 -> EDGES[r.nextInt(EDGES.length)];
            case 1 -> r.nextLong();
            case 2 -> r.nextInt(CAPACITY * 2) & ~7L;
            default -> EDGES[r.nextInt(EDGES.length)] + r.nextInt(17) - 8;
        };
    }

    private static MemoryWindow window(final int bytes)
    {
        return new MemoryWindow(ByteBuffer.allocateDirect(bytes).order(ByteOrder.LITTLE_ENDIAN));
    }

    /** A ring whose every byte may be garbage: polling either delivers well-formed records or throws typed. */
    @Test
    void ringReaderOnGarbageRingsThrowsOnlyShmCorruption()
    {
        final int maxPayload = RingDescriptor.maxRecordLength(CAPACITY) - RecordDescriptor.HEADER_LENGTH;
        for (int seed = 0; seed < ROUNDS; seed++)
        {
            final Random r = new Random(seed);
            final MemoryWindow ring = window(RingDescriptor.stride(CAPACITY));
            // Start from a valid ring with some records, then scribble on a few words.
            final RingWriter writer = new RingWriter(ring, CAPACITY);
            final long start = r.nextBoolean() ? 0 : (r.nextInt(1 << 20) & ~7L);
            ring.putLong(HEAD, start);
            ring.putLong(TAIL, start);
            final RingWriter positioned = r.nextBoolean() ? writer : new RingWriter(ring, CAPACITY);
            final RingReader reader = new RingReader(ring, CAPACITY);
            final ByteBuffer src = ByteBuffer.allocate(maxPayload);
            try
            {
                for (int i = r.nextInt(8); i > 0; i--)
                {
                    positioned.offer(1 + r.nextInt(3), src, 0, r.nextInt(maxPayload + 1));
                }
            }
            catch (final ShmCorruptionException e)
            {
                // the writer was created before the counters moved: fine, the ring is garbage anyway
            }
            for (int i = r.nextInt(6); i >= 0; i--)
            {
                final int what = r.nextInt(4);
                if (what == 0)
                {
                    ring.putLong(TAIL, garbage(r));
                }
                else if (what == 1)
                {
                    ring.putLong(TAIL, ring.getLong(TAIL) + (r.nextInt(64) - 32));
                }
                else
                {
                    final int at = r.nextInt(CAPACITY / 4) * 4;
                    ring.putInt(at, (int)garbage(r));
                }
            }
            pollUntilDone(reader, seed, maxPayload);
        }
    }

    /** The producer rewrites records and the tail while the consumer reads them (a hostile, live producer). */
    @Test
    void ringReaderUnderConcurrentScribblingThrowsOnlyShmCorruption() throws Exception
    {
        final int maxPayload = RingDescriptor.maxRecordLength(CAPACITY) - RecordDescriptor.HEADER_LENGTH;
        final MemoryWindow ring = window(RingDescriptor.stride(CAPACITY));
        final AtomicBoolean stop = new AtomicBoolean();
        final Thread scribbler = new Thread(() ->
        {
            final Random r = new Random(42);
            while (!stop.get())
            {
                if (r.nextInt(8) == 0)
                {
                    ring.putLongRelease(TAIL, ring.getLongAcquire(HEAD) + (r.nextInt(CAPACITY / 8 + 2) * 8L));
                }
                else
                {
                    ring.putInt(r.nextInt(CAPACITY / 4) * 4, (int)garbage(r));
                }
            }
        });
        scribbler.start();
        try
        {
            final long deadline = System.nanoTime() + 500_000_000L;
            int readers = 0;
            while (System.nanoTime() - deadline < 0)
            {
                // A fresh reader resumes at the shared head, as a new session of the consumer would.
                ring.putLongRelease(HEAD, ring.getLongAcquire(HEAD) & ~7L & Long.MAX_VALUE);
                pollUntilDone(new RingReader(ring, CAPACITY), -1, maxPayload);
                readers++;
            }
            assertTrue(readers > 0);
        }
        finally
        {
            stop.set(true);
            scribbler.join();
        }
    }

    private static void pollUntilDone(final RingReader reader, final int seed, final int maxPayload)
    {
        try
        {
            for (int polls = 0; polls < 64; polls++)
            {
                if (reader.poll((type, payload, length) ->
                {
                    if (type <= 0 || length < 0 || length > maxPayload)
                    {
                        fail("seed " + seed + ": delivered type=" + type + " length=" + length);
                    }
                }, 16) == 0)
                {
                    return;
                }
            }
        }
        catch (final ShmCorruptionException e)
        {
            // the typed refusal we expect
        }
        catch (final RuntimeException e)
        {
            throw new AssertionError("seed " + seed + ": untyped " + e, e);
        }
    }

    /** A consumer that scribbles the head: the writer refuses with a typed error and never writes out of bounds. */
    @Test
    void ringWriterOnGarbageHeadThrowsOnlyShmCorruption()
    {
        final ByteBuffer src = ByteBuffer.allocate(CAPACITY);
        final int maxPayload = RingDescriptor.maxRecordLength(CAPACITY) - RecordDescriptor.HEADER_LENGTH;
        for (int seed = 0; seed < ROUNDS; seed++)
        {
            final Random r = new Random(seed);
            final MemoryWindow ring = window(RingDescriptor.stride(CAPACITY));
            final long start = r.nextBoolean() ? 0 : (r.nextInt(1 << 20) & ~7L);
            ring.putLong(HEAD, start);
            ring.putLong(TAIL, start + (r.nextInt(CAPACITY / 8) * 8L));
            final RingWriter writer = new RingWriter(ring, CAPACITY);
            if (r.nextBoolean())
            {
                writer.attach(seed);
            }
            ring.putLong(HEAD, r.nextBoolean() ? garbage(r) : start + r.nextInt(CAPACITY * 2) - CAPACITY);
            final long tailBefore = ring.getLong(TAIL);
            try
            {
                for (int i = 0; i < 8; i++)
                {
                    writer.offer(1, src, 0, r.nextInt(maxPayload + 1));
                }
            }
            catch (final ShmCorruptionException e)
            {
                assertEquals(tailBefore, ring.getLong(TAIL), "seed " + seed + ": nothing published after a refusal");
            }
            catch (final RuntimeException e)
            {
                throw new AssertionError("seed " + seed + ": untyped " + e, e);
            }
        }
    }

    /** Header fields scribbled after formatting: attaching refuses with a typed error or yields the same layout. */
    @Test
    void headerValidationOfGarbageThrowsOnlyShmCorruption() throws Exception
    {
        final long regionSize = 1L << 20;
        final SharedRegion.FormatParams params = new SharedRegion.FormatParams(4096, 2, 4096, 16);
        final ByteBuffer formatted = ByteBuffer.allocateDirect((int)regionSize);
        final RegionLayout expected = SharedRegion.formatOrAttach(regionSize, mapperOver(formatted), params, 1, 10)
            .layout();
        final int[] fields = {RegionHeaderDescriptor.LAYOUT_VERSION_OFFSET, RegionHeaderDescriptor.HEADER_LENGTH_OFFSET,
            RegionHeaderDescriptor.REGION_SIZE_OFFSET, RegionHeaderDescriptor.PAGE_SIZE_OFFSET,
            RegionHeaderDescriptor.MAX_PEERS_OFFSET, RegionHeaderDescriptor.RING_CAPACITY_OFFSET,
            RegionHeaderDescriptor.FORMAT_STATE_OFFSET, RegionHeaderDescriptor.PEER_TABLE_OFFSET_OFFSET,
            RegionHeaderDescriptor.RING_AREA_OFFSET_OFFSET, RegionHeaderDescriptor.RING_STRIDE_OFFSET,
            RegionHeaderDescriptor.PAGE_TABLE_OFFSET_OFFSET, RegionHeaderDescriptor.FENCE_TABLE_OFFSET_OFFSET,
            RegionHeaderDescriptor.FENCE_SLOTS_OFFSET, RegionHeaderDescriptor.POOL_OFFSET_OFFSET,
            RegionHeaderDescriptor.POOL_PAGES_OFFSET};
        final byte[] pristine = new byte[RegionHeaderDescriptor.HEADER_LENGTH];
        formatted.get(0, pristine);
        int refused = 0;
        for (int seed = 0; seed < ROUNDS; seed++)
        {
            final Random r = new Random(seed);
            formatted.put(0, pristine);
            final MemoryWindow header = new MemoryWindow(formatted.slice(0, RegionHeaderDescriptor.HEADER_LENGTH));
            for (int i = 1 + r.nextInt(3); i > 0; i--)
            {
                final int field = fields[r.nextInt(fields.length)];
                final long value = r.nextInt(3) == 0 ? garbage(r) : header.getLong(field & ~7) + r.nextInt(9) - 4;
                if ((field & 7) == 0 && r.nextBoolean())
                {
                    header.putLong(field, value);
                }
                else
                {
                    header.putInt(field, (int)value);
                }
            }
            try
            {
                final SharedRegion attached = SharedRegion.formatOrAttach(regionSize, mapperOver(formatted), params, 2,
                    10);
                // fence_slots may differ from the formatter's when the 64 KiB pool alignment absorbs the change:
                // the header is then self-consistent, which is all a peer can check (ABI.md "Attaching").
                final RegionLayout l = attached.layout();
                assertEquals(RegionLayout.compute(regionSize, l.pageSize(), l.maxPeers(), l.ringCapacity(),
                    l.fenceSlots()), l, "seed " + seed + ": an accepted header is the layout its parameters imply");
                assertTrue(l.poolOffset() + l.poolBytes() <= regionSize, "seed " + seed + ": inside the region");
                assertEquals(expected.poolOffset(), l.poolOffset(), "seed " + seed + ": same pool");
            }
            catch (final ShmCorruptionException e)
            {
                refused++;
            }
            catch (final RuntimeException e)
            {
                throw new AssertionError("seed " + seed + ": untyped " + e, e);
            }
        }
        assertTrue(refused > ROUNDS / 2, "most scribbles are refused: " + refused);
    }

    private static SharedRegion.Mapper mapperOver(final ByteBuffer region)
    {
        return (offset, length) -> new MemoryWindow(region.slice((int)offset, (int)length));
    }

    /** Another peer scribbles the page table: queries stay in bounds, allocation only takes free entries. */
    @Test
    void pagePoolOnGarbagePageTableStaysInBounds()
    {
        final RegionLayout layout = RegionLayout.compute(1L << 20, 4096, 2, 4096, 16);
        final int pages = (int)layout.poolPages();
        for (int seed = 0; seed < 2_000; seed++)
        {
            final Random r = new Random(seed);
            final MemoryWindow table = window(pages * PageTableDescriptor.ENTRY_LENGTH);
            final PagePool pool = new PagePool(table, layout, 0, 0x1234);
            final long own = pool.allocate(4096L * (1 + r.nextInt(4)));
            for (int i = r.nextInt(pages); i > 0; i--)
            {
                table.putLong(r.nextInt(pages) * PageTableDescriptor.ENTRY_LENGTH, garbage(r));
            }
            try
            {
                for (int i = 0; i < 32; i++)
                {
                    final long offset = r.nextBoolean() ? garbage(r) :
                        layout.poolOffset() + (long)r.nextInt(pages + 2) * layout.pageSize();
                    pool.isOwnedBy(offset, garbage(r), r.nextInt(4) - 1);
                }
                final long got = pool.allocate(4096L * (1 + r.nextInt(8)));
                if (got >= 0)
                {
                    assertTrue(pool.isOwnedBy(got, 4096, 0), "seed " + seed + ": allocated pages are ours");
                    assertTrue(pool.free(got));
                }
                if (own >= 0)
                {
                    pool.free(own);
                }
                pool.reclaimSession(1, r.nextLong(), (o, l) -> assertTrue(o >= layout.poolOffset() &&
                    o + l <= layout.poolOffset() + layout.poolBytes()));
                final long free = pool.freeBytes();
                assertTrue(free >= 0 && free <= layout.poolBytes());
            }
            catch (final RuntimeException e)
            {
                throw new AssertionError("seed " + seed + ": untyped " + e, e);
            }
        }
    }

    /** Another peer scribbles the fence table: ownership checks stay in bounds for any index a message names. */
    @Test
    void fencePoolOnGarbageFenceTableStaysInBounds()
    {
        final RegionLayout layout = RegionLayout.compute(1L << 20, 4096, 2, 4096, 16);
        for (int seed = 0; seed < 2_000; seed++)
        {
            final Random r = new Random(seed);
            final MemoryWindow table = window(layout.fenceSlots() * FenceSlotDescriptor.SLOT_LENGTH);
            final FencePool fences = new FencePool(table, layout, 0, 0x1234);
            final int own = fences.allocate();
            for (int i = r.nextInt(layout.fenceSlots() * 8); i > 0; i--)
            {
                table.putLong(r.nextInt(layout.fenceSlots() * FenceSlotDescriptor.SLOT_LENGTH / 8) * 8, garbage(r));
            }
            try
            {
                for (int i = 0; i < 32; i++)
                {
                    final int index = (int)garbage(r);
                    fences.isOwnedBy(index, r.nextInt(4) - 1);
                    fences.isOwnedBy(index, r.nextInt(4) - 1, r.nextLong());
                }
                final int got = fences.allocate();
                if (got >= 0)
                {
                    assertTrue(fences.isOwnedBy(got, 0, 0x1234), "seed " + seed + ": allocated slot is ours");
                    assertTrue(fences.free(got));
                }
                assertTrue(fences.free(own), "seed " + seed + ": our own slot is always freeable");
                fences.reclaimSession(1, r.nextLong());
                final int free = fences.freeSlots();
                assertTrue(free >= 0 && free <= layout.fenceSlots());
            }
            catch (final RuntimeException e)
            {
                throw new AssertionError("seed " + seed + ": untyped " + e, e);
            }
        }
    }
}
