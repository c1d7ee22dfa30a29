package org.hyperdmabuf.hv.shm;

import edu.umd.cs.findbugs.annotations.SuppressFBWarnings;

import java.nio.ByteBuffer;

import static org.hyperdmabuf.hv.shm.RecordDescriptor.HEADER_LENGTH;
import static org.hyperdmabuf.hv.shm.RecordDescriptor.LENGTH_OFFSET;
import static org.hyperdmabuf.hv.shm.RecordDescriptor.PADDING_TYPE;
import static org.hyperdmabuf.hv.shm.RecordDescriptor.TYPE_OFFSET;

/**
 * Producer side of an SPSC ring. The tail lives in private memory and is published with a release store
 * after the record is written (ready-flag-last); the consumer's head is the only value read from shared
 * memory, and it is validated before use. Not thread-safe: one producer.
 */
public final class RingWriter
{
    private final MemoryWindow ring;
    private final int capacity;
    private final int mask;
    private final int maxRecord;
    private final int tailIndex;
    private final int headIndex;
    private long tail;

    /** Attaches to a ring window (capacity + trailer), continuing at the tail found there. */
    @SuppressFBWarnings(value = "EI_EXPOSE_REP2",
        justification = "the ring lives in shared memory: the writer appends records in place")
    public RingWriter(final MemoryWindow ring, final int capacity)
    {
        this.ring = ring;
        this.capacity = capacity;
        this.mask = capacity - 1;
        this.maxRecord = RingDescriptor.maxRecordLength(capacity);
        this.tailIndex = capacity + RingDescriptor.TAIL_OFFSET;
        this.headIndex = capacity + RingDescriptor.HEAD_OFFSET;
        this.tail = ring.getLongAcquire(tailIndex);
    }

    public int maxPayloadLength()
    {
        return maxRecord - HEADER_LENGTH;
    }

    /**
     * Appends one record with {@code length} bytes of {@code src} at {@code srcIndex}.
     * Returns false if the ring is full (nothing written).
     *
     * @throws ShmCorruptionException if the consumer's head is impossible (the peer scribbled on it).
     */
    public boolean offer(final int type, final ByteBuffer src, final int srcIndex, final int length)
        throws ShmCorruptionException
    {
        final int recordLength = HEADER_LENGTH + length;
        if (type <= 0 || length < 0 || recordLength > maxRecord)
        {
            throw new IllegalArgumentException("record type=" + type + " length=" + recordLength + " max=" + maxRecord);
        }
        final long head = ring.getLongAcquire(headIndex);
        final long used = tail - head;
        // The tail is private, but a new writer took it from shared memory: check its alignment too.
        if (used < 0 || used > capacity || ((head | tail) & (RecordDescriptor.ALIGNMENT - 1)) != 0)
        {
            throw new ShmCorruptionException("ring head=" + head + " inconsistent with tail=" + tail);
        }
        final int aligned = RecordDescriptor.align(recordLength);
        int index = (int)(tail & mask);
        final int toEnd = capacity - index;
        final int padding = aligned > toEnd ? toEnd : 0;
        if (aligned + padding > capacity - used)
        {
            return false;
        }
        if (padding > 0)
        {
            ring.putInt(index + LENGTH_OFFSET, padding);
            ring.putInt(index + TYPE_OFFSET, PADDING_TYPE);
            index = 0;
        }
        ring.putInt(index + LENGTH_OFFSET, recordLength);
        ring.putInt(index + TYPE_OFFSET, type);
        ring.putBytes(index + HEADER_LENGTH, src, srcIndex, length);
        tail += padding + aligned;
        ring.putLongRelease(tailIndex, tail);
        return true;
    }

    /**
     * Takes over the ring as its producer for {@code sessionId} (ABI.md "Joining"): continues at the tail found
     * there when head and tail are consistent, so bytes a live consumer may still be reading are never
     * overwritten, and only resets a ring that fails validation. Returns true if the ring was continued.
     */
    public boolean attach(final long sessionId)
    {
        return attach(sessionId, true);
    }

    /**
     * As {@link #attach(long)} for our own next session after a resync: a {@code dropped_session} we wrote stays,
     * since the consumer it names was declared down by us all the same.
     */
    public boolean renew(final long sessionId)
    {
        return attach(sessionId, false);
    }

    private boolean attach(final long sessionId, final boolean clearDropped)
    {
        final long head = ring.getLongAcquire(headIndex);
        final long used = tail - head;
        if (used < 0 || used > capacity || ((head | tail) & (RecordDescriptor.ALIGNMENT - 1)) != 0)
        {
            reset(sessionId);
            return false;
        }
        publishSession(sessionId, clearDropped);
        return true;
    }

    /** Restarts the ring empty (only while the consumer is known not to read it). */
    public void reset(final long sessionId)
    {
        tail = ring.getLongAcquire(headIndex);
        if ((tail & (RecordDescriptor.ALIGNMENT - 1)) != 0 || tail < 0)
        {
            tail = 0;
            ring.putLongRelease(headIndex, 0);
        }
        publishSession(sessionId, true);
    }

    /** Tells the consumer that its session {@code consumerSession} was declared down by us (ABI.md "Resync"). */
    public void markDropped(final long consumerSession)
    {
        ring.putLongRelease(capacity + RingDescriptor.DROPPED_SESSION_OFFSET, consumerSession);
    }

    private void publishSession(final long sessionId, final boolean clearDropped)
    {
        ring.putLong(capacity + RingDescriptor.PRODUCER_SESSION_OFFSET, sessionId);
        if (clearDropped)
        {
            ring.putLong(capacity + RingDescriptor.DROPPED_SESSION_OFFSET, 0); // a new daemon has dropped nobody
        }
        ring.putLongRelease(tailIndex, tail);
    }
}
