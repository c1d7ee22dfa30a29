package org.hyperdmabuf.client;

import org.hyperdmabuf.abi.v1.Access;
import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.abi.v1.Exported;
import org.hyperdmabuf.abi.v1.Metadata;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * The producer end of a frame stream (swapchain-like): K buffers, each exported once, reused in turn.
 * Frame n lives in slot n % K during round n / K. Per frame: wait until the consumer released the slot's
 * previous round (release &gt;= round), write, signal acquire = round + 1. No daemon is involved per frame.
 * <p>
 * The exports carry tags {@code stream}, {@code slot} and {@code slots}; {@link FrameConsumer} uses them.
 */
public final class FrameProducer implements AutoCloseable
{
    private final HdmabufClient client;
    private final List<Allocation> allocations = new ArrayList<>();
    private final List<Exported> exports = new ArrayList<>();
    private final List<Fence> fences = new ArrayList<>();
    private final Fence.WaitStrategy strategy;
    private long frame;
    private boolean inFrame;

    private FrameProducer(final HdmabufClient client, final Fence.WaitStrategy strategy)
    {
        this.client = client;
        this.strategy = strategy;
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
        final FrameProducer p = new FrameProducer(client, strategy);
        try
        {
            for (int slot = 0; slot < buffers; slot++)
            {
                final Allocation a = client.alloc(frameBytes);
                p.allocations.add(a);
                final Exported e = client.export(a.handle(), targetVm, template.toBuilder().setSize(frameBytes)
                    .putTags("stream", stream).putTags("slot", Integer.toString(slot))
                    .putTags("slots", Integer.toString(buffers)).build(), access);
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
     * of that slot: no allocation per frame).
     *
     * @throws HdmabufException ETIMEDOUT, or the error the consumer signalled / EPEERLOST if it died
     */
    public ByteBuffer beginFrame(final Duration timeout) throws IOException
    {
        final int slot = (int)(frame % buffers());
        final long round = frame / buffers();
        final Fence f = fences.get(slot);
        f.await(round, timeout, strategy);
        if (f.error() != 0)
        {
            throw new HdmabufException(errorCode(f.error()), "consumer signalled an error on release of slot " + slot);
        }
        inFrame = true;
        return allocations.get(slot).buffer().bytes();
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

    /** Publishes the frame begun last: acquire of its slot = round + 1. */
    public void endFrame() throws IOException
    {
        endFrame(0);
    }

    /** Publishes the frame with an error word (the consumer's {@code beginFrame} fails with it). */
    public void endFrame(final int error) throws IOException
    {
        if (!inFrame)
        {
            throw new HdmabufException(ErrorCode.EINVAL, "endFrame without beginFrame");
        }
        final int slot = (int)(frame % buffers());
        fences.get(slot).signal(frame / buffers() + 1, error);
        inFrame = false;
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
