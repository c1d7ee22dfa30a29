package org.hyperdmabuf.hv.shm;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.hyperdmabuf.hv.shm.RecordDescriptor.HEADER_LENGTH;
import static org.hyperdmabuf.hv.shm.RecordDescriptor.PADDING_TYPE;
import static org.hyperdmabuf.hv.shm.RecordDescriptor.PEER_MESSAGE_TYPE;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/** RingWriter/RingReader over one ring window, including what a hostile producer or consumer can write. */
class RingTest
{
    private static final int CAPACITY = 4096;
    private static final int TAIL = CAPACITY + RingDescriptor.TAIL_OFFSET;
    private static final int HEAD = CAPACITY + RingDescriptor.HEAD_OFFSET;

    private MemoryWindow ring;
    private RingWriter writer;
    private RingReader reader;
    private final List<byte[]> received = new ArrayList<>();
    private final RingReader.RecordHandler collect = (type, payload, length) ->
    {
        assertEquals(PEER_MESSAGE_TYPE, type);
        final byte[] bytes = new byte[length];
        payload.get(0, bytes, 0, length);
        received.add(bytes);
    };

    @BeforeEach
    void createRing()
    {
        ring = new MemoryWindow(ByteBuffer.allocateDirect(RingDescriptor.stride(CAPACITY)));
        writer = new RingWriter(ring, CAPACITY);
        reader = new RingReader(ring, CAPACITY);
    }

    private static ByteBuffer payload(final int seq, final int length)
    {
        final ByteBuffer b = ByteBuffer.allocate(length).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < length; i++)
        {
            b.put(i, (byte)(seq * 7 + i));
        }
        if (length >= 4)
        {
            b.putInt(0, seq);
        }
        return b;
    }

    private boolean offer(final int seq, final int length) throws ShmCorruptionException
    {
        return writer.offer(PEER_MESSAGE_TYPE, payload(seq, length), 0, length);
    }

    @Test
    void deliversRecordsInOrder() throws Exception
    {
        for (int i = 0; i < 10; i++)
        {
            assertTrue(offer(i, 4 + i * 10));
        }
        assertTrue(reader.hasPending());
        assertEquals(10, reader.poll(collect, 100));
        assertFalse(reader.hasPending());
        for (int i = 0; i < 10; i++)
        {
            assertArrayEquals(payload(i, 4 + i * 10).array(), received.get(i));
        }
        assertEquals(0, reader.poll(collect, 100), "nothing more");
        assertEquals(ring.getLong(TAIL), ring.getLong(HEAD), "head published up to tail");
    }

    @Test
    void pollHonoursTheLimit() throws Exception
    {
        for (int i = 0; i < 5; i++)
        {
            assertTrue(offer(i, 8));
        }
        assertEquals(2, reader.poll(collect, 2));
        assertEquals(3, reader.poll(collect, 10));
        assertEquals(5, received.size());
    }

    @Test
    void wrapsAroundWithPaddingManyTimes() throws Exception
    {
        final Random random = new Random(42);
        final List<byte[]> expected = new ArrayList<>();
        long bytes = 0;
        int paddings = 0;
        while (bytes < 50L * CAPACITY)
        {
            final int length = random.nextInt(writer.maxPayloadLength() + 1);
            final long tailBefore = ring.getLong(TAIL);
            if (!offer(expected.size(), length))
            {
                assertTrue(reader.poll(collect, 1 + random.nextInt(5)) > 0, "a full ring drains");
                continue;
            }
            if (ring.getLong(TAIL) - tailBefore > RecordDescriptor.align(HEADER_LENGTH + length))
            {
                paddings++;
            }
            expected.add(payload(expected.size(), length).array());
            bytes += length;
            if (random.nextInt(3) == 0)
            {
                reader.poll(collect, 1 + random.nextInt(5));
            }
        }
        while (reader.poll(collect, 100) > 0)
        {
            assertTrue(received.size() <= expected.size());
        }
        assertEquals(expected.size(), received.size());
        for (int i = 0; i < expected.size(); i++)
        {
            assertArrayEquals(expected.get(i), received.get(i), "record " + i);
        }
        assertTrue(ring.getLong(TAIL) > 10L * CAPACITY, "the ring wrapped many times");
        assertTrue(paddings > 5, "records that did not fit before the end were preceded by padding: " + paddings);
    }

    @Test
    void fullRingRefusesWithoutWritingAndAcceptsAfterDrain() throws Exception
    {
        int accepted = 0;
        while (offer(accepted, 100))
        {
            accepted++;
        }
        assertTrue(accepted > 10);
        final long tail = ring.getLong(TAIL);
        final byte[] before = new byte[CAPACITY];
        ring.buffer().get(0, before);
        assertFalse(offer(999, 100), "still full");
        final byte[] after = new byte[CAPACITY];
        ring.buffer().get(0, after);
        assertArrayEquals(before, after, "a refused offer writes nothing");
        assertEquals(tail, ring.getLong(TAIL), "a refused offer does not move the tail");

        assertEquals(1, reader.poll(collect, 1));
        assertTrue(offer(accepted, 100), "room after the reader drained a record");
        assertEquals(accepted, reader.poll(collect, 1000));
        for (int i = 0; i <= accepted; i++)
        {
            assertEquals(i, ByteBuffer.wrap(received.get(i)).order(ByteOrder.LITTLE_ENDIAN).getInt(0));
        }
    }

    @Test
    void maxPayloadIsAQuarterOfTheRingAndLargerIsRejected() throws Exception
    {
        assertEquals(CAPACITY / 4 - HEADER_LENGTH, writer.maxPayloadLength());
        assertTrue(offer(1, writer.maxPayloadLength()));
        assertThrows(IllegalArgumentException.class, () -> offer(2, writer.maxPayloadLength() + 1));
        assertThrows(IllegalArgumentException.class, () -> writer.offer(0, payload(1, 8), 0, 8));
        assertThrows(IllegalArgumentException.class, () -> writer.offer(PADDING_TYPE, payload(1, 8), 0, 8));
        assertEquals(1, reader.poll(collect, 10));
    }

    @Test
    void resetAndSkipToTailAgreeOnAnEmptyRing() throws Exception
    {
        for (int i = 0; i < 5; i++)
        {
            assertTrue(offer(i, 50));
        }
        // The consumer restarts: everything published so far is discarded.
        reader = new RingReader(ring, CAPACITY);
        reader.skipToTail(7);
        assertEquals(0, reader.poll(collect, 100));
        assertEquals(7, ring.getLong(CAPACITY + RingDescriptor.CONSUMER_SESSION_OFFSET));
        // The producer restarts: it continues at the consumer's head.
        writer = new RingWriter(ring, CAPACITY);
        writer.reset(9);
        assertEquals(9, ring.getLong(CAPACITY + RingDescriptor.PRODUCER_SESSION_OFFSET));
        assertTrue(offer(42, 10));
        assertEquals(1, reader.poll(collect, 100));
        assertEquals(42, ByteBuffer.wrap(received.get(0)).order(ByteOrder.LITTLE_ENDIAN).getInt(0));
    }

    // ---- hostile producer: every value it wrote is checked before use ----

    @Test
    void tailBeyondCapacityIsCorruption()
    {
        ring.putLong(TAIL, CAPACITY + 8);
        assertCorrupt();
    }

    @Test
    void tailBehindHeadIsCorruption() throws Exception
    {
        assertTrue(offer(1, 16));
        assertEquals(1, reader.poll(collect, 1));
        received.clear();
        ring.putLong(TAIL, 0);
        assertCorrupt();
    }

    @Test
    void misalignedTailIsCorruption()
    {
        ring.putLong(TAIL, 12);
        assertCorrupt();
    }

    @Test
    void recordLengthTooLargeIsCorruption()
    {
        writeRecord(0, CAPACITY / 4 + 8, PEER_MESSAGE_TYPE);
        ring.putLong(TAIL, CAPACITY / 2);
        assertCorrupt();
    }

    @Test
    void recordLongerThanPublishedIsCorruption()
    {
        writeRecord(0, 64, PEER_MESSAGE_TYPE);
        ring.putLong(TAIL, 32);
        assertCorrupt();
    }

    @Test
    void negativeRecordLengthIsCorruption()
    {
        writeRecord(0, -8, PEER_MESSAGE_TYPE);
        ring.putLong(TAIL, 64);
        assertCorrupt();
        writeRecord(0, Integer.MIN_VALUE, PEER_MESSAGE_TYPE);
        assertCorruptFresh();
    }

    @Test
    void recordShorterThanItsHeaderIsCorruption()
    {
        writeRecord(0, 4, PEER_MESSAGE_TYPE);
        ring.putLong(TAIL, 64);
        assertCorrupt();
    }

    @Test
    void badRecordTypeIsCorruption()
    {
        writeRecord(0, 16, 0);
        ring.putLong(TAIL, 16);
        assertCorrupt();
        writeRecord(0, 16, -7);
        assertCorruptFresh();
    }

    @Test
    void paddingThatDoesNotReachTheEndIsCorruption()
    {
        writeRecord(0, 64, PADDING_TYPE);
        ring.putLong(TAIL, 128);
        assertCorrupt();
    }

    @Test
    void paddingLongerThanPublishedIsCorruption() throws Exception
    {
        // Move head and tail near the end, then publish less than the padding claims.
        final long start = CAPACITY - 64;
        ring.putLong(HEAD, start);
        ring.putLong(TAIL, start);
        reader = new RingReader(ring, CAPACITY);
        writeRecord((int)start, 64, PADDING_TYPE);
        ring.putLong(TAIL, start + 32);
        assertCorrupt();
    }

    @Test
    void recordCrossingTheEndIsCorruption()
    {
        final long start = CAPACITY - 32;
        ring.putLong(HEAD, start);
        reader = new RingReader(ring, CAPACITY);
        writeRecord((int)start, 64, PEER_MESSAGE_TYPE);
        ring.putLong(TAIL, start + 64);
        assertCorrupt();
    }

    @Test
    void validPaddingIsSkipped() throws Exception
    {
        final long start = CAPACITY - 64;
        ring.putLong(HEAD, start);
        reader = new RingReader(ring, CAPACITY);
        writeRecord((int)start, 64, PADDING_TYPE);
        writeRecord(0, HEADER_LENGTH + 4, PEER_MESSAGE_TYPE);
        ring.putInt(HEADER_LENGTH, 0x01020304);
        ring.putLong(TAIL, start + 64 + 16);
        assertEquals(1, assertDoesNotCorrupt());
        assertEquals(4, received.get(0).length);
    }

    // ---- a producer restarting while the consumer lives ----

    @Test
    void aRestartedWriterContinuesAtAConsistentTailWithoutTouchingUnreadBytes() throws Exception
    {
        for (int i = 0; i < 5; i++)
        {
            assertTrue(offer(i, 40));
        }
        assertEquals(2, reader.poll(collect, 2), "the consumer read some, three are still queued");
        final long tail = ring.getLong(TAIL);
        final byte[] before = new byte[CAPACITY];
        ring.buffer().get(0, before);
        writer = new RingWriter(ring, CAPACITY);
        assertTrue(writer.attach(0x5E55_1011L), "a consistent ring is continued");
        assertEquals(tail, ring.getLong(TAIL), "the tail is not moved back");
        assertEquals(0x5E55_1011L, ring.getLong(CAPACITY + RingDescriptor.PRODUCER_SESSION_OFFSET));
        final byte[] after = new byte[CAPACITY];
        ring.buffer().get(0, after);
        assertArrayEquals(before, after, "no record byte changed");
        assertTrue(offer(100, 24));
        assertEquals(4, assertDoesNotCorrupt(), "the old records, then the new one");
        assertEquals(100, ByteBuffer.wrap(received.get(5)).order(ByteOrder.LITTLE_ENDIAN).getInt(0));
    }

    @Test
    void aRestartedWriterResetsOnlyAnInconsistentRing() throws Exception
    {
        assertTrue(offer(1, 16));
        ring.putLong(HEAD, ring.getLong(TAIL) + 64);
        writer = new RingWriter(ring, CAPACITY);
        assertFalse(writer.attach(7), "head ahead of tail fails validation");
        assertEquals(ring.getLong(HEAD), ring.getLong(TAIL), "reset to the consumer's head");
        ring.putLong(HEAD, 12);
        writer = new RingWriter(ring, CAPACITY);
        assertFalse(writer.attach(7), "a misaligned head fails validation");
        assertEquals(0, ring.getLong(HEAD));
        assertEquals(0, ring.getLong(TAIL));
        reader = new RingReader(ring, CAPACITY);
        assertTrue(offer(2, 16));
        assertEquals(1, assertDoesNotCorrupt());
    }

    @Test
    void aControlledPollStopsAfterTheRecordItsHandlerRefuses() throws Exception
    {
        for (int i = 0; i < 6; i++)
        {
            assertTrue(offer(i, 16));
        }
        final List<Integer> seen = new ArrayList<>();
        final RingReader.ControlledRecordHandler stopAtTwo = (type, payload, length) ->
        {
            seen.add(payload.getInt(0));
            return payload.getInt(0) != 2;
        };
        assertEquals(3, reader.controlledPoll(stopAtTwo, 100), "0, 1 and 2 (consumed), then stop");
        assertEquals(List.of(0, 1, 2), seen);
        assertTrue(reader.hasPending());
        assertEquals(3, reader.controlledPoll(stopAtTwo, 100), "the rest on the next poll");
        assertEquals(List.of(0, 1, 2, 3, 4, 5), seen);
        assertFalse(reader.hasPending());
    }

    // ---- hostile consumer ----

    @Test
    void misalignedTailFoundByANewWriterIsCorruption()
    {
        ring.putLong(HEAD, CAPACITY - 8);
        ring.putLong(TAIL, CAPACITY - 3);
        final RingWriter restarted = new RingWriter(ring, CAPACITY);
        assertThrows(ShmCorruptionException.class, () -> restarted.offer(PEER_MESSAGE_TYPE, payload(1, 8), 0, 8));
        assertEquals(CAPACITY - 3, ring.getLong(TAIL), "nothing written");
    }

    @Test
    void misalignedHeadFoundByANewReaderIsCorruption()
    {
        ring.putLong(HEAD, 4);
        ring.putLong(TAIL, 16);
        reader = new RingReader(ring, CAPACITY);
        assertCorrupt();
    }

    @Test
    void headAheadOfTailIsCorruptionForTheWriter() throws Exception
    {
        assertTrue(offer(1, 16));
        ring.putLong(HEAD, 4096);
        assertThrows(ShmCorruptionException.class, () -> offer(2, 16));
        ring.putLong(HEAD, ring.getLong(TAIL) + 8);
        assertThrows(ShmCorruptionException.class, () -> offer(2, 16));
        ring.putLong(HEAD, 4);
        assertThrows(ShmCorruptionException.class, () -> offer(2, 16));
    }

    @Test
    void randomGarbageNeverEscapesAsAnythingButCorruption()
    {
        final Random random = new Random(7);
        for (int round = 0; round < 20_000; round++)
        {
            final ByteBuffer b = ring.buffer();
            for (int k = 0; k < 32; k++)
            {
                final int at = random.nextInt(CAPACITY / 8) * 8;
                b.putLong(at, random.nextInt(4) == 0 ? random.nextLong() :
                    ((long)random.nextInt(8) - 2) << 32 | (random.nextInt(CAPACITY / 2) & ~3));
            }
            final long head = (long)random.nextInt(CAPACITY * 4) & (random.nextBoolean() ? ~7L : ~0L);
            ring.putLong(HEAD, head);
            ring.putLong(TAIL, random.nextBoolean() ? head + random.nextInt(CAPACITY + 64) : random.nextLong());
            final RingReader hostile = new RingReader(ring, CAPACITY);
            try
            {
                hostile.poll((type, payload, length) ->
                {
                    assertTrue(type > 0, "type " + type);
                    assertTrue(length >= 0 && length <= CAPACITY / 4 - HEADER_LENGTH, "length " + length);
                }, 1000);
            }
            catch (final ShmCorruptionException expected)
            {
                // the only acceptable failure
            }
            catch (final RuntimeException e)
            {
                fail("round " + round + ": hostile ring escaped as " + e, e);
            }
            final RingWriter hostileWriter = new RingWriter(ring, CAPACITY);
            try
            {
                hostileWriter.offer(PEER_MESSAGE_TYPE, payload(round, 24), 0, 24);
            }
            catch (final ShmCorruptionException expected)
            {
                // the only acceptable failure
            }
            catch (final RuntimeException e)
            {
                fail("round " + round + ": hostile head escaped as " + e, e);
            }
        }
    }

    private void writeRecord(final int index, final int length, final int type)
    {
        ring.putInt(index + RecordDescriptor.LENGTH_OFFSET, length);
        ring.putInt(index + RecordDescriptor.TYPE_OFFSET, type);
    }

    private void assertCorrupt()
    {
        final long head = ring.getLong(HEAD);
        assertThrows(ShmCorruptionException.class, () -> reader.poll(collect, 100));
        assertTrue(received.isEmpty(), "nothing delivered from a corrupt ring");
        assertEquals(head, ring.getLong(HEAD), "head not moved past a corrupt record");
    }

    private void assertCorruptFresh()
    {
        reader = new RingReader(ring, CAPACITY);
        assertCorrupt();
    }

    private int assertDoesNotCorrupt()
    {
        try
        {
            return reader.poll(collect, 100);
        }
        catch (final ShmCorruptionException e)
        {
            return fail("unexpected corruption: " + e.getMessage());
        }
    }

    @Test
    void discardToSkipsPublishedBytesOnlyWhenTheCountersAreConsistent() throws ShmCorruptionException
    {
        writer.offer(PEER_MESSAGE_TYPE, payload(1, 40), 0, 40);
        final long tail = reader.publishedTail();
        assertTrue(reader.discardTo(tail));
        assertEquals(tail, ring.getLong(HEAD), "the head is published");
        assertFalse(reader.hasPending());
        assertFalse(reader.discardTo(tail + 3), "misaligned");
        assertFalse(reader.discardTo(tail + CAPACITY + 8), "beyond the capacity");
        assertFalse(reader.discardTo(tail - 8), "backwards");
        assertEquals(tail, ring.getLong(HEAD), "a refused discard changes nothing");
        writer.offer(PEER_MESSAGE_TYPE, payload(2, 8), 0, 8);
        assertEquals(1, reader.poll(collect, 10), "reading goes on after the discarded bytes");
        assertEquals(2, java.nio.ByteBuffer.wrap(received.get(0)).order(java.nio.ByteOrder.LITTLE_ENDIAN).getInt(0));
    }
}
