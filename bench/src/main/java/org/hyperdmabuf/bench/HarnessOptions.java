package org.hyperdmabuf.bench;

import java.nio.file.Path;
import java.util.Set;

/** The harness's command line ({@code hdmabuf bench} passes its options through). */
record HarnessOptions(boolean help, boolean quick, boolean verbose, Integer reps, Path out, Path readme,
    Set<String> only, boolean receiveThread, boolean traceExport)
{
    static final String USAGE =
        "usage: Harness [--quick] [--reps N] [--out FILE] [--readme FILE] [--only LIST] [--receive-thread] " +
        "[--trace-export] [-v]\n" +
        "  --quick   CI-sized run (well under a minute); default: the full run\n" +
        "  --reps N  runs per figure; each figure is the median of its runs (default 3 quick, 5 full)\n" +
        "  --out F   where to write the markdown table (default bench/target/results.md)\n" +
        "  --readme F  also put the table (not the per-run values) into F between the lines\n" +
        "            " + ReadmeResults.BEGIN + " and " + ReadmeResults.END + "\n" +
        "  --only L  comma-separated figures: " + String.join(",", Figures.names()) + "\n" +
        "            (default: all; a partial run for checking one figure)\n" +
        "  --receive-thread  daemons receive peer messages on the backend's own thread, handed to\n" +
        "            their event loop (the design before the loop watched the doorbells), for comparison\n" +
        "  --trace-export  the daemons note where each timed export's latency goes (ExportTrace);\n" +
        "            the event figure's details then list the median of every point\n" +
        "  -v        echo the output of every child process";

    static HarnessOptions parse(final String[] args)
    {
        boolean quick = false;
        boolean verbose = false;
        Integer reps = null;
        Path out = null;
        Path readme = null;
        Set<String> only = null;
        boolean receiveThread = false;
        boolean traceExport = false;
        for (int i = 0; i < args.length; i++)
        {
            switch (args[i])
            {
                case "--quick" -> quick = true;
                case "--reps" -> reps = Integer.parseInt(args[++i]);
                case "--out" -> out = Path.of(args[++i]);
                case "--readme" -> readme = Path.of(args[++i]);
                case "-v", "--verbose" -> verbose = true;
                case "--only" -> only = Set.of(args[++i].split(","));
                case "--receive-thread" -> receiveThread = true;
                case "--trace-export" -> traceExport = true;
                case "-h", "--help" ->
                {
                    return new HarnessOptions(true, quick, verbose, reps, out, readme, only, receiveThread,
                        traceExport);
                }
                default -> throw new IllegalArgumentException("unknown option " + args[i] + " (try --help)");
            }
        }
        if (reps != null && reps < 1)
        {
            throw new IllegalArgumentException("--reps must be positive");
        }
        return new HarnessOptions(false, quick, verbose, reps, out, readme, only, receiveThread, traceExport);
    }

    /** Whether {@code figure} runs ({@code --only} names it, or there is no {@code --only}). */
    boolean wants(final String figure)
    {
        return only == null || only.contains(figure);
    }
}
