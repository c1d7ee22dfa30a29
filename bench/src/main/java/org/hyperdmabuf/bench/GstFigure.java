package org.hyperdmabuf.bench;

import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * hdmabufsink/hdmabufsrc against shmsink/shmsrc ({@code gst/bench/shm-compare.py}, its own daemons and a 256M
 * region): frames/s and latency at 1080p and 4K, with a light source that writes a stripe into the buffer it is
 * handed and a consumer that reads every byte, both transports in the same run. Two upstreams: one that writes
 * into what the sink proposes (neither sink copies) and one with buffers of its own (both copy once). The target
 * is at least twice shmsink's frames/s at 4K; the ratio is taken within each round (the machine's load moves
 * both), and its median is the row's.
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
            run.cfg().quick() ? "1" : "3"), root, Map.of(), Duration.ofMinutes(30));
        // case -> resolution -> {fps, ratio vs shmsink, median latency ms}
        final Map<String, Map<String, double[]>> byCase = new HashMap<>();
        for (final String line : table)
        {
            final String[] c = line.split("\\|");
            if (c.length >= 11 && c[2].trim().matches("\\d+x\\d+"))
            {
                byCase.computeIfAbsent(c[1].trim(), k -> new HashMap<>()).put(c[2].trim(),
                    new double[] {median(c[3]), median(c[4]), median(c[9])});
            }
        }
        for (final String upstream : List.of("pool", "own"))
        {
            final Map<String, double[]> ours = rows(byCase, "hdmabufsink", upstream, table);
            final Map<String, double[]> shm = rows(byCase, "shmsink", upstream, table);
            final String what = upstream.equals("pool") ? "upstream writes into the sink's memory"
                : "upstream's own buffers, 1 copy";
            for (final String size : List.of("1920x1080", "3840x2160"))
            {
                final double[] o = ours.get(size);
                final double[] b = shm.get(size);
                if (o == null || b == null)
                {
                    continue;
                }
                final boolean goal = size.startsWith("3840") && upstream.equals("pool");
                run.report().add(new ResultRow("GStreamer hdmabufsink → hdmabufsrc " + size + " RGBA, " + what,
                    o[0], b[0], "shmsink → shmsrc; ratio: median of the rounds' ratios", goal ? FPS_4K_GOAL : 0,
                    "frames/s", o[1]));
                run.report().add(new ResultRow("GStreamer latency p50 " + size + " RGBA, " + what, o[2] * 1e6,
                    b[2] * 1e6, "shmsink → shmsrc", 0, "ns"));
            }
        }
        run.report().detail("GStreamer: gst/bench/shm-compare.py (a moving stripe written into each buffer, a consumer "
            + "reading every byte, fakesink sync=false; release build in bench/target/meson-c); its whole table, CPU "
            + "per frame of each process included, is in the log with -v");
    }

    /** The rows of one transport and upstream, by resolution. */
    private static Map<String, double[]> rows(final Map<String, Map<String, double[]>> byCase, final String sink,
        final String upstream, final List<String> table)
    {
        for (final Map.Entry<String, Map<String, double[]>> e : byCase.entrySet())
        {
            if (e.getKey().startsWith(sink) && e.getKey().contains(upstream.equals("pool") ? "sink's" : "own buffers"))
            {
                return e.getValue();
            }
        }
        throw new IllegalStateException("shm-compare.py printed no " + sink + " rows for upstream " + upstream + ": "
            + table);
    }

    /** A cell's median: its first number ("585 (400–600)" is 585); NaN for "—". */
    private static double median(final String cell)
    {
        final String first = cell.trim().split(" ")[0];
        return first.equals("—") ? Double.NaN : Double.parseDouble(first);
    }
}
