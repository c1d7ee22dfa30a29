package org.hyperdmabuf.client;

import org.hyperdmabuf.abi.FrameHeaderDescriptor;
import org.hyperdmabuf.abi.v1.Access;
import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.abi.v1.Exported;
import org.hyperdmabuf.abi.v1.Metadata;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * The producer end of a frame stream (swapchain-like): K buffers, each exported once, reused in turn.
 * Frame n lives in slot n % K during round n / K. Per frame: wait until the consumer released the slot's
 * previous round (release &gt;= round), write the frame and its header, signal acquire = round + 1. No daemon is
 * involved per frame, and nothing is allocated.
 * <p>
 * Each buffer holds {@code frameBytes} of frame followed by the 512-byte frame header (ABI.md "Frame headers":
 * sequence, timestamps, flags, payload length, private data), which the acquire signal publishes with the
 * frame. A frame flagged end-of-stream is the last one. The exports carry tags {@code stream}, {@code slot},
 * {@code slots} and {@code frame_header} (the header's offset); {@link FrameConsumer} uses them.
 */
public final class FrameProducer implements AutoCloseable
{
    private final HdmabufClient client;
    private final List<Allocation> allocations = new ArrayList<>();
    private final List<Exported> exports = new ArrayList<>();
    private final List<Fence> fences = new ArrayList<>();
    /** Little-endian views of the buffers, for the frame headers. */
    private final List<ByteBuffer> headers = new ArrayList<>();
    /** What beginFrame hands out: each buffer's first frameBytes, so a fill of the whole view spares the header. */
    private final List<ByteBuffer> frames = new ArrayList<>();
    private final Fence.WaitStrategy strategy;
    private final long frameBytes;
    private final int headerOffset;
    private final int targetVm;
    private final String stream;
    private final Access access;
    private long frame;
    private boolean inFrame;
    private boolean ended;

    private FrameProducer(final HdmabufClient client, final Fence.WaitStrategy strategy, final long frameBytes,
        final int targetVm, final String stream, final Access access)
    {
        this.client = client;
        this.strategy = strategy;
        this.frameBytes = frameBytes;
        this.targetVm = targetVm;
        this.stream = stream;
        this.access = access;
        this.headerOffset = (int)FrameHeaderDescriptor.offsetFor(frameBytes);
    }

    /**
     * Allocates {@code buffers} buffers of {@code frameBytes} and exports them to {@code targetVm}, each with
     * {@code template} plus the stream tags.
     */
    public static FrameProducer create(final HdmabufClient client, final int targetVm, final String stream,
        final int buffers, final long frameBytes, final Metadata template, final Access access,
        final Fence.WaitStrategy strategy) throws IOException
    {
        if (buffers < 1)
        {
            throw new HdmabufException(ErrorCode.EINVAL, "a frame stream needs at least one buffer");
        }
        // A mapping is one ByteBuffer, so frame and header must fit below 2 GiB.
        if (frameBytes < 1 || frameBytes > Integer.MAX_VALUE - 2L * FrameHeaderDescriptor.HEADER_LENGTH)
        {
            throw new HdmabufException(ErrorCode.EINVAL, "frame size " + frameBytes + " out of range");
        }
        final FrameProducer p = new FrameProducer(client, strategy, frameBytes, targetVm, stream, access);
        try
        {
            for (int slot = 0; slot < buffers; slot++)
            {
                final Allocation a = client.alloc(p.headerOffset + FrameHeaderDescriptor.HEADER_LENGTH);
                p.allocations.add(a);
                final ByteBuffer all = a.buffer().bytes();
                p.headers.add(all.duplicate().order(ByteOrder.LITTLE_ENDIAN));
                p.frames.add(all.slice(0, (int)frameBytes).order(all.order()));
                final Exported e = client.export(a.handle(), targetVm, p.slotMetadata(template, slot, buffers), access);
                p.exports.add(e);
                p.fences.add(client.fence(a, e));
            }
            return p;
        }
        catch (final IOException | RuntimeException e)
        {
            p.close();
            throw e;
        }
    }

    /** template plus the stream tags of slot (of slots), with the stream's frame size. */
    private Metadata slotMetadata(final Metadata template, final int slot, final int slots)
    {
        return template.toBuilder().setSize(frameBytes).putTags("stream", stream)
            .putTags("slot", Integer.toString(slot)).putTags("slots", Integer.toString(slots))
            .putTags(FrameHeaderDescriptor.TAG, Integer.toString(headerOffset)).build();
    }

    /**
     * Re-exports the stream's buffers with new metadata (template plus the stream tags, e.g. another image size,
     * stride or format that fits the frame size): the same ids and fences, a "change" event per buffer for the
     * consumer, and frames from now on name the new revision in their headers (ABI.md "Frame headers"). Call it
     * between frames, after {@link #drain}, so that no frame is read with metadata it was not written for.
     *
     * @throws HdmabufException EINVAL inside a frame; EXPORT's errors (buffers re-exported before the failure
     * keep their new metadata)
     */
    public void setMetadata(final Metadata template) throws IOException
    {
        if (inFrame)
        {
            throw new HdmabufException(ErrorCode.EINVAL, "setMetadata inside a frame");
        }
        for (int slot = 0; slot < buffers(); slot++)
        {
            exports.set(slot, client.export(allocations.get(slot).handle(), targetVm,
                slotMetadata(template, slot, buffers()), access));
        }
    }

    public int buffers()
    {
        return allocations.size();
    }

    /** Frames completed so far; the next frame's sequence number. */
    public long frames()
    {
        return frame;
    }

    /**
     * Waits until the next frame's buffer is free and returns it (the same ByteBuffer object every round
     * of that slot: no allocation per frame), a view of its first {@code frameBytes} bytes; the frame header
     * after them is written by {@code endFrame}.
     *
     * @throws HdmabufException ETIMEDOUT, or the error the consumer signalled / EPEERLOST if it died; EINVAL
     * after the end-of-stream frame
     */
    public ByteBuffer beginFrame(final Duration timeout) throws IOException
    {
        if (ended)
        {
            throw new HdmabufException(ErrorCode.EINVAL, "the stream ended: no frame follows end-of-stream");
        }
        final int slot = (int)(frame % buffers());
        final long round = frame / buffers();
        final Fence f = fences.get(slot);
        f.await(round, timeout, strategy);
        if (f.error() != 0)
        {
            throw new HdmabufException(errorCode(f.error()), "consumer signalled an error on release of slot " + slot);
        }
        inFrame = true;
        return frames.get(slot);
    }

    /**
     * Waits until the consumer has released every frame published so far (before unexporting, so no
     * frame is withdrawn unread).
     */
    public void drain(final Duration timeout) throws IOException
    {
        final long deadline = System.nanoTime() + timeout.toNanos();
        final int k = buffers();
        for (int slot = 0; slot < k; slot++)
        {
            final long rounds = frame > slot ? (frame - slot + k - 1) / k : 0;
            final Fence f = fences.get(slot);
            f.await(rounds, Duration.ofNanos(Math.max(0, deadline - System.nanoTime())), strategy);
            if (f.error() != 0)
            {
                throw new HdmabufException(errorCode(f.error()), "consumer signalled an error on release of slot " +
                    slot);
            }
        }
    }

    /** Publishes the frame begun last (no timestamps or flags, the whole frame size): acquire = round + 1. */
    public void endFrame() throws IOException
    {
        endFrame(null, 0);
    }

    /** Publishes the frame with an error word (the consumer's {@code beginFrame} fails with it). */
    public void endFrame(final int error) throws IOException
    {
        endFrame(null, error);
    }

    /** Publishes the frame with its per-frame data. */
    public void endFrame(final FrameInfo info) throws IOException
    {
        endFrame(info, 0);
    }

    /**
     * Publishes the frame begun last: writes its header from {@code info} (null: no timestamps, no flags, payload
     * length = the frame size; its sequence is ignored, the stream numbers frames itself), then signals acquire =
     * round + 1, which publishes frame and header together. With {@link FrameHeaderDescriptor#FLAG_END_OF_STREAM}
     * this is the last frame.
     *
     * @throws HdmabufException EINVAL without beginFrame, or for a payload length above the frame size or an
     * undefined flag (nothing is published then)
     */
    public void endFrame(final FrameInfo info, final int error) throws IOException
    {
        if (!inFrame)
        {
            throw new HdmabufException(ErrorCode.EINVAL, "endFrame without beginFrame");
        }
        if (info != null && (info.payloadLength() < 0 || info.payloadLength() > frameBytes ||
            (info.flags() & ~FrameHeaderDescriptor.FLAGS_DEFINED) != 0))
        {
            throw new HdmabufException(ErrorCode.EINVAL, "frame payload " + info.payloadLength() + " of at most " +
                frameBytes + ", flags 0x" + Integer.toHexString(info.flags()));
        }
        final int slot = (int)(frame % buffers());
        final ByteBuffer h = headers.get(slot);
        final int at = headerOffset;
        // Plain stores: the release store of the acquire value below orders them before it.
        h.putLong(at + FrameHeaderDescriptor.SEQUENCE_OFFSET, frame);
        h.putLong(at + FrameHeaderDescriptor.PTS_OFFSET, info != null ? info.ptsNanos() : 0);
        h.putLong(at + FrameHeaderDescriptor.DURATION_OFFSET, info != null ? info.durationNanos() : 0);
        h.putLong(at + FrameHeaderDescriptor.PAYLOAD_LENGTH_OFFSET, info != null ? info.payloadLength() : frameBytes);
        h.putInt(at + FrameHeaderDescriptor.FLAGS_OFFSET, info != null ? info.flags() : 0);
        final int privateLength = info != null ? info.privateLength() : 0;
        h.putInt(at + FrameHeaderDescriptor.PRIVATE_LENGTH_OFFSET, privateLength);
        // The metadata this frame is written for: a consumer holding older metadata waits for its "change".
        h.putInt(at + FrameHeaderDescriptor.METADATA_REVISION_OFFSET, exports.get(slot).getRevision());
        if (privateLength > 0)
        {
            h.put(at + FrameHeaderDescriptor.PRIVATE_DATA_OFFSET, info.privateData(), 0, privateLength);
        }
        fences.get(slot).signal(frame / buffers() + 1, error);
        inFrame = false;
        ended = info != null && info.isEndOfStream();
        frame++;
    }

    static ErrorCode errorCode(final int error)
    {
        final ErrorCode code = ErrorCode.forNumber(error);
        return code == null ? ErrorCode.EIO : code;
    }

    /** Unexports and frees every buffer. */
    @Override
    public void close() throws IOException
    {
        IOException first = null;
        for (int i = 0; i < allocations.size(); i++)
        {
            try
            {
                if (i < exports.size())
                {
                    client.unexport(exports.get(i).getId());
                }
                client.free(allocations.get(i).handle());
            }
            catch (final IOException e)
            {
                first = first == null ? e : first;
            }
            allocations.get(i).close();
        }
        fences.forEach(Fence::close);
        if (first != null)
        {
            throw first;
        }
    }
}
