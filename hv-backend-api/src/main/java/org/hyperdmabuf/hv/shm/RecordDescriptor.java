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
 *  |                    type (1 = PeerMessage, -1 = padding)       |
 *  +---------------------------------------------------------------+
 *  |                      payload, length - 8 bytes               ...
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

    private RecordDescriptor()
    {
    }

    public static int align(final int length)
    {
        return (length + ALIGNMENT - 1) & -ALIGNMENT;
    }
}
