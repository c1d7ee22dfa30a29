package org.hyperdmabuf.bench;

import org.hyperdmabuf.abi.BufferIds;
import org.hyperdmabuf.abi.v1.Access;
import org.hyperdmabuf.abi.v1.BufferId;
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

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.locks.LockSupport;

/**
 * One side of a Java measurement, run by {@link Harness} as its own process (a "VM"): a client of the sink
 * daemon (producer) or of the source daemon (consumer). Prints {@code READY} when set up and one
 * {@code RESULT ...} line per repetition, in the format of the C baselines.
 * <pre>
 * fence-producer  --socket S --target VM --stream NAME --strategy SPIN|BLOCK|ADAPTIVE --rounds N --warmup W --reps R
 * fence-consumer  --socket S --stream NAME --strategy ... --rounds N --warmup W --reps R
 * frame-producer  --socket S --target VM --stream NAME --strategy ... --frames N --warmup W --reps R --width X --height Y
 *                 --buffers K
 * frame-consumer  --socket S --stream NAME --strategy ... --frames N --warmup W --reps R
 * event-producer  --socket S --target VM --stream NAME --count N --warmup W --reps R --gap-us G
 * event-consumer  --socket S --stream NAME --count N --warmup W --reps R
 * control-producer --socket S --target VM --cycles N --warmup W --reps R
 * scale-producer  --socket S --target VM --levels 0,100,... --probes K   (ScaleSide; waits for a line on stdin per level)
 * noop            prints READY and exits (the JVM start-up baseline)
 * </pre>
 */
public final class BenchSide
{
    private static final Duration TIMEOUT = Duration.ofSeconds(60);
    private static final String CONTENT_TYPE = "application/x-hdmabuf-bench";

    private BenchSide()
    {
    }

    public static void main(final String[] args) throws Exception
    {
        final Map<String, String> o = options(args);
        final String mode = args[0];
        switch (mode)
        {
            case "fence-producer" -> fenceProducer(o);
            case "fence-consumer" -> fenceConsumer(o);
            case "frame-producer" -> frameProducer(o);
            case "frame-consumer" -> frameConsumer(o);
            case "event-producer" -> eventProducer(o);
            case "event-consumer" -> eventConsumer(o);
            case "control-producer" -> controlProducer(o);
            case "scale-producer" -> ScaleSide.scaleProducer(o);
            case "noop" -> System.out.println("READY noop");
            default -> throw new IllegalArgumentException("unknown mode " + mode);
        }
        System.out.flush();
        System.exit(0); // do not wait for client threads
    }

    /**
     * Producer: signals acquire := v, then waits until release reaches v. One sample = signal + await, the
     * full round trip through the other process.
     */
    private static void fenceProducer(final Map<String, String> o) throws Exception
    {
        final Fence.WaitStrategy strategy = Fence.WaitStrategy.valueOf(o.get("strategy"));
        final int rounds = Integer.parseInt(o.get("rounds"));
        final int warmup = Integer.parseInt(o.get("warmup"));
        final int reps = Integer.parseInt(o.get("reps"));
        try (HdmabufClient client = HdmabufClient.connect(Path.of(o.get("socket"))))
        {
            final int target = Integer.parseInt(o.get("target"));
            awaitTarget(client, target);
            try (Allocation a = client.alloc(4096))
            {
                final Exported e = client.export(a.handle(), target, Metadata.newBuilder().setVersion(1)
                    .setContentType(CONTENT_TYPE).setSize(4096).putTags("stream", o.get("stream")).build(),
                    Access.ACCESS_READ_WRITE);
                try (Fence fence = client.fence(a, e))
                {
                    System.out.println("READY fence-producer");
                    System.out.flush();
                    final long[] samples = new long[rounds];
                    long v = 0;
                    for (int i = 0; i < warmup; i++)
                    {
                        v++;
                        fence.signal(v);
                        fence.await(v, TIMEOUT, strategy);
                    }
                    for (int r = 0; r < reps; r++)
                    {
                        for (int i = 0; i < rounds; i++)
                        {
                            v++;
                            final long t0 = System.nanoTime();
                            fence.signal(v);
                            fence.await(v, TIMEOUT, strategy);
                            samples[i] = System.nanoTime() - t0;
                        }
                        printLatency("fence_" + strategy.name().toLowerCase(), samples);
                    }
                }
                client.unexport(e.getId());
            }
        }
    }

    static Metadata meta(final String stream, final long sentNs)
    {
        final Metadata.Builder m = Metadata.newBuilder().setVersion(1).setContentType(CONTENT_TYPE).setSize(4096);
        if (stream != null)
        {
            m.putTags("stream", stream).putTags("sent", Long.toString(sentNs));
        }
        return m.build();
    }

    /**
     * Export -> add event: exports one allocation (a fresh export each time, the previous one unexported),
     * putting System.nanoTime() before the EXPORT call into the tag "sent"; the consumer (another process on
     * the same host, so the clock is the same) subtracts it from its arrival time. Paced: G us after the
     * export (the consumer imports and releases meanwhile) and G/2 us after the unexport, so one sample is
     * one unloaded export. Prints the EXPORT call's own duration (request -> reply) per repetition.
     */
    private static void eventProducer(final Map<String, String> o) throws Exception
    {
        final int count = Integer.parseInt(o.get("count"));
        final int warmup = Integer.parseInt(o.get("warmup"));
        final int reps = Integer.parseInt(o.get("reps"));
        final long gap = Long.parseLong(o.get("gap-us")) * 1000;
        final int jitWarmup = Integer.parseInt(o.getOrDefault("jit-warmup", "0"));
        final String stream = o.get("stream");
        try (HdmabufClient client = HdmabufClient.connect(Path.of(o.get("socket"))))
        {
            final int target = Integer.parseInt(o.get("target"));
            awaitTarget(client, target);
            try (Allocation a = client.alloc(4096))
            {
                System.out.println("READY event-producer");
                System.out.flush();
                // Unpaced cycles first, under another stream tag the consumer does not subscribe to: both daemons'
                // request paths get compiled by C2 before the paced cycles are measured.
                final String jitStream = stream + "-jit";
                for (int i = 0; i < jitWarmup; i++)
                {
                    client.unexport(client.export(a.handle(), target, meta(jitStream, 0), Access.ACCESS_READ_ONLY)
                        .getId());
                }
                final long[] samples = new long[count];
                for (int r = -1; r < reps; r++)
                {
                    final int n = r < 0 ? warmup : count;
                    for (int i = 0; i < n; i++)
                    {
                        final long t0 = System.nanoTime();
                        final Exported e = client.export(a.handle(), target, meta(stream, t0),
                            Access.ACCESS_READ_ONLY);
                        final long t1 = System.nanoTime();
                        if (r >= 0)
                        {
                            samples[i] = t1 - t0;
                        }
                        LockSupport.parkNanos(gap);
                        client.unexport(e.getId());
                        LockSupport.parkNanos(gap / 2);
                    }
                    if (r >= 0)
                    {
                        printLatency("export_call", samples);
                    }
                }
                client.free(a.handle());
            }
        }
    }

    /** Consumer of {@link #eventProducer}: event latency from the "sent" tag, then IMPORT + release per event. */
    private static void eventConsumer(final Map<String, String> o) throws Exception
    {
        final int count = Integer.parseInt(o.get("count"));
        final int warmup = Integer.parseInt(o.get("warmup"));
        final int reps = Integer.parseInt(o.get("reps"));
        try (HdmabufClient client = HdmabufClient.connect(Path.of(o.get("socket"))))
        {
            final long sub = client.subscribe(List.of(MatchRule.newBuilder()
                .addMatches(Match.newBuilder().setKey("ACTION").setGlob("add"))
                .addMatches(Match.newBuilder().setKey("TAG_STREAM").setGlob(o.get("stream"))).build()), false);
            System.out.println("READY event-consumer");
            System.out.flush();
            final long[] events = new long[Math.max(count, warmup)];
            final long[] imports = new long[Math.max(count, warmup)];
            int misses = 0;
            for (int r = -1; r < reps; r++)
            {
                final int n = r < 0 ? warmup : count;
                int i = 0;
                int ok = 0;
                while (i < n)
                {
                    final ReceivedEvent e = client.nextEvent(TIMEOUT);
                    final long arrived = System.nanoTime();
                    if (e == null)
                    {
                        throw new IllegalStateException("no add event within " + TIMEOUT);
                    }
                    if (e.isOverflow())
                    {
                        throw new IllegalStateException("event queue overflow: " + e.overflowDropped() + " dropped");
                    }
                    if (e.subscriptionId() != sub)
                    {
                        continue;
                    }
                    events[i++] = arrived - Long.parseLong(e.event().get("TAG_SENT"));
                    final BufferId id = BufferIds.parse(e.event().get("BUFFER"));
                    final long t0 = System.nanoTime();
                    try
                    {
                        final ImportedBuffer b = client.importBuffer(id);
                        imports[ok++] = System.nanoTime() - t0;
                        b.close();
                        client.release(id);
                    }
                    catch (final HdmabufException ex)
                    {
                        misses++; // unexported before we imported: no import sample
                    }
                }
                if (r >= 0)
                {
                    printLatency("export_event", Arrays.copyOf(events, n));
                    printLatency("import", Arrays.copyOf(imports, Math.max(1, ok)));
                }
            }
            System.out.println("MISSES " + misses);
        }
    }

    /** Control-plane throughput: export + unexport of one 4 KiB allocation, back to back; cycles/s per rep. */
    private static void controlProducer(final Map<String, String> o) throws Exception
    {
        final int cycles = Integer.parseInt(o.get("cycles"));
        final int warmup = Integer.parseInt(o.get("warmup"));
        final int reps = Integer.parseInt(o.get("reps"));
        try (HdmabufClient client = HdmabufClient.connect(Path.of(o.get("socket"))))
        {
            final int target = Integer.parseInt(o.get("target"));
            awaitTarget(client, target);
            try (Allocation a = client.alloc(4096))
            {
                final Metadata m = meta(null, 0);
                for (int r = -1; r < reps; r++)
                {
                    final int n = r < 0 ? warmup : cycles;
                    final long t0 = System.nanoTime();
                    for (int i = 0; i < n; i++)
                    {
                        client.unexport(client.export(a.handle(), target, m, Access.ACCESS_READ_ONLY).getId());
                    }
                    final double s = (System.nanoTime() - t0) / 1e9;
                    if (r >= 0)
                    {
                        System.out.printf("RESULT name=control cycles=%d seconds=%.4f cycles_per_s=%.1f%n", n, s,
                            n / s);
                        System.out.flush();
                    }
                }
                client.free(a.handle());
            }
        }
    }

    /** Consumer: waits until acquire reaches v, then signals release := v. */
    private static void fenceConsumer(final Map<String, String> o) throws Exception
    {
        final Fence.WaitStrategy strategy = Fence.WaitStrategy.valueOf(o.get("strategy"));
        final long total = Long.parseLong(o.get("warmup")) + Long.parseLong(o.get("rounds")) *
            Long.parseLong(o.get("reps"));
        try (HdmabufClient client = HdmabufClient.connect(Path.of(o.get("socket")));
             ImportedBuffer b = importStream(client, o.get("stream")))
        {
            final Fence fence = b.fence();
            System.out.println("READY fence-consumer");
            System.out.flush();
            for (long v = 1; v <= total; v++)
            {
                fence.await(v, TIMEOUT, strategy);
                fence.signal(v);
            }
        }
    }

    private static ImportedBuffer importStream(final HdmabufClient client, final String stream) throws Exception
    {
        final long sub = client.subscribe(List.of(MatchRule.newBuilder()
            .addMatches(Match.newBuilder().setKey("ACTION").setGlob("add"))
            .addMatches(Match.newBuilder().setKey("TAG_STREAM").setGlob(stream)).build()), true);
        final long deadline = System.nanoTime() + TIMEOUT.toNanos();
        while (System.nanoTime() < deadline)
        {
            final ReceivedEvent e = client.nextEvent(Duration.ofSeconds(1));
            if (e != null && !e.isOverflow() && e.subscriptionId() == sub)
            {
                client.unsubscribe(sub);
                return client.importBuffer(BufferIds.parse(e.event().get("BUFFER")));
            }
        }
        throw new IllegalStateException("no buffer of stream " + stream + " within " + TIMEOUT);
    }

    /**
     * Frame producer: a FrameProducer over K buffers. Every buffer is filled once (so the pages exist); per
     * frame only the 8-byte sequence number is written, so the measurement is the hand-over plus the
     * consumer's read of every byte, like the C baselines.
     */
    private static void frameProducer(final Map<String, String> o) throws Exception
    {
        final Fence.WaitStrategy strategy = Fence.WaitStrategy.valueOf(o.get("strategy"));
        final long total = Long.parseLong(o.get("warmup")) + Long.parseLong(o.get("frames")) *
            Long.parseLong(o.get("reps"));
        final int width = Integer.parseInt(o.get("width"));
        final int height = Integer.parseInt(o.get("height"));
        final int buffers = Integer.parseInt(o.get("buffers"));
        final long frameBytes = (long)width * height * 4;
        try (HdmabufClient client = HdmabufClient.connect(Path.of(o.get("socket"))))
        {
            final int target = Integer.parseInt(o.get("target"));
            awaitTarget(client, target);
            try (FrameProducer out = FrameProducer.create(client, target, o.get("stream"), buffers, frameBytes,
                Metadata.newBuilder().setVersion(1).setContentType(CONTENT_TYPE).build(), Access.ACCESS_READ_ONLY,
                strategy))
            {
                System.out.println("READY frame-producer");
                System.out.flush();
                for (long seq = 0; seq < total; seq++)
                {
                    final ByteBuffer frame = out.beginFrame(TIMEOUT).order(ByteOrder.LITTLE_ENDIAN);
                    if (seq < buffers)
                    {
                        for (int i = 0; i + 8 <= frameBytes; i += 8)
                        {
                            frame.putLong(i, 0x0101010101010101L * (seq + 1));
                        }
                    }
                    frame.putLong(0, seq);
                    out.endFrame();
                }
                out.drain(TIMEOUT);
            }
        }
    }

    /** Frame consumer: reads every byte of every frame (sums it as 64-bit words); frames/s per repetition. */
    private static void frameConsumer(final Map<String, String> o) throws Exception
    {
        final Fence.WaitStrategy strategy = Fence.WaitStrategy.valueOf(o.get("strategy"));
        final long warmup = Long.parseLong(o.get("warmup"));
        final long frames = Long.parseLong(o.get("frames"));
        final int reps = Integer.parseInt(o.get("reps"));
        long checksum = 0;
        try (HdmabufClient client = HdmabufClient.connect(Path.of(o.get("socket"))))
        {
            System.out.println("READY frame-consumer");
            System.out.flush();
            try (FrameConsumer in = FrameConsumer.open(client, o.get("stream"), TIMEOUT, strategy))
            {
                final int length = (int)in.contentLength();
                long seq = 0;
                for (int r = -1; r < reps; r++)
                {
                    final long n = r < 0 ? warmup : frames;
                    final long t0 = System.nanoTime();
                    for (long f = 0; f < n; f++, seq++)
                    {
                        final ByteBuffer frame = in.beginFrame(TIMEOUT).order(ByteOrder.LITTLE_ENDIAN);
                        if (frame.getLong(0) != seq)
                        {
                            throw new IllegalStateException("frame " + seq + " holds sequence " + frame.getLong(0));
                        }
                        checksum += DirectWords.sum(frame, length);
                        in.endFrame();
                    }
                    final double s = (System.nanoTime() - t0) / 1e9;
                    if (r >= 0)
                    {
                        System.out.printf("RESULT name=frames_java frames=%d seconds=%.4f frames_per_s=%.1f checksum=%d%n",
                            n, s, n / s, checksum);
                        System.out.flush();
                    }
                }
            }
        }
    }

    static void printLatency(final String name, final long[] samples)
    {
        final long[] sorted = samples.clone();
        Arrays.sort(sorted);
        System.out.printf("RESULT name=%s n=%d p50_ns=%d p99_ns=%d p999_ns=%d%n", name, sorted.length,
            Stats.percentile(sorted, 0.50), Stats.percentile(sorted, 0.99), Stats.percentile(sorted, 0.999));
        System.out.flush();
    }

    static void awaitTarget(final HdmabufClient client, final int target) throws Exception
    {
        final long deadline = System.nanoTime() + TIMEOUT.toNanos();
        while (client.targets().getTargetsList().stream().noneMatch(t -> t.getVm() == target &&
            t.getRolesList().contains("source")))
        {
            if (System.nanoTime() > deadline)
            {
                throw new IllegalStateException("VM " + target + " with a source daemon did not appear");
            }
            Thread.sleep(20);
        }
    }

    private static Map<String, String> options(final String[] args)
    {
        final Map<String, String> o = new HashMap<>();
        for (int i = 1; i + 1 < args.length; i += 2)
        {
            if (!args[i].startsWith("--"))
            {
                throw new IllegalArgumentException("expected --option value pairs after the mode: " + Arrays.toString(args));
            }
            o.put(args[i].substring(2), args[i + 1]);
        }
        return o;
    }
}
