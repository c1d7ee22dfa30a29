package org.hyperdmabuf.hv.shm;

/**
 * Header of a record in a ring (ABI.md "Rings"). Records start 8-byte aligned; {@code length} counts the
 * header and payload but not the alignment padding. A record never wraps: when it does not fit before the
 * end of the buffer the producer writes a padding record ({@code type = -1}) covering the rest.
 * <pre>
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                     length (header + payload)                 |
 *  +---------------------------------------------------------------+
 *  |    type (1 = PeerMessage, 2 = SessionStart, -1 = padding)     |
 *  +---------------------------------------------------------------+
 *  |                      payload, length - 8 bytes               ...
 *  +---------------------------------------------------------------+
 * </pre>
 * A {@code SESSION_START} record (backend level, never delivered to the daemon) is the first record a producer
 * writes on a ring in each of its sessions and again whenever it starts addressing a new session of the
 * consumer. Its payload names both: records are delivered only while the last one seen names the producer's
 * current session (from its peer slot) and the consumer's own session, so records written by an earlier
 * incarnation of either side are discarded rather than taken for the current one.
 * <pre>
 *  +---------------------------------------------------------------+
 *  |              producer session_id u64                          |  8 (payload 0)
 *  +---------------------------------------------------------------+
 *  |              consumer session_id u64 (as the producer saw it) | 16 (payload 8)
 *  +---------------------------------------------------------------+
 * </pre>
 */
public final class RecordDescriptor
{
    public static final int HEADER_LENGTH = 8;
    public static final int ALIGNMENT = 8;
    public static final int LENGTH_OFFSET = 0;
    public static final int TYPE_OFFSET = 4;
    public static final int PADDING_TYPE = -1;
    /** Payload is one protobuf {@code hyperdmabuf.v1.PeerMessage}. */
    public static final int PEER_MESSAGE_TYPE = 1;
    /** Payload names the producer's session and the consumer session it addresses (see above). */
    public static final int SESSION_START_TYPE = 2;
    /** Payload bytes of a SESSION_START record in ABI v1; a longer payload is accepted, its tail ignored. */
    public static final int SESSION_START_LENGTH = 16;
    public static final int SESSION_START_PRODUCER_OFFSET = 0;
    public static final int SESSION_START_CONSUMER_OFFSET = 8;

    private RecordDescriptor()
    {
    }

    public static int align(final int length)
    {
        return (length + ALIGNMENT - 1) & -ALIGNMENT;
    }
}
