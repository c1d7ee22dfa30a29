package org.hyperdmabuf.hv.shm;

/**
 * Layout of one single-producer single-consumer ring (ABI.md "Rings"): {@code capacity} bytes of records
 * (a power of two) followed by a 256-byte trailer. The producer owns {@code tail}, the consumer owns
 * {@code head}; each sits on its own 128-byte block so the two sides never share a cache line (nor an
 * adjacent-line prefetch pair). Both are byte counters that only grow; index = counter &amp; (capacity - 1).
 * <pre>
 *  +--------------------------------------------------+
 *  |         records, capacity bytes (2^n)            |  0
 *  +--------------------------------------------------+
 *  | tail u64 | producer_session u64 |                |  capacity + 0
 *  | dropped_session u64 | pad to 128                 |  capacity + 16
 *  +--------------------------------------------------+
 *  | head u64 | consumer_session u64 | pad to 128     |  capacity + 128
 *  +--------------------------------------------------+
 * </pre>
 * {@code dropped_session} is the consumer session the producer declared down (0: none): how a consumer that
 * was stalled learns that it must rejoin with a new session (ABI.md "Resync").
 * The ring from peer {@code i} to peer {@code j} is at
 * {@code ring_area_offset + (i * max_peers + j) * ring_stride}, {@code ring_stride = capacity + 256}.
 */
public final class RingDescriptor
{
    public static final int TRAILER_LENGTH = 256;
    public static final int TAIL_OFFSET = 0;
    public static final int PRODUCER_SESSION_OFFSET = 8;
    public static final int DROPPED_SESSION_OFFSET = 16;
    public static final int HEAD_OFFSET = 128;
    public static final int CONSUMER_SESSION_OFFSET = 136;
    public static final int MIN_CAPACITY = 4096;
    public static final int MAX_CAPACITY = 1 << 24;

    private RingDescriptor()
    {
    }

    public static int stride(final int capacity)
    {
        return capacity + TRAILER_LENGTH;
    }

    /** The largest record (header included) a ring of this capacity accepts: a quarter of it. */
    public static int maxRecordLength(final int capacity)
    {
        return capacity / 4;
    }

    public static void checkCapacity(final int capacity)
    {
        if (capacity < MIN_CAPACITY || capacity > MAX_CAPACITY || Integer.bitCount(capacity) != 1)
        {
            throw new IllegalArgumentException("ring capacity=" + capacity + " must be a power of two in [" +
                MIN_CAPACITY + ", " + MAX_CAPACITY + "]");
        }
    }
}
