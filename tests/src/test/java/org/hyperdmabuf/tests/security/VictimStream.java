package org.hyperdmabuf.tests.security;

import org.hyperdmabuf.abi.BufferIds;
import org.hyperdmabuf.abi.UEvent;
import org.hyperdmabuf.abi.v1.Access;
import org.hyperdmabuf.abi.v1.BufferId;
import org.hyperdmabuf.abi.v1.BufferList;
import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.abi.v1.Exported;
import org.hyperdmabuf.abi.v1.Match;
import org.hyperdmabuf.abi.v1.MatchRule;
import org.hyperdmabuf.abi.v1.Metadata;
import org.hyperdmabuf.client.Allocation;
import org.hyperdmabuf.client.Fence;
import org.hyperdmabuf.client.FrameConsumer;
import org.hyperdmabuf.client.FrameProducer;
import org.hyperdmabuf.client.HdmabufClient;
import org.hyperdmabuf.client.HdmabufException;
import org.hyperdmabuf.client.ImportedBuffer;
import org.hyperdmabuf.client.ReceivedEvent;
import org.hyperdmabuf.tests.support.TwoVmSystem;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * A well-behaved producer and consumer that keep streaming while a test attacks the same daemons: a fenced
 * frame stream with daemon-side waits (every frame passes both daemons' FENCE_WAIT), checked for loss and
 * duplication, plus an export/import/release/unexport round trip on demand. The attacks must not disturb it.
 */
// "try": stopping its processes may be interrupted.
@SuppressWarnings("try")
final class VictimStream implements AutoCloseable
{
    private static final Duration WAIT = Duration.ofSeconds(20);
    private static final String STREAM = "victim";

    private final TwoVmSystem system;
    private final HdmabufClient producerClient;
    private final HdmabufClient consumerClient;
    private final HdmabufClient controlProducer;
    private final HdmabufClient controlConsumer;
    private final long controlSubscription;
    private final AtomicLong sent = new AtomicLong();
    private final AtomicLong received = new AtomicLong();
    private final AtomicReference<Throwable> failure = new AtomicReference<>();
    private final Thread producer;
    private final Thread consumer;
    private volatile boolean stop;
    private volatile FrameProducer stream;
    private long probes;

    VictimStream(final TwoVmSystem system) throws Exception
    {
        this.system = system;
        producerClient = HdmabufClient.connect(system.sinkSocket());
        consumerClient = HdmabufClient.connect(system.sourceSocket());
        controlProducer = HdmabufClient.connect(system.sinkSocket());
        controlConsumer = HdmabufClient.connect(system.sourceSocket());
        controlSubscription = controlConsumer.subscribe(List.of(MatchRule.newBuilder().addMatches(
            Match.newBuilder().setKey("TAG_PROBE").setGlob("victim")).build()), false);
        stream = FrameProducer.create(producerClient, system.sourceVm(), STREAM, 3, 4096, Metadata.newBuilder()
            .setVersion(1).setContentType("application/x-victim").build(), Access.ACCESS_READ_WRITE,
            Fence.WaitStrategy.BLOCK);
        producer = new Thread(this::produce, "victim-producer");
        consumer = new Thread(this::consume, "victim-consumer");
        producer.start();
        consumer.start();
    }

    /** The victim's allocations and exports (handles, ids), for attacks on other clients' objects. */
    BufferList objects() throws IOException
    {
        return producerClient.list();
    }

    long framesReceived()
    {
        return received.get();
    }

    /** Fails if the stream broke; else waits until at least {@code more} further frames arrived. */
    void assertFlowing(final long more, final String context) throws Exception
    {
        final long target = received.get() + more;
        final long deadline = System.nanoTime() + WAIT.toNanos();
        while (received.get() < target)
        {
            throwIfFailed(context);
            if (System.nanoTime() > deadline)
            {
                throw new AssertionError(context + ": the victim stream stalled at frame " + received.get());
            }
            Thread.sleep(2); // polling counters of our own threads
        }
        throwIfFailed(context);
    }

    /**
     * Exports a fresh buffer with a pattern, sees the consumer's add, imports and verifies it, releases, unexports
     * and frees, sees the remove: every daemon control path a well-behaved client uses.
     */
    void assertControlPathWorks(final String context) throws Exception
    {
        final long tag = ++probes;
        try (Allocation a = controlProducer.alloc(4096))
        {
            a.buffer().bytes().order(ByteOrder.LITTLE_ENDIAN).putLong(0, 0x5eed_0000_0000L + tag);
            final Exported e = controlProducer.export(a.handle(), system.sourceVm(), Metadata.newBuilder().setVersion(1)
                .setContentType("application/x-probe").putTags("probe", "victim").build(), Access.ACCESS_READ_ONLY);
            expectEvent("add", e.getId(), context);
            try (ImportedBuffer b = controlConsumer.importBuffer(e.getId()))
            {
                final long v = b.buffer().bytes().order(ByteOrder.LITTLE_ENDIAN).getLong(0);
                if (v != 0x5eed_0000_0000L + tag)
                {
                    throw new AssertionError(context + ": probe buffer holds " + Long.toHexString(v));
                }
                controlConsumer.release(e.getId());
            }
            controlProducer.unexport(e.getId());
            expectEvent("remove", e.getId(), context);
            controlProducer.free(a.handle());
        }
    }

    private void expectEvent(final String action, final BufferId id, final String context) throws Exception
    {
        final ReceivedEvent r = controlConsumer.nextEvent(WAIT);
        if (r == null || r.isOverflow() || r.subscriptionId() != controlSubscription)
        {
            throw new AssertionError(context + ": expected " + action + " of the probe, got " + r);
        }
        final UEvent ev = r.event();
        if (!action.equals(ev.action()) || !BufferIds.format(id).equals(ev.get("BUFFER")))
        {
            throw new AssertionError(context + ": expected " + action + " of the probe, got " + ev.properties());
        }
    }

    private void produce()
    {
        try
        {
            final FrameProducer p = stream;
            while (!stop)
            {
                p.beginFrame(WAIT).order(ByteOrder.LITTLE_ENDIAN).putLong(0, sent.get());
                p.endFrame();
                sent.incrementAndGet();
            }
            p.drain(WAIT);
        }
        catch (final Throwable t)
        {
            failure.compareAndSet(null, t);
        }
    }

    private void consume()
    {
        try (FrameConsumer c = FrameConsumer.open(consumerClient, STREAM, WAIT, Fence.WaitStrategy.BLOCK))
        {
            while (!stop || received.get() < sent.get() || producer.isAlive())
            {
                final ByteBuffer frame;
                try
                {
                    frame = c.beginFrame(Duration.ofMillis(200));
                }
                catch (final HdmabufException e)
                {
                    if (e.code() == ErrorCode.ETIMEDOUT)
                    {
                        continue;
                    }
                    throw e;
                }
                final long seq = frame.order(ByteOrder.LITTLE_ENDIAN).getLong(0);
                if (seq != received.get())
                {
                    throw new AssertionError("victim frame " + received.get() + " holds sequence " + seq +
                        (seq < received.get() ? " (duplicate)" : " (lost frames)"));
                }
                c.endFrame();
                received.incrementAndGet();
            }
        }
        catch (final Throwable t)
        {
            failure.compareAndSet(null, t);
        }
    }

    private void throwIfFailed(final String context)
    {
        final Throwable t = failure.get();
        if (t != null)
        {
            throw new AssertionError(context + ": the victim stream failed: " + t, t);
        }
    }

    /** Stops the stream, checks every frame sent was received once, and closes its connections. */
    @Override
    public void close() throws Exception
    {
        stop = true;
        producer.join(WAIT.toMillis());
        consumer.join(WAIT.toMillis());
        try
        {
            throwIfFailed("at the end");
            if (producer.isAlive() || consumer.isAlive())
            {
                throw new AssertionError("the victim stream did not stop");
            }
            if (sent.get() != received.get())
            {
                throw new AssertionError("victim sent " + sent.get() + " frames, received " + received.get());
            }
        }
        finally
        {
            stream.close();
            for (final HdmabufClient c : List.of(producerClient, consumerClient, controlProducer, controlConsumer))
            {
                c.close();
            }
        }
    }
}
