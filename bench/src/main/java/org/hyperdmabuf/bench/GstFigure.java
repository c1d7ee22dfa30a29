package org.hyperdmabuf.bench;

import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * hdmabufsink/hdmabufsrc against shmsink/shmsrc ({@code gst/bench/shm-compare.py}, its own daemons and a 256M
 * region): frames/s and latency at 1080p and 4K, both transports in the same run. The target is at least twice
 * shmsink's frames/s at 4K; with videotestsrc writing into either sink's own shared memory neither copies, so the
 * two are equal and the row says so.
 */
final class GstFigure
{
    /** At 4K: at least 2x shmsink's frames/s. */
    private static final double FPS_4K_GOAL = -2.0;

    private GstFigure()
    {
    }

    static void run(final BenchRun run) throws Exception
    {
        final Path root = MesonPrograms.checkoutRoot();
        final Path build = MesonPrograms.build(run, root, "gsthdmabuf", "gst-bench");
        final List<String> table = MesonPrograms.run(run, "gst", List.of("python3",
            root.resolve("gst/bench/shm-compare.py").toString(), "--build", build.toString(), "--rounds",
            run.cfg().quick() ? "1" : "3"), root, Map.of(), Duration.ofMinutes(20));
        // case -> resolution -> {fps, median latency ms}
        final Map<String, Map<String, double[]>> byCase = new HashMap<>();
        for (final String line : table)
        {
            final String[] c = line.split("\\|");
            if (c.length >= 8 && c[2].trim().matches("\\d+x\\d+"))
            {
                byCase.computeIfAbsent(c[1].trim(), k -> new HashMap<>()).put(c[2].trim(),
                    new double[] {Double.parseDouble(c[3].trim()), Double.parseDouble(c[5].trim())});
            }
        }
        final Map<String, double[]> ours = byCase.get("hdmabufsink -> hdmabufsrc");
        final Map<String, double[]> shm = byCase.get("shmsink -> shmsrc");
        if (ours == null || shm == null)
        {
            throw new IllegalStateException("shm-compare.py printed no hdmabuf or shm rows: " + table);
        }
        for (final String size : List.of("1920x1080", "3840x2160"))
        {
            final double[] o = ours.get(size);
            final double[] b = shm.get(size);
            if (o == null || b == null)
            {
                continue;
            }
            final boolean uhd = size.startsWith("3840");
            run.report().add(new ResultRow("GStreamer hdmabufsink → hdmabufsrc " + size + " RGBA", o[0], b[0],
                "shmsink → shmsrc", uhd ? FPS_4K_GOAL : 0, "frames/s", o[0] / b[0]));
            run.report().add(new ResultRow("GStreamer latency p50 " + size + " RGBA", o[1] * 1e6, b[1] * 1e6,
                "shmsink → shmsrc", 0, "ns"));
        }
        run.report().detail("GStreamer: gst/bench/shm-compare.py (videotestsrc, fakesink sync=false; release build in " +
            "bench/target/meson-c): both sinks give videotestsrc their own shared memory, so neither copies");
    }
}
