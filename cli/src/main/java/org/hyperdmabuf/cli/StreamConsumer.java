package org.hyperdmabuf.cli;

import org.hyperdmabuf.client.Fence;
import org.hyperdmabuf.client.FrameConsumer;
import org.hyperdmabuf.client.HdmabufClient;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.Callable;

@Command(name = "stream-consumer", hidden = true, mixinStandardHelpOptions = true,
    description = "The fenced demo's consumer: verifies every byte of every frame and its sequence number.")
final class StreamConsumer implements Callable<Integer>
{
    @Option(names = "--socket", required = true)
    Path socket;

    @Option(names = "--frames")
    long frames = 300;

    @Option(names = "--wait", description = "SPIN, BLOCK or ADAPTIVE (default: ${DEFAULT-VALUE}).")
    Fence.WaitStrategy wait = Fence.WaitStrategy.ADAPTIVE;

    @Option(names = "--stream", description = "Stream name (default: ${DEFAULT-VALUE}).")
    String streamName = "demo";

    @Override
    public Integer call() throws Exception
    {
        final long[] latencies = new long[(int)Math.min(frames, 1_000_000)];
        long bytes = 0;
        System.out.println("READY consumer");
        System.out.flush();
        try (HdmabufClient client = HdmabufClient.connect(socket);
             FrameConsumer stream = FrameConsumer.open(client, streamName, Duration.ofSeconds(60), wait))
        {
            final long start = System.nanoTime();
            for (long seq = 0; seq < frames; seq++)
            {
                final ByteBuffer frame = stream.beginFrame(Duration.ofSeconds(30));
                final long seen = System.nanoTime();
                final ByteBuffer f = frame.duplicate().order(ByteOrder.LITTLE_ENDIAN);
                final long inFrame = f.getLong(0);
                if (inFrame != seq)
                {
                    System.out.println("FAILED expected frame " + seq + ", buffer holds " + inFrame +
                        (inFrame < seq ? " (repeat)" : " (lost frames)"));
                    return 1;
                }
                final int length = (int)stream.contentLength();
                final long bad = DemoFrames.firstMismatch(f, seq, length, StreamProducer.SIGNAL_NS_OFFSET);
                if (bad >= 0)
                {
                    System.out.println("FAILED frame " + seq + " differs at byte " + bad);
                    return 1;
                }
                if (seq < latencies.length)
                {
                    latencies[(int)seq] = seen - f.getLong(StreamProducer.SIGNAL_NS_OFFSET);
                }
                bytes += length;
                stream.endFrame();
            }
            final double seconds = (System.nanoTime() - start) / 1e9;
            final long[] sorted = Arrays.copyOf(latencies, (int)Math.min(frames, latencies.length));
            Arrays.sort(sorted);
            // The producer stamps its own CLOCK_MONOTONIC: comparable only when it runs on this kernel's clock.
            final String latency = sorted[0] < 0 ? "signal->consumer latency n/a (the producer's clock is not ours)" :
                String.format("signal->consumer latency us p50=%.1f p90=%.1f p99=%.1f max=%.1f", pct(sorted, 0.5),
                    pct(sorted, 0.9), pct(sorted, 0.99), sorted[sorted.length - 1] / 1e3);
            System.out.printf("VERIFIED frames=%d bytes=%d seconds=%.3f frames/s=%.1f MB/s=%.1f %s (wait %s)%n",
                frames, bytes, seconds, frames / seconds, bytes / seconds / 1e6, latency, wait);
        }
        return 0;
    }

    private static double pct(final long[] sorted, final double p)
    {
        return sorted[Math.min(sorted.length - 1, (int)Math.floor(p * sorted.length))] / 1e3;
    }
}
