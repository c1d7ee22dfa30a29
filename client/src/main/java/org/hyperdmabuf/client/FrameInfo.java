package org.hyperdmabuf.client;

import edu.umd.cs.findbugs.annotations.SuppressFBWarnings;
import org.hyperdmabuf.abi.FrameHeaderDescriptor;

import java.util.Arrays;

/**
 * The per-frame data of a frame stream (ABI.md "Frame headers"): sequence number, presentation timestamp and
 * duration (CLOCK_REALTIME nanoseconds, 0 = none / unknown), flags, the payload length the frame uses and up to
 * {@value FrameHeaderDescriptor#PRIVATE_MAX} bytes of codec-specific data.
 * <p>
 * Mutable and reused, so a stream allocates nothing per frame: a producer fills one and passes it to
 * {@link FrameProducer#endFrame(FrameInfo, int)}; a consumer reads the one {@link FrameConsumer#frameInfo()}
 * returns, which holds a validated private copy of the current frame's header until its {@code endFrame}.
 */
public final class FrameInfo
{
    private long sequence;
    private long ptsNanos;
    private long durationNanos;
    private long payloadLength;
    private int flags;
    private int privateLength;
    private int metadataRevision;
    private final byte[] privateData = new byte[FrameHeaderDescriptor.PRIVATE_MAX];

    /** The frame's number in the stream (set by the stream; a producer's value is ignored). */
    public long sequence()
    {
        return sequence;
    }

    /** Presentation time, CLOCK_REALTIME nanoseconds since the Unix epoch; 0 = none. */
    public long ptsNanos()
    {
        return ptsNanos;
    }

    public FrameInfo ptsNanos(final long value)
    {
        ptsNanos = value;
        return this;
    }

    /** How long the frame is presented, in nanoseconds; 0 = unknown. */
    public long durationNanos()
    {
        return durationNanos;
    }

    public FrameInfo durationNanos(final long value)
    {
        durationNanos = value;
        return this;
    }

    /** Bytes of the buffer this frame uses, from offset 0 (at most the stream's frame size). */
    public long payloadLength()
    {
        return payloadLength;
    }

    public FrameInfo payloadLength(final long value)
    {
        payloadLength = value;
        return this;
    }

    /** {@link FrameHeaderDescriptor}{@code .FLAG_*} bits. */
    public int flags()
    {
        return flags;
    }

    public FrameInfo flags(final int value)
    {
        flags = value;
        return this;
    }

    public boolean isKeyFrame()
    {
        return (flags & FrameHeaderDescriptor.FLAG_KEY_FRAME) != 0;
    }

    public boolean isDiscontinuity()
    {
        return (flags & FrameHeaderDescriptor.FLAG_DISCONTINUITY) != 0;
    }

    /** The last frame of the stream: none follows it. */
    public boolean isEndOfStream()
    {
        return (flags & FrameHeaderDescriptor.FLAG_END_OF_STREAM) != 0;
    }

    /**
     * On a consumer: the revision of the export's metadata the frame was written for (unsigned; 0: the producer
     * did not say). Newer than the metadata the consumer imported means: re-exported meanwhile, wait for the
     * buffer's "change" before interpreting the payload. A producer's value is ignored (the stream sets it).
     */
    public int metadataRevision()
    {
        return metadataRevision;
    }

    void metadataRevision(final int value)
    {
        metadataRevision = value;
    }

    /** Bytes of {@link #privateData()} that belong to this frame. */
    public int privateLength()
    {
        return privateLength;
    }

    /**
     * The codec-specific bytes: the first {@link #privateLength()} are the frame's, the rest zero (on a consumer).
     * The array itself, not a copy.
     */
    @SuppressFBWarnings(value = "EI_EXPOSE_REP",
        justification = "the per-frame path reads the codec bytes in place, without a copy (documented above)")
    public byte[] privateData()
    {
        return privateData;
    }

    /** Copies {@code length} bytes of {@code src} from {@code offset} in as the private data. */
    public FrameInfo privateData(final byte[] src, final int offset, final int length)
    {
        if (length < 0 || length > FrameHeaderDescriptor.PRIVATE_MAX)
        {
            throw new IllegalArgumentException("private data of " + length + " bytes, at most " +
                FrameHeaderDescriptor.PRIVATE_MAX);
        }
        System.arraycopy(src, offset, privateData, 0, length);
        privateLength = length;
        return this;
    }

    /** Back to no timestamps, no flags, no private data, payload length 0. */
    public FrameInfo clear()
    {
        sequence = 0;
        ptsNanos = 0;
        durationNanos = 0;
        payloadLength = 0;
        flags = 0;
        privateLength = 0;
        metadataRevision = 0;
        Arrays.fill(privateData, (byte)0);
        return this;
    }

    void set(final long sequence, final long ptsNanos, final long durationNanos, final long payloadLength,
        final int flags, final int privateLength)
    {
        this.sequence = sequence;
        this.ptsNanos = ptsNanos;
        this.durationNanos = durationNanos;
        this.payloadLength = payloadLength;
        this.flags = flags;
        this.privateLength = privateLength;
    }

    @Override
    public String toString()
    {
        return "FrameInfo{sequence=" + sequence + ", pts=" + ptsNanos + ", duration=" + durationNanos + ", payload=" +
            payloadLength + ", flags=0x" + Integer.toHexString(flags) + ", private=" + privateLength + ", revision=" +
            Integer.toUnsignedString(metadataRevision) + "}";
    }
}
