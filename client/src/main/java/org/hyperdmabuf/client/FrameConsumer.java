package org.hyperdmabuf.client;

import edu.umd.cs.findbugs.annotations.SuppressFBWarnings;
import org.hyperdmabuf.abi.BufferIds;
import org.hyperdmabuf.abi.FrameHeaderDescriptor;
import org.hyperdmabuf.abi.UEvent;
import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.abi.v1.Match;
import org.hyperdmabuf.abi.v1.MatchRule;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;

/**
 * The consumer end of a frame stream made by {@link FrameProducer}: imports the stream's K buffers (found
 * by their {@code stream}/{@code slot}/{@code slots} tags), then per frame waits for acquire &gt;= round + 1,
 * copies and checks the frame header, reads, and signals release = round + 1.
 * <p>
 * The header (ABI.md "Frame headers") is read once into {@link #frameInfo()} after the acquire wait and
 * validated there: a sequence other than the frame's number, a payload length above the frame size or too much
 * private data is EPROTO. After the frame flagged end-of-stream has been handed back, {@link #beginFrame}
 * returns null. Streams of producers without headers get the frame number and the frame size, nothing else.
 */
public final class FrameConsumer implements AutoCloseable
{
    private final HdmabufClient client;
    private final ImportedBuffer[] slots;
    /** Little-endian views of the buffers; null when the stream has no frame headers. */
    private final ByteBuffer[] headers;
    private final int[] headerOffsets;
    /** What beginFrame hands out: each buffer's first contentLength bytes (the frame, not its header). */
    private final ByteBuffer[] frames;
    private final Fence.WaitStrategy strategy;
    private final FrameInfo info = new FrameInfo();
    private long frame;
    private boolean inFrame;
    private boolean ended;

    private FrameConsumer(final HdmabufClient client, final ImportedBuffer[] slots, final int[] headerOffsets,
        final Fence.WaitStrategy strategy)
    {
        this.client = client;
        this.slots = slots;
        this.strategy = strategy;
        this.headerOffsets = headerOffsets;
        this.frames = new ByteBuffer[slots.length];
        for (int i = 0; i < slots.length; i++)
        {
            final ByteBuffer all = slots[i].buffer().bytes();
            final long content = Math.min(slots[i].metadata().getSize(), all.capacity());
            frames[i] = content > 0 ? all.slice(0, (int)content).order(all.order()) : all;
        }
        if (headerOffsets == null)
        {
            this.headers = null;
        }
        else
        {
            this.headers = new ByteBuffer[slots.length];
            for (int i = 0; i < slots.length; i++)
            {
                headers[i] = slots[i].buffer().bytes().duplicate().order(ByteOrder.LITTLE_ENDIAN);
            }
        }
    }

    /** Waits up to {@code timeout} for all buffers of {@code stream} to be exported here and imports them. */
    public static FrameConsumer open(final HdmabufClient client, final String stream, final Duration timeout,
        final Fence.WaitStrategy strategy) throws IOException, InterruptedException
    {
        final long subscription = client.subscribe(List.of(MatchRule.newBuilder()
            .addMatches(Match.newBuilder().setKey("ACTION").setGlob("add"))
            .addMatches(Match.newBuilder().setKey("TAG_STREAM").setGlob(stream)).build()), true);
        final long deadline = System.nanoTime() + timeout.toNanos();
        ImportedBuffer[] slots = null;
        int found = 0;
        try
        {
            while (slots == null || found < slots.length)
            {
                final long left = deadline - System.nanoTime();
                final ReceivedEvent e = left > 0 ? client.nextEvent(Duration.ofNanos(left)) : null;
                if (e == null)
                {
                    throw new HdmabufException(ErrorCode.ETIMEDOUT, "stream '" + stream + "' has " + found +
                        " of " + (slots == null ? "?" : slots.length) + " buffers after " + timeout.toMillis() + " ms");
                }
                if (e.isOverflow() || e.subscriptionId() != subscription)
                {
                    continue;
                }
                final UEvent ev = e.event();
                final int count = Integer.parseInt(ev.get("TAG_SLOTS"));
                final int slot = Integer.parseInt(ev.get("TAG_SLOT"));
                if (slots == null)
                {
                    slots = new ImportedBuffer[count];
                }
                if (count != slots.length || slot < 0 || slot >= count || slots[slot] != null)
                {
                    throw new HdmabufException(ErrorCode.EPROTO, "stream '" + stream + "' announced slot " + slot +
                        " of " + count + " inconsistently");
                }
                slots[slot] = client.importBuffer(BufferIds.parse(ev.get("BUFFER")));
                found++;
            }
            client.unsubscribe(subscription);
            return new FrameConsumer(client, slots, headerOffsets(stream, slots), strategy);
        }
        catch (final IOException | InterruptedException | RuntimeException ex)
        {
            if (slots != null)
            {
                for (final ImportedBuffer b : slots)
                {
                    if (b != null)
                    {
                        b.close();
                    }
                }
            }
            throw ex;
        }
    }

    /**
     * The header offset of every buffer from its {@code frame_header} tag, or null when no buffer has one; EPROTO
     * when only some have one or one places it outside its buffer or over the content.
     */
    private static int[] headerOffsets(final String stream, final ImportedBuffer[] slots) throws HdmabufException
    {
        final boolean present = slots[0].metadata().containsTags(FrameHeaderDescriptor.TAG);
        if (!present)
        {
            for (final ImportedBuffer b : slots)
            {
                if (b.metadata().containsTags(FrameHeaderDescriptor.TAG))
                {
                    throw new HdmabufException(ErrorCode.EPROTO, "stream '" + stream +
                        "': only some buffers carry frame headers");
                }
            }
            return null;
        }
        final int[] offsets = new int[slots.length];
        for (int i = 0; i < slots.length; i++)
        {
            final String text = slots[i].metadata().getTagsOrDefault(FrameHeaderDescriptor.TAG, "");
            long offset = -1;
            if (text.matches("0|[1-9][0-9]{0,17}"))
            {
                offset = Long.parseLong(text);
            }
            if (!FrameHeaderDescriptor.placementValid(offset, slots[i].metadata().getSize(), slots[i].buffer().length()))
            {
                throw new HdmabufException(ErrorCode.EPROTO, "stream '" + stream + "' slot " + i + ": frame header at '" +
                    text + "' does not fit a buffer of " + slots[i].buffer().length() + " bytes after " +
                    slots[i].metadata().getSize() + " bytes of content");
            }
            offsets[i] = (int)offset;
        }
        return offsets;
    }

    public int buffers()
    {
        return slots.length;
    }

    /** Whether the stream's buffers carry frame headers. */
    public boolean hasFrameHeaders()
    {
        return headers != null;
    }

    /**
     * The current frame's per-frame data, a validated private copy (the same object every frame; valid from
     * {@code beginFrame} to {@code endFrame}).
     */
    @SuppressFBWarnings(value = "EI_EXPOSE_REP",
        justification = "one reused FrameInfo per consumer, so reading a frame allocates nothing (documented above)")
    public FrameInfo frameInfo()
    {
        return info;
    }

    /** Bytes of content per frame (the exports' metadata.size); the mappings are page-rounded beyond it. */
    public long contentLength()
    {
        return slots[0].metadata().getSize();
    }

    public long frames()
    {
        return frame;
    }

    /**
     * Waits for the next frame and returns a view of its frame bytes (metadata.size of them; read-only view
     * semantics are the export's; the same object every round of a slot); its
     * per-frame data is in {@link #frameInfo()}. Returns null, at once, once the end-of-stream frame was handed
     * back.
     *
     * @throws HdmabufException ETIMEDOUT, the error the producer signalled, EPEERLOST if it died, or EPROTO for an
     * invalid frame header
     */
    public ByteBuffer beginFrame(final Duration timeout) throws IOException
    {
        if (ended)
        {
            return null;
        }
        final int slot = (int)(frame % slots.length);
        final Fence f = slots[slot].fence();
        f.await(frame / slots.length + 1, timeout, strategy);
        if (f.error() != 0)
        {
            throw new HdmabufException(FrameProducer.errorCode(f.error()), "producer signalled an error on frame " + frame);
        }
        readHeader(slot);
        inFrame = true;
        return frames[slot];
    }

    /** Copies the frame's header once (the producer's VM can rewrite the shared bytes at any time) and checks it. */
    private void readHeader(final int slot) throws HdmabufException
    {
        final long content = Math.min(slots[slot].metadata().getSize(), slots[slot].buffer().length());
        if (headers == null)
        {
            info.set(frame, 0, 0, content, 0, 0);
            info.metadataRevision(0);
            return;
        }
        final ByteBuffer h = headers[slot];
        final int at = headerOffsets[slot];
        final long sequence = h.getLong(at + FrameHeaderDescriptor.SEQUENCE_OFFSET);
        final long pts = h.getLong(at + FrameHeaderDescriptor.PTS_OFFSET);
        final long duration = h.getLong(at + FrameHeaderDescriptor.DURATION_OFFSET);
        final long payload = h.getLong(at + FrameHeaderDescriptor.PAYLOAD_LENGTH_OFFSET);
        final int flags = h.getInt(at + FrameHeaderDescriptor.FLAGS_OFFSET);
        final int privateLength = h.getInt(at + FrameHeaderDescriptor.PRIVATE_LENGTH_OFFSET);
        final int revision = h.getInt(at + FrameHeaderDescriptor.METADATA_REVISION_OFFSET);
        if (!FrameHeaderDescriptor.valid(frame, sequence, payload, privateLength, content))
        {
            throw new HdmabufException(ErrorCode.EPROTO, "invalid header of frame " + frame + ": sequence " + sequence +
                ", payload " + Long.toUnsignedString(payload) + " of at most " + content + ", private " +
                Integer.toUnsignedString(privateLength));
        }
        final byte[] data = info.privateData();
        h.get(at + FrameHeaderDescriptor.PRIVATE_DATA_OFFSET, data, 0, privateLength);
        Arrays.fill(data, privateLength, data.length, (byte)0);
        info.set(sequence, pts, duration, payload, flags, privateLength);
        info.metadataRevision(revision);
    }

    /** Hands the frame's buffer back to the producer: release of its slot = round + 1. */
    public void endFrame() throws IOException
    {
        if (!inFrame)
        {
            throw new HdmabufException(ErrorCode.EINVAL, "endFrame without beginFrame");
        }
        final int slot = (int)(frame % slots.length);
        slots[slot].fence().signal(frame / slots.length + 1);
        inFrame = false;
        ended = info.isEndOfStream();
        frame++;
    }

    /** Releases every import. */
    @Override
    public void close() throws IOException
    {
        IOException first = null;
        for (final ImportedBuffer b : slots)
        {
            try
            {
                client.release(b.id());
            }
            catch (final IOException e)
            {
                first = first == null ? e : first;
            }
            b.close();
        }
        if (first != null)
        {
            throw first;
        }
    }
}
