package org.hyperdmabuf.tests.support;

import org.hyperdmabuf.abi.v1.Access;
import org.hyperdmabuf.abi.v1.Exported;
import org.hyperdmabuf.abi.v1.Metadata;
import org.hyperdmabuf.client.Allocation;
import org.hyperdmabuf.client.Fence;
import org.hyperdmabuf.client.FrameConsumer;
import org.hyperdmabuf.client.FrameProducer;
import org.hyperdmabuf.client.HdmabufClient;
import org.hyperdmabuf.client.HdmabufException;
import org.hyperdmabuf.abi.v1.ErrorCode;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Random;
import java.util.concurrent.locks.LockSupport;

/**
 * Client processes for long-running checks, run as separate JVMs ({@code ChildProcess.java}):
 * <ul>
 * <li>{@code producer SOCKET TARGET STREAM FRAME_BYTES BUFFERS FPS}: a {@link FrameProducer} writing frames whose
 * every 8-byte word is derived from the sequence number, until a line {@code STOP} (or the end) on stdin; the
 * last frame carries a final flag so the consumer knows the count. Prints {@code SENT n}.</li>
 * <li>{@code consumer SOCKET STREAM}: a {@link FrameConsumer} checking sequence numbers (a lost or repeated frame
 * fails) and every word of every frame (an early overwrite fails). Prints {@code VERIFIED n} or
 * {@code FAILED why}.</li>
 * <li>{@code resuming-producer ...} and {@code resuming-consumer ...}: as above, but a stream that ends with
 * EPEERLOST (the other VM was declared down, or this one was and rejoined) is opened again and continues,
 * printing {@code LOST error} and then {@code SEGMENT first-sequence} each time. Sequence numbers go on across
 * segments; the consumer requires them consecutive within a segment and increasing across segments, so a stale
 * frame (an old buffer, or pages that now hold another buffer) fails it.</li>
 * <li>{@code churn SOCKET TARGET SEED}: alloc, export, unexport and free of random-sized buffers until
 * {@code STOP}. Prints {@code CHURNED n}.</li>
 * </ul>
 * Every mode prints {@code PROGRESS n} about twice a second, so a test can see a stream keep moving.
 */
public final class CheckedStream
{
    private static final long GOLDEN = 0x9E3779B97F4A7C15L;
    private static final int FLAGS_INDEX = 8;
    private static final int FIRST_CHECKED = 16;
    private static final long PROGRESS_NS = 500_000_000L;
    private static final Duration FRAME_TIMEOUT = Duration.ofSeconds(30);

    private static volatile boolean stop;

    private CheckedStream()
    {
    }

    public static void main(final String[] args) throws Exception
    {
        final Thread stdin = new Thread(CheckedStream::watchStdin, "stdin");
        stdin.setDaemon(true);
        stdin.start();
        final Path socket = Path.of(args[1]);
        final int status;
        switch (args[0])
        {
            case "producer" -> status = produce(socket, Integer.parseInt(args[2]), args[3], Integer.parseInt(args[4]),
                Integer.parseInt(args[5]), Integer.parseInt(args[6]));
            case "consumer" -> status = consume(socket, args[2]);
            case "resuming-producer" -> status = produceResuming(socket, Integer.parseInt(args[2]), args[3],
                Integer.parseInt(args[4]), Integer.parseInt(args[5]), Integer.parseInt(args[6]));
            case "resuming-consumer" -> status = consumeResuming(socket, args[2]);
            case "churn" -> status = churn(socket, Integer.parseInt(args[2]), Long.parseLong(args[3]));
            default -> throw new IllegalArgumentException("unknown mode " + args[0]);
        }
        System.out.flush();
        System.exit(status);
    }

    private static void watchStdin()
    {
        try (BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8)))
        {
            String line;
            while ((line = in.readLine()) != null && !line.equals("STOP"))
            {
                // only STOP matters
            }
        }
        catch (final IOException e)
        {
            // the parent is gone: stop as well
        }
        stop = true;
    }

    private static int produce(final Path socket, final int target, final String stream, final int frameBytes,
        final int buffers, final int fps) throws Exception
    {
        final Pacing pacing = new Pacing(fps);
        try (HdmabufClient client = HdmabufClient.connect(socket))
        {
            awaitTarget(client, target);
            try (FrameProducer producer = FrameProducer.create(client, target, stream, buffers, frameBytes,
                Metadata.newBuilder().setContentType("test/checked").build(), Access.ACCESS_READ_WRITE,
                Fence.WaitStrategy.ADAPTIVE))
            {
                System.out.println("READY producer " + stream);
                long seq = 0;
                while (true)
                {
                    final boolean last = stop;
                    final ByteBuffer frame = producer.beginFrame(FRAME_TIMEOUT).duplicate().order(ByteOrder.LITTLE_ENDIAN);
                    fill(frame, seq, frameBytes, last);
                    producer.endFrame();
                    seq++;
                    if (last)
                    {
                        break;
                    }
                    pacing.after(seq);
                }
                producer.drain(FRAME_TIMEOUT);
                System.out.println("SENT " + seq);
            }
        }
        return 0;
    }

    /** Errors after which a resuming stream opens again: the peer went, or this side rejoined without it. */
    private static boolean lost(final HdmabufException e)
    {
        return e.code() == ErrorCode.EPEERLOST || e.code() == ErrorCode.ENOPEER || e.code() == ErrorCode.ENOENT;
    }

    private static int produceResuming(final Path socket, final int target, final String stream, final int frameBytes,
        final int buffers, final int fps) throws Exception
    {
        final Pacing pacing = new Pacing(fps);
        try (HdmabufClient client = HdmabufClient.connect(socket))
        {
            long seq = 0;
            while (true)
            {
                awaitTarget(client, target);
                FrameProducer producer = null;
                try
                {
                    producer = FrameProducer.create(client, target, stream, buffers, frameBytes,
                        Metadata.newBuilder().setContentType("test/checked").build(), Access.ACCESS_READ_WRITE,
                        Fence.WaitStrategy.ADAPTIVE);
                    System.out.println((seq == 0 ? "READY producer " + stream : "SEGMENT " + seq));
                    while (true)
                    {
                        final boolean last = stop;
                        final ByteBuffer frame = producer.beginFrame(FRAME_TIMEOUT).duplicate()
                            .order(ByteOrder.LITTLE_ENDIAN);
                        // Counted before the signal: a signal that stored its value and then failed to ring
                        // (the daemon lost the peer meanwhile) may have published the frame already.
                        fill(frame, seq++, frameBytes, last);
                        producer.endFrame();
                        if (last)
                        {
                            producer.drain(FRAME_TIMEOUT);
                            System.out.println("SENT " + seq);
                            return 0;
                        }
                        pacing.after(seq);
                    }
                }
                catch (final HdmabufException e)
                {
                    if (!lost(e))
                    {
                        throw e;
                    }
                    System.out.println("LOST " + e.code() + " at " + seq);
                }
                finally
                {
                    closeQuietly(producer);
                }
            }
        }
    }

    private static void closeQuietly(final AutoCloseable c)
    {
        if (c != null)
        {
            try
            {
                c.close();
            }
            catch (final Exception e)
            {
                // the stream is already broken: what was left of it goes with the daemon's clean-up
            }
        }
    }

    private static void fill(final ByteBuffer frame, final long seq, final int bytes, final boolean last)
    {
        frame.putLong(0, seq);
        frame.putLong(FLAGS_INDEX, last ? 1 : 0);
        for (int i = FIRST_CHECKED; i + 8 <= bytes; i += 8)
        {
            frame.putLong(i, seq * GOLDEN + i);
        }
    }

    private static int consume(final Path socket, final String stream) throws Exception
    {
        try (HdmabufClient client = HdmabufClient.connect(socket);
             FrameConsumer consumer = FrameConsumer.open(client, stream, Duration.ofSeconds(60),
                 Fence.WaitStrategy.ADAPTIVE))
        {
            System.out.println("READY consumer " + stream);
            long nextProgress = System.nanoTime() + PROGRESS_NS;
            for (long seq = 0; ; seq++)
            {
                final ByteBuffer frame = consumer.beginFrame(FRAME_TIMEOUT).duplicate().order(ByteOrder.LITTLE_ENDIAN);
                final long inFrame = frame.getLong(0);
                if (inFrame != seq)
                {
                    System.out.println("FAILED expected frame " + seq + ", buffer holds " + inFrame +
                        (inFrame < seq ? " (duplicate)" : " (lost frames)"));
                    return 1;
                }
                final int length = (int)consumer.contentLength();
                for (int i = FIRST_CHECKED; i + 8 <= length; i += 8)
                {
                    if (frame.getLong(i) != seq * GOLDEN + i)
                    {
                        System.out.println("FAILED frame " + seq + " differs at byte " + i + " (overwritten early?)");
                        return 1;
                    }
                }
                final boolean last = frame.getLong(FLAGS_INDEX) == 1;
                consumer.endFrame();
                if (last)
                {
                    System.out.println("VERIFIED " + (seq + 1));
                    return 0;
                }
                final long now = System.nanoTime();
                if (now - nextProgress >= 0)
                {
                    System.out.println("PROGRESS " + (seq + 1));
                    nextProgress = now + PROGRESS_NS;
                }
            }
        }
    }

    private static int consumeResuming(final Path socket, final String stream) throws Exception
    {
        try (HdmabufClient client = HdmabufClient.connect(socket))
        {
            long last = -1;
            long nextProgress = System.nanoTime() + PROGRESS_NS;
            boolean ready = false;
            while (true)
            {
                FrameConsumer consumer = null;
                try
                {
                    consumer = FrameConsumer.open(client, stream, Duration.ofSeconds(60), Fence.WaitStrategy.ADAPTIVE);
                    if (!ready)
                    {
                        System.out.println("READY consumer " + stream);
                        ready = true;
                    }
                    boolean first = true;
                    while (true)
                    {
                        final ByteBuffer frame = consumer.beginFrame(FRAME_TIMEOUT).duplicate()
                            .order(ByteOrder.LITTLE_ENDIAN);
                        final long inFrame = frame.getLong(0);
                        if (first ? inFrame <= last : inFrame != last + 1)
                        {
                            System.out.println("FAILED after frame " + last + " the buffer holds frame " + inFrame +
                                (first ? " at the start of a segment (stale)" : ""));
                            return 1;
                        }
                        if (first)
                        {
                            System.out.println("SEGMENT " + inFrame);
                            first = false;
                        }
                        final int length = (int)consumer.contentLength();
                        for (int i = FIRST_CHECKED; i + 8 <= length; i += 8)
                        {
                            if (frame.getLong(i) != inFrame * GOLDEN + i)
                            {
                                System.out.println("FAILED frame " + inFrame + " differs at byte " + i);
                                return 1;
                            }
                        }
                        last = inFrame;
                        final boolean end = frame.getLong(FLAGS_INDEX) == 1;
                        consumer.endFrame();
                        if (end)
                        {
                            System.out.println("VERIFIED " + (last + 1));
                            return 0;
                        }
                        final long now = System.nanoTime();
                        if (now - nextProgress >= 0)
                        {
                            System.out.println("PROGRESS " + (last + 1));
                            nextProgress = now + PROGRESS_NS;
                        }
                    }
                }
                catch (final HdmabufException e)
                {
                    if (!lost(e) && e.code() != ErrorCode.EPROTO)
                    {
                        throw e;
                    }
                    // EPROTO: the buffers of two segments were announced at once while the old ones went away
                    System.out.println("LOST " + e.code() + " after " + last);
                }
                finally
                {
                    closeQuietly(consumer);
                }
            }
        }
    }

    private static int churn(final Path socket, final int target, final long seed) throws Exception
    {
        final Random random = new Random(seed);
        try (HdmabufClient client = HdmabufClient.connect(socket))
        {
            awaitTarget(client, target);
            System.out.println("READY churn");
            final int page = client.caps().getPageSize();
            long cycles = 0;
            long nextProgress = System.nanoTime() + PROGRESS_NS;
            while (!stop)
            {
                final long size = (long)page * (1 + random.nextInt(16));
                try (Allocation a = client.alloc(size))
                {
                    a.buffer().bytes().putLong(0, cycles);
                    final Exported e = client.export(a.handle(), target, Metadata.newBuilder()
                        .setContentType("test/churn").putTags("cycle", Long.toString(cycles)).build(),
                        random.nextBoolean() ? Access.ACCESS_READ_ONLY : Access.ACCESS_READ_WRITE);
                    if (random.nextBoolean())
                    {
                        client.unexport(e.getId());
                    }
                    client.free(a.handle()); // unexports what is still exported
                }
                cycles++;
                final long now = System.nanoTime();
                if (now - nextProgress >= 0)
                {
                    System.out.println("PROGRESS " + cycles);
                    nextProgress = now + PROGRESS_NS;
                }
                LockSupport.parkNanos(2_000_000L); // pacing: a few hundred cycles a second per churner
            }
            System.out.println("CHURNED " + cycles);
        }
        return 0;
    }

    private static void awaitTarget(final HdmabufClient client, final int target) throws Exception
    {
        final long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (client.targets().getTargetsList().stream().noneMatch(t -> t.getVm() == target &&
            t.getRolesList().contains("source")))
        {
            if (System.nanoTime() - deadline > 0)
            {
                throw new IllegalStateException("VM " + target + " with a source role did not appear within 30 s");
            }
            LockSupport.parkNanos(20_000_000L);
        }
    }

    /** A producer's pace ({@code fps} frames a second, 0: as fast as it goes) and its PROGRESS lines. */
    private static final class Pacing
    {
        private final long periodNs;
        private long next = System.nanoTime();
        private long nextProgress = next + PROGRESS_NS;

        Pacing(final int fps)
        {
            this.periodNs = fps > 0 ? 1_000_000_000L / fps : 0;
        }

        /** After frame {@code sent - 1}: reports progress now and then, and waits for the next frame's time. */
        void after(final long sent)
        {
            final long now = System.nanoTime();
            if (now - nextProgress >= 0)
            {
                System.out.println("PROGRESS " + sent);
                nextProgress = now + PROGRESS_NS;
            }
            if (periodNs > 0)
            {
                next += periodNs;
                final long ahead = next - System.nanoTime();
                if (ahead > 0)
                {
                    LockSupport.parkNanos(ahead); // pacing of a load generator, not synchronisation
                }
            }
        }
    }
}
