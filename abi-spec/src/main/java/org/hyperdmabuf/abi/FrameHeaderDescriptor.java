package org.hyperdmabuf.abi;

/**
 * The per-frame header of a frame stream (ABI.md "Frame headers"): 512 bytes inside each buffer of the stream,
 * at the byte offset the export's tag {@value #TAG} names. It is in the buffer's own pages, so it exists on every
 * backend (the fence slot has no room for it on ivshmem and is a separate page on Xen). All integers are
 * little-endian.
 * <pre>
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                      sequence (u64)                           |   0
 *  +---------------------------------------------------------------+
 *  |                       pts_ns (u64)                            |   8
 *  +---------------------------------------------------------------+
 *  |                     duration_ns (u64)                         |  16
 *  +---------------------------------------------------------------+
 *  |                    payload_length (u64)                       |  24
 *  +---------------------------------------------------------------+
 *  |                         flags                                 |  32
 *  +---------------------------------------------------------------+
 *  |                     private_length                            |  36
 *  +---------------------------------------------------------------+
 *  |                   metadata_revision                           |  40
 *  +---------------------------------------------------------------+
 *  |                   reserved (20 bytes)                         |  44
 *  +---------------------------------------------------------------+
 *  |                private_data (256 bytes)                       |  64
 *  +---------------------------------------------------------------+
 *  |                   reserved (192 bytes)                        | 320
 *  +---------------------------------------------------------------+
 * </pre>
 * The acquire value of the buffer's fence is the header's ready flag: the producer writes it before it signals
 * acquire = round + 1, and the consumer reads it after its wait saw that value, copies it once and validates the
 * copy ({@link #valid}). {@code pts_ns} is CLOCK_REALTIME nanoseconds since the Unix epoch (0: none).
 * {@code metadata_revision} is the revision of the export's metadata the frame was written for (0: not stated);
 * a consumer holding an older revision waits for the buffer's "change" before it interprets the payload.
 */
public final class FrameHeaderDescriptor
{
    /** The export tag whose decimal value is the header's byte offset in the buffer. */
    public static final String TAG = "frame_header";
    public static final int HEADER_LENGTH = 512;
    public static final int ALIGNMENT = 64;
    public static final int SEQUENCE_OFFSET = 0;
    public static final int PTS_OFFSET = 8;
    public static final int DURATION_OFFSET = 16;
    public static final int PAYLOAD_LENGTH_OFFSET = 24;
    public static final int FLAGS_OFFSET = 32;
    public static final int PRIVATE_LENGTH_OFFSET = 36;
    /** u32: the export's metadata revision the frame was written for; 0 = not stated (older producers). */
    public static final int METADATA_REVISION_OFFSET = 40;
    public static final int PRIVATE_DATA_OFFSET = 64;
    /** Bytes a consumer copies: the defined fields (the reserved tail is never read). */
    public static final int DEFINED_LENGTH = 320;
    public static final int PRIVATE_MAX = 256;
    /** Decodable without earlier frames. */
    public static final int FLAG_KEY_FRAME = 1;
    /** Frames are missing before this one, or its timestamps jump. */
    public static final int FLAG_DISCONTINUITY = 1 << 1;
    /** The last frame of the stream. */
    public static final int FLAG_END_OF_STREAM = 1 << 2;
    /** Bits a producer may set; readers ignore the others. */
    public static final int FLAGS_DEFINED = 0x7;

    private FrameHeaderDescriptor()
    {
    }

    /** Where producers put the header: the first aligned offset after the content. */
    public static long offsetFor(final long contentSize)
    {
        return (contentSize + ALIGNMENT - 1) & -(long)ALIGNMENT;
    }

    /**
     * Whether a header may sit at {@code offset} of a buffer of {@code bufferLength} bytes whose metadata.size is
     * {@code contentSize}: aligned, after the content, inside the buffer.
     */
    public static boolean placementValid(final long offset, final long contentSize, final long bufferLength)
    {
        return offset >= 0 && offset % ALIGNMENT == 0 && offset >= contentSize && offset <= bufferLength &&
            bufferLength - offset >= HEADER_LENGTH;
    }

    /** Whether a private copy of a header is acceptable as frame {@code sequence} of frames of {@code contentSize}. */
    public static boolean valid(final long sequence, final long headerSequence, final long payloadLength,
        final int privateLength, final long contentSize)
    {
        return headerSequence == sequence && Long.compareUnsigned(payloadLength, contentSize) <= 0 &&
            Integer.compareUnsigned(privateLength, PRIVATE_MAX) <= 0;
    }
}
