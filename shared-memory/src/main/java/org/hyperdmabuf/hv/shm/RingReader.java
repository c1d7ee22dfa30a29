package org.hyperdmabuf.hv.shm;

import edu.umd.cs.findbugs.annotations.SuppressFBWarnings;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import static org.hyperdmabuf.hv.shm.RecordDescriptor.HEADER_LENGTH;
import static org.hyperdmabuf.hv.shm.RecordDescriptor.LENGTH_OFFSET;
import static org.hyperdmabuf.hv.shm.RecordDescriptor.PADDING_TYPE;
import static org.hyperdmabuf.hv.shm.RecordDescriptor.TYPE_OFFSET;

/**
 * Consumer side of an SPSC ring. Every value the producer wrote (tail, record length and type) is read
 * once, validated, and the payload is copied to private scratch before the handler sees it, so a producer
 * that changes the bytes after publication cannot change what was validated. Not thread-safe: one consumer.
 */
public final class RingReader
{
    private final MemoryWindow ring;
    private final int capacity;
    private final int mask;
    private final int maxRecord;
    private final int tailIndex;
    private final int headIndex;
    private final ByteBuffer scratch;
    private long head;

    @SuppressFBWarnings(value = "EI_EXPOSE_REP2",
        justification = "the ring lives in shared memory: the reader consumes records in place")
    public RingReader(final MemoryWindow ring, final int capacity)
    {
        this.ring = ring;
        this.capacity = capacity;
        this.mask = capacity - 1;
        this.maxRecord = RingDescriptor.maxRecordLength(capacity);
        this.tailIndex = capacity + RingDescriptor.TAIL_OFFSET;
        this.headIndex = capacity + RingDescriptor.HEAD_OFFSET;
        this.scratch = ByteBuffer.allocateDirect(maxRecord).order(ByteOrder.LITTLE_ENDIAN);
        this.head = ring.getLongAcquire(headIndex);
    }

    /** Receives one record; the payload is valid only during the call. */
    @FunctionalInterface
    public interface RecordHandler
    {
        void onRecord(int type, ByteBuffer payload, int length);
    }

    /** Like {@link RecordHandler}, but may end the batch after a record (which is consumed either way). */
    @FunctionalInterface
    public interface ControlledRecordHandler
    {
        /** Returns false to stop after this record, leaving the following ones in the ring for a later poll. */
        boolean onRecord(int type, ByteBuffer payload, int length);
    }

    /**
     * Delivers up to {@code limit} records, then publishes the new head. Returns the number delivered.
     *
     * @throws ShmCorruptionException if the producer wrote an impossible tail or record; the ring must not
     *                                be read again.
     */
    public int poll(final RecordHandler handler, final int limit) throws ShmCorruptionException
    {
        return controlledPoll((type, payload, length) ->
        {
            handler.onRecord(type, payload, length);
            return true;
        }, limit);
    }

    /**
     * Delivers up to {@code limit} records, stopping early after a record for which {@code handler} returns
     * false, then publishes the new head. Returns the number delivered.
     *
     * @throws ShmCorruptionException if the producer wrote an impossible tail or record; the ring must not
     *                                be read again.
     */
    public int controlledPoll(final ControlledRecordHandler handler, final int limit) throws ShmCorruptionException
    {
        final long tail = ring.getLongAcquire(tailIndex);
        if (tail == head)
        {
            return 0;
        }
        final long available = tail - head;
        // The head is private, but a new reader took it from shared memory: check its alignment too.
        if (available < 0 || available > capacity || ((tail | head) & (RecordDescriptor.ALIGNMENT - 1)) != 0)
        {
            throw new ShmCorruptionException("ring tail=" + tail + " inconsistent with head=" + head);
        }
        int delivered = 0;
        try
        {
            while (head < tail && delivered < limit)
            {
                final int index = (int)(head & mask);
                final int length = ring.getInt(index + LENGTH_OFFSET);
                final int type = ring.getInt(index + TYPE_OFFSET);
                if (type == PADDING_TYPE)
                {
                    if (length != capacity - index || length > tail - head)
                    {
                        throw new ShmCorruptionException("padding record length=" + length + " at index=" + index);
                    }
                    head += length;
                    continue;
                }
                final int aligned = RecordDescriptor.align(length);
                if (length < HEADER_LENGTH || length > maxRecord || aligned > tail - head ||
                    index + aligned > capacity || type <= 0)
                {
                    throw new ShmCorruptionException("record length=" + length + " type=" + type + " at index=" +
                        index + " (head=" + head + " tail=" + tail + ")");
                }
                final int payload = length - HEADER_LENGTH;
                ring.getBytes(index + HEADER_LENGTH, scratch, 0, payload);
                head += aligned;
                delivered++;
                if (!handler.onRecord(type, scratch, payload))
                {
                    break;
                }
            }
        }
        finally
        {
            ring.putLongRelease(headIndex, head);
        }
        return delivered;
    }

    /** Discards everything published so far (used when a peer restarts). */
    public void skipToTail(final long sessionId)
    {
        final long tail = ring.getLongAcquire(tailIndex);
        head = (tail & (RecordDescriptor.ALIGNMENT - 1)) == 0 && tail >= 0 ? tail : 0;
        ring.putLong(capacity + RingDescriptor.CONSUMER_SESSION_OFFSET, sessionId);
        ring.putLongRelease(headIndex, head);
    }

    /** The tail the producer published, unvalidated (see {@link #discardTo}). */
    public long publishedTail()
    {
        return ring.getLongAcquire(tailIndex);
    }

    /**
     * Consumes without reading everything up to {@code tail} (a value from {@link #publishedTail}) and publishes
     * the head, if the counters are consistent; used on a ring whose producer broke it, so that what it left
     * behind cannot poison its next session, which continues at the tail. Returns false (nothing changed) if
     * {@code tail} is not a valid position after the head: the next producer then resets the ring anyway.
     */
    public boolean discardTo(final long tail)
    {
        final long available = tail - head;
        if (available < 0 || available > capacity || ((tail | head) & (RecordDescriptor.ALIGNMENT - 1)) != 0)
        {
            return false;
        }
        if (available > 0)
        {
            head = tail;
            ring.putLongRelease(headIndex, head);
        }
        return true;
    }

    public boolean hasPending()
    {
        return ring.getLongAcquire(tailIndex) != head;
    }

    /** The consumer session the producer declared down, 0 if none (written by the other VM: a hint only). */
    public long droppedSession()
    {
        return ring.getLongAcquire(capacity + RingDescriptor.DROPPED_SESSION_OFFSET);
    }
}
