package org.hyperdmabuf.client;

import org.hyperdmabuf.abi.BufferIds;
import org.hyperdmabuf.abi.UEvent;
import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.abi.v1.Match;
import org.hyperdmabuf.abi.v1.MatchRule;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;

/**
 * The consumer end of a frame stream made by {@link FrameProducer}: imports the stream's K buffers (found
 * by their {@code stream}/{@code slot}/{@code slots} tags), then per frame waits for acquire &gt;= round + 1,
 * reads, and signals release = round + 1.
 */
public final class FrameConsumer implements AutoCloseable
{
    private final HdmabufClient client;
    private final ImportedBuffer[] slots;
    private final Fence.WaitStrategy strategy;
    private long frame;
    private boolean inFrame;

    private FrameConsumer(final HdmabufClient client, final ImportedBuffer[] slots, final Fence.WaitStrategy strategy)
    {
        this.client = client;
        this.slots = slots;
        this.strategy = strategy;
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
            return new FrameConsumer(client, slots, strategy);
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

    public int buffers()
    {
        return slots.length;
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
     * Waits for the next frame and returns its buffer (read-only view semantics are the export's).
     *
     * @throws HdmabufException ETIMEDOUT, the error the producer signalled, or EPEERLOST if it died
     */
    public ByteBuffer beginFrame(final Duration timeout) throws IOException
    {
        final int slot = (int)(frame % slots.length);
        final Fence f = slots[slot].fence();
        f.await(frame / slots.length + 1, timeout, strategy);
        if (f.error() != 0)
        {
            throw new HdmabufException(FrameProducer.errorCode(f.error()), "producer signalled an error on frame " + frame);
        }
        inFrame = true;
        return slots[slot].buffer().bytes();
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
