package org.hyperdmabuf.cli;

import org.hyperdmabuf.abi.BufferIds;
import org.hyperdmabuf.abi.UEvent;
import org.hyperdmabuf.abi.v1.BufferId;
import org.hyperdmabuf.client.HdmabufClient;
import org.hyperdmabuf.client.ImportedBuffer;
import org.hyperdmabuf.client.ReceivedEvent;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;

@Command(name = "demo-consumer", hidden = true, mixinStandardHelpOptions = true,
    description = "The demo's consumer: imports every frame, verifies its sequence and CRC32C, releases it.")
final class DemoConsumer implements Callable<Integer>
{
    @Option(names = "--socket", required = true)
    Path socket;

    @Option(names = "--frames")
    int frames = 300;

    @Option(names = "--timeout", description = "Seconds without a frame before giving up.")
    long timeoutSeconds = 30;

    @Override
    public Integer call() throws Exception
    {
        final long[] latencies = new long[frames];
        long bytes = 0;
        long start = 0;
        try (HdmabufClient client = HdmabufClient.connect(socket))
        {
            client.subscribe(MatchRules.parse(List.of(), List.of("CONTENT_TYPE=" + DemoFrames.CONTENT_TYPE,
                "ACTION=add|change")), true);
            System.out.println("READY consumer");
            System.out.flush();
            for (int expected = 0; expected < frames; expected++)
            {
                final ReceivedEvent e = client.nextEvent(Duration.ofSeconds(timeoutSeconds));
                final long received = System.nanoTime();
                if (e == null || e.isOverflow())
                {
                    return fail(e == null ? "no frame " + expected + " within " + timeoutSeconds + " s" :
                        "event overflow: " + e.overflowDropped() + " events lost");
                }
                if (expected == 0)
                {
                    start = received;
                }
                final UEvent ev = e.event();
                final long seq = Long.parseLong(ev.get("TAG_SEQ"));
                if (seq != expected)
                {
                    return fail("expected frame " + expected + ", got " + seq + (seq < expected ? " (repeat)" : " (lost)"));
                }
                latencies[expected] = received - Long.parseLong(ev.get("TAG_EXPORT_NS"));
                final BufferId id = BufferIds.parse(ev.get("BUFFER"));
                try (ImportedBuffer b = client.importBuffer(id))
                {
                    final int length = (int)b.metadata().getSize();
                    final long inFrame = DemoFrames.sequenceOf(b.buffer().bytes());
                    final long crc = DemoFrames.crc32c(b.buffer().bytes(), length);
                    if (inFrame != seq || crc != Long.parseLong(ev.get("TAG_CRC32C")))
                    {
                        return fail("frame " + seq + " content mismatch: sequence in frame " + inFrame + ", crc32c " +
                            crc + " vs " + ev.get("TAG_CRC32C"));
                    }
                    bytes += length;
                }
                client.release(id);
            }
        }
        final double seconds = (System.nanoTime() - start) / 1e9;
        Arrays.sort(latencies);
        System.out.printf("VERIFIED frames=%d bytes=%d seconds=%.3f frames/s=%.1f MB/s=%.1f " +
            "export->event latency us p50=%.1f p90=%.1f p99=%.1f max=%.1f%n", frames, bytes, seconds,
            frames / seconds, bytes / seconds / 1e6, pct(latencies, 0.50), pct(latencies, 0.90), pct(latencies, 0.99),
            latencies[frames - 1] / 1e3);
        return 0;
    }

    private static double pct(final long[] sorted, final double p)
    {
        return sorted[Math.min(sorted.length - 1, (int)Math.floor(p * sorted.length))] / 1e3;
    }

    private static int fail(final String why)
    {
        System.out.println("FAILED " + why);
        return 1;
    }
}
