package org.hyperdmabuf.bench;

import org.hyperdmabuf.cli.ChildProcess;
import org.hyperdmabuf.daemon.DaemonRuntime;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.function.Function;
import java.util.stream.Stream;

/**
 * The end-to-end benchmark harness (bench/README.md). In one run on one machine it measures each hyperdmabuf figure
 * next to its C baseline, both as the median of several runs, and prints a table (metric | hyperdmabuf |
 * baseline | ratio | target) that it also writes to {@code bench/target/results.md}.
 * <p>
 * The C baselines are compiled from their sources (packaged in this jar under {@code c/}) with
 * {@code gcc -O2} into {@code bench/target/c/}. The Java figures run through real daemons: an ivshmem
 * server, a sink daemon ("VM 1") and a source daemon ("VM 2"), each its own JVM, plus one {@link BenchSide}
 * JVM per side.
 * <pre>
 * java -cp "bench/target/bench-0.1.0-SNAPSHOT.jar:bench/target/lib/*" org.hyperdmabuf.bench.Harness [--quick] [--reps N] [--out FILE] [-v]
 * </pre>
 */
public final class Harness
{
    private static final String[] C_PROGRAMS = {"shm_pingpong", "eventfd_pingpong", "unix_pingpong", "frame_read",
        "unix_frames"};
    private static final List<String> DAEMON_JVM = List.of("-Dorg.slf4j.simpleLogger.defaultLogLevel=warn");
    /**
     * The measured daemons' heap: fixed and pre-touched, so their RSS does not move when a full collection
     * uncommits heap regions, and the scale figure's RSS growth is the memory outside the Java heap.
     */
    private static final List<String> MEASURED_HEAP = List.of("-Xms256m", "-Xmx256m", "-XX:+AlwaysPreTouch");
    private static final List<String> SIDE_JVM = List.of("-Dorg.slf4j.simpleLogger.defaultLogLevel=warn");
    private static final Duration START = Duration.ofSeconds(60);
    /** Fence slots of the main region (sink's {@code --fence-slots}): room for the scale figure's 10 000 exports. */
    private static final int FENCE_SLOTS = 16_384;
    /** Daemons attached to one region in {@link #manyPeers()}. */
    private static final int PEERS = 16;
    /** Small daemon JVMs for {@link #manyPeers()}, so 16 of them fit next to each other. */
    private static final List<String> SMALL_DAEMON_JVM = List.of("-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
        "-Xmx64m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1");
    private static final Duration RUN = Duration.ofSeconds(600);

    /** Sizes of one run. */
    record Config(boolean quick, int reps, int shmRounds, int shmWarmup, int blockRounds, int blockWarmup,
        int spinRounds, int spinWarmup, int jBlockRounds, int jBlockWarmup, int width, int height, int buffers,
        int frames, int frameWarmup, int cFrames, int unixFrames)
    {
        static Config of(final boolean quick, final Integer reps)
        {
            return quick ?
                new Config(true, reps == null ? 3 : reps, 100_000, 10_000, 5_000, 1_000, 50_000, 50_000, 2_000,
                    2_000, 3840, 2160, 3, 60, 30, 100, 30) :
                new Config(false, reps == null ? 5 : reps, 1_000_000, 100_000, 50_000, 5_000, 500_000, 200_000,
                    20_000, 10_000, 3840, 2160, 3, 300, 300, 500, 150);
        }
    }

    /** Latency percentiles of one run, ns. */
    record Lat(double p50, double p99, double p999)
    {
        static Lat parse(final String line)
        {
            return new Lat(Double.parseDouble(ChildProcess.field(line, "p50_ns")), Double.parseDouble(ChildProcess.field(line,
                "p99_ns")), Double.parseDouble(ChildProcess.field(line, "p999_ns")));
        }
    }

    /**
     * One table row. {@code goal} > 0: ratio must be <= goal; < 0: ratio must be >= -goal; 0: no target.
     * {@code ratio} is {@code ours / baseline} unless given (NaN: computed).
     */
    record Row(String metric, double ours, double baseline, String baselineName, double goal, String unit,
               double ratio)
    {
        Row(final String metric, final double ours, final double baseline, final String baselineName,
            final double goal, final String unit)
        {
            this(metric, ours, baseline, baselineName, goal, unit, Double.NaN);
        }

        double shownRatio()
        {
            return Double.isNaN(ratio) ? ours / baseline : ratio;
        }
    }

    private final Config cfg;
    private final PrintStream log;
    private final PrintStream echo;
    private final Path targetDir;
    private final Path cDir;
    private final List<Row> rows = new ArrayList<>();
    private final List<String> details = new ArrayList<>();
    private final List<ChildProcess> daemons = new ArrayList<>();
    private Path runDir;
    /** Figures to run ({@code --only}); null: all. */
    Set<String> only;
    private int sourceVm;
    private int streams;

    Harness(final Config cfg, final Path targetDir, final PrintStream log, final boolean verbose)
    {
        this.cfg = cfg;
        this.targetDir = targetDir;
        this.cDir = targetDir.resolve("c");
        this.log = log;
        this.echo = verbose ? log : null;
    }

    public static void main(final String[] args) throws Exception
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
                    System.out.println("usage: Harness [--quick] [--reps N] [--out FILE] [--readme FILE] [--only LIST] [--receive-thread] [--trace-export] [-v]\n" +
                        "  --quick   CI-sized run (well under a minute); default: the full run\n" +
                        "  --reps N  runs per figure; each figure is the median of its runs (default 3 quick, 5 full)\n" +
                        "  --out F   where to write the markdown table (default bench/target/results.md)\n" +
                        "  --readme F  also put the table (not the per-run values) into F between the lines\n" +
                        "            " + README_BEGIN + " and " + README_END + "\n" +
                        "  --only L  comma-separated figures: startup,fence,events,frames,control,scale,peers\n" +
                        "            (default: all; a partial run for checking one figure)\n" +
                        "  --receive-thread  daemons receive peer messages on the backend's own thread, handed to\n" +
                        "            their event loop (the design before the loop watched the doorbells), for comparison\n" +
                        "  --trace-export  the daemons note where each timed export's latency goes (ExportTrace);\n" +
                        "            the event figure's details then list the median of every point\n" +
                        "  -v        echo the output of every child process");
                    return;
                }
                default -> throw new IllegalArgumentException("unknown option " + args[i] + " (try --help)");
            }
        }
        if (reps != null && reps < 1)
        {
            throw new IllegalArgumentException("--reps must be positive");
        }
        final Path target = targetDir();
        final Harness h = new Harness(Config.of(quick, reps), target, System.out, verbose);
        h.only = only;
        if (receiveThread)
        {
            h.daemonJvm.add("-D" + DaemonRuntime.RECEIVE_THREAD_PROPERTY + "=true");
        }
        if (traceExport)
        {
            h.daemonJvm.add("-Dhdmabuf.trace-export=true");
        }
        final String table = h.run(String.join(" ", args));
        final Path file = out != null ? out : target.resolve("results.md");
        Files.createDirectories(file.toAbsolutePath().getParent());
        Files.writeString(file, table);
        if (readme != null)
        {
            updateReadme(readme, table.substring(0, table.indexOf(RUNS_HEADING)) +
                "The value of every run is in `bench/target/results.md` after a run.\n");
            System.out.println("updated the results in " + readme);
        }
        System.out.println();
        System.out.println(table);
        System.out.println("written to " + file);
    }

    static final String README_BEGIN = "<!-- bench-results:begin (written by Harness --readme) -->";
    static final String README_END = "<!-- bench-results:end -->";
    private static final String RUNS_HEADING = "\nRuns (each number one run):";

    /** Replaces what lies between the two marker lines of {@code readme} with {@code text}. */
    static void updateReadme(final Path readme, final String text) throws IOException
    {
        final String old = Files.readString(readme, StandardCharsets.UTF_8);
        final int begin = old.indexOf(README_BEGIN);
        final int end = old.indexOf(README_END);
        if (begin < 0 || end < begin)
        {
            throw new IllegalArgumentException(readme + " has no " + README_BEGIN + " ... " + README_END + " block");
        }
        final String body = text.replaceFirst("^## hyperdmabuf benchmark results\n\n", "");
        Files.writeString(readme, old.substring(0, begin + README_BEGIN.length()) + "\n" + body + "\n" +
            old.substring(end), StandardCharsets.UTF_8);
    }

    /** bench/target: the directory holding this jar (or target/classes). */
    static Path targetDir() throws URISyntaxException
    {
        final Path where = Path.of(Harness.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        final Path parent = where.getParent();
        return parent != null ? parent.toAbsolutePath() : Path.of("bench/target").toAbsolutePath();
    }

    private boolean want(final String figure)
    {
        return only == null || only.contains(figure);
    }

    /** Runs everything and returns the markdown report. */
    String run(final String argLine) throws Exception
    {
        final long start = System.nanoTime();
        final String facts = machineFacts(argLine);
        compileBaselines();
        runDir = Files.createTempDirectory(Path.of("/tmp"), "hdmabuf-bench-");
        try
        {
            if (want("startup"))
            {
                startupTimes();
            }
            startDaemons();
            if (want("fence"))
            {
                fenceRoundTrip("SPIN", "shm_pingpong", "C shm spin ping-pong", cfg.shmRounds, cfg.shmWarmup, 2.0);
                fenceRoundTrip("ADAPTIVE", "shm_pingpong", "C shm spin ping-pong", cfg.shmRounds, cfg.shmWarmup, 0);
                fenceRoundTrip("BLOCK", "eventfd_pingpong", "C eventfd ping-pong", cfg.blockRounds, cfg.blockWarmup,
                    2.0);
            }
            if (want("events"))
            {
                eventLatency();
            }
            if (want("frames"))
            {
                streaming();
            }
            if (want("control"))
            {
                controlThroughput();
            }
            if (want("scale"))
            {
                scale();
            }
            stopDaemons();
            if (want("peers"))
            {
                manyPeers();
            }
        }
        finally
        {
            stopDaemons();
            deleteTree(runDir);
        }
        return report(facts, (System.nanoTime() - start) / 1e9);
    }

    // ---------------------------------------------------------------------------------------------- baselines

    private void compileBaselines() throws Exception
    {
        Files.createDirectories(cDir);
        for (final String f : List.of("bench_stats.h", "shm_pingpong.c", "eventfd_pingpong.c", "unix_pingpong.c",
            "frame_read.c", "unix_frames.c"))
        {
            try (InputStream in = Harness.class.getResourceAsStream("/c/" + f))
            {
                if (in == null)
                {
                    throw new IllegalStateException("C source c/" + f + " is not on the class path");
                }
                Files.write(cDir.resolve(f), in.readAllBytes());
            }
        }
        for (final String p : C_PROGRAMS)
        {
            final ChildProcess gcc = ChildProcess.command("gcc " + p, List.of("gcc", "-O2", "-Wall", "-o", cDir.resolve(p).toString(),
                cDir.resolve(p + ".c").toString()), echo);
            gcc.awaitSuccess(Duration.ofSeconds(60));
        }
        log.println("compiled the C baselines with gcc -O2 into " + cDir);
    }

    /** Runs a C baseline {@code reps} times; its RESULT lines. */
    private List<String> runC(final String program, final String... args) throws Exception
    {
        final List<String> results = new ArrayList<>();
        for (int r = 0; r < cfg.reps; r++)
        {
            results.add(runCOnce(program, args));
        }
        return results;
    }

    private String runCOnce(final String program, final String... args) throws Exception
    {
        final List<String> cmd = new ArrayList<>(List.of(cDir.resolve(program).toString()));
        cmd.addAll(List.of(args));
        final ChildProcess p = ChildProcess.command(program, cmd, echo);
        p.awaitSuccess(RUN);
        return p.awaitLine("RESULT", START);
    }

    // ---------------------------------------------------------------------------------------------- daemons

    private final List<String> daemonJvm = new ArrayList<>(DAEMON_JVM);
    private ChildProcess sinkDaemon;
    private ChildProcess sourceDaemon;

    private void startDaemons() throws Exception
    {
        final String ivshmem = runDir.resolve("ivshmem.sock").toString();
        final long region = 256L << 20;
        final ChildProcess server = daemon("server", "server", "--socket", ivshmem, "--size", Long.toString(region));
        server.awaitLine("READY", START);
        final List<String> noPolicy = List.of("--policy", runDir.resolve("no-policy.toml").toString(), "--policy-dir",
            runDir.resolve("no-policy.d").toString());
        // The sink formats the region: 16 384 fence slots, so the scale figure can hold 10 000 live exports.
        final List<String> sink = new ArrayList<>(List.of("sink", "--ivshmem", ivshmem, "--socket", sinkSocket(),
            "--fence-slots", Integer.toString(FENCE_SLOTS)));
        sink.addAll(noPolicy);
        sinkDaemon = daemon("sink", sink.toArray(new String[0]));
        sinkDaemon.awaitLine("READY", START);
        final List<String> source = new ArrayList<>(List.of("source", "--ivshmem", ivshmem, "--socket",
            sourceSocket()));
        source.addAll(noPolicy);
        sourceDaemon = daemon("source", source.toArray(new String[0]));
        sourceVm = Integer.parseInt(ChildProcess.field(sourceDaemon.awaitLine("READY", START), "vm"));
        log.println("daemons up: ivshmem server, sink (VM 1), source (VM " + sourceVm + "), region " + (region >> 20) +
            " MiB, " + FENCE_SLOTS + " fence slots, run dir " + runDir);
    }

    private ChildProcess daemon(final String name, final String... args) throws IOException
    {
        final List<String> jvm = new ArrayList<>(daemonJvm);
        jvm.addAll(MEASURED_HEAP);
        final ChildProcess p = ChildProcess.java(name, jvm, "org.hyperdmabuf.cli.Hdmabuf", List.of(args), echo);
        daemons.add(p);
        return p;
    }

    private void stopDaemons() throws InterruptedException
    {
        for (int i = daemons.size() - 1; i >= 0; i--)
        {
            daemons.get(i).close();
        }
        for (final ChildProcess d : daemons)
        {
            for (final String l : d.output())
            {
                if (l.contains(" ERROR ") || l.contains("Exception"))
                {
                    details.add("daemon " + d.name() + " logged: " + l);
                }
            }
        }
        daemons.clear();
    }

    private String sinkSocket()
    {
        return runDir.resolve("sink.sock").toString();
    }

    private String sourceSocket()
    {
        return runDir.resolve("source.sock").toString();
    }

    // ---------------------------------------------------------------------------------------------- measurements

    /** Fence round trip with {@code strategy} on both sides vs. a C ping-pong. */
    private void fenceRoundTrip(final String strategy, final String cProgram, final String cName, final int cRounds,
        final int cWarmup, final double goal) throws Exception
    {
        log.println("fence round trip, " + strategy + ": " + cProgram + " and the Java pair, alternately x" + cfg.reps);
        final boolean block = strategy.equals("BLOCK");
        final int rounds = block ? cfg.jBlockRounds : cfg.spinRounds;
        final int warmup = block ? cfg.jBlockWarmup : cfg.spinWarmup;
        // C and Java runs alternate, so both sample the same conditions: on a VM the round trip depends on where
        // the host runs the vCPUs at the moment (two hyperthreads of one core, or two cores), which drifts.
        final List<Lat> base = new ArrayList<>();
        final List<Lat> ours = new ArrayList<>();
        for (int r = 0; r < cfg.reps; r++)
        {
            base.add(Lat.parse(runCOnce(cProgram, Integer.toString(cRounds), Integer.toString(cWarmup))));
            final List<String> common = List.of("--stream", "fence" + (++streams), "--strategy", strategy,
                "--rounds", Integer.toString(rounds), "--warmup", Integer.toString(warmup), "--reps", "1");
            final List<String> pa = new ArrayList<>(List.of("fence-producer", "--socket", sinkSocket(), "--target",
                Integer.toString(sourceVm)));
            pa.addAll(common);
            final List<String> ca = new ArrayList<>(List.of("fence-consumer", "--socket", sourceSocket()));
            ca.addAll(common);
            ours.add(Lat.parse(runPair(pa, ca, true, 1).get(0)));
        }
        final String m = "fence RTT " + strategy;
        addLatencyRows(m, ours, base, cName, 0);
        // The target is judged run by run: on a VM the spin round trip is bimodal for C and Java alike (the host
        // moves the two vCPUs between sibling hyperthreads and separate cores), and the modes drift over seconds,
        // so each Java run is held against the C run that ran just before it.
        final List<Double> paired = new ArrayList<>();
        for (int r = 0; r < ours.size(); r++)
        {
            paired.add(ours.get(r).p50 / base.get(r).p50);
        }
        rows.add(new Row(m + " p50, run by run", Stats.median(ours.stream().map(Lat::p50).toList()),
            Stats.median(base.stream().map(Lat::p50).toList()), cName + "; ratio: median of each Java run / the C " +
            "run just before it", goal, "ns", Stats.median(paired)));
        details.add(m + " (" + rounds + " round trips x " + cfg.reps + " runs, after " + warmup + " warm-up): " +
            "hyperdmabuf runs " + describe(ours) + "; " + cName + " (" + cRounds + " x " + cfg.reps + ") runs " +
            describe(base) + "; per-run p50 ratios " + ratiosOf(paired));
    }

    private static String ratiosOf(final List<Double> ratios)
    {
        final StringBuilder b = new StringBuilder();
        for (final double r : ratios)
        {
            b.append(b.length() == 0 ? "" : ", ").append(fmt(r)).append('x');
        }
        return "[" + b + "]";
    }

    private void streaming() throws Exception
    {
        final String dims = cfg.width + "x" + cfg.height;
        log.println("4K streaming: frame_read x" + cfg.reps + ", unix_frames x" + cfg.reps + ", then the Java pair");
        final List<Double> limit = fps(runC("frame_read", Integer.toString(cfg.cFrames), Integer.toString(cfg.width),
            Integer.toString(cfg.height), Integer.toString(cfg.buffers)));
        final List<Double> socket = fps(runC("unix_frames", Integer.toString(cfg.unixFrames), Integer.toString(
            cfg.width), Integer.toString(cfg.height)));
        final String stream = "frames" + (++streams);
        final List<String> common = List.of("--stream", stream, "--strategy", "SPIN", "--frames", Integer.toString(
            cfg.frames), "--warmup", Integer.toString(cfg.frameWarmup), "--reps", Integer.toString(cfg.reps));
        final List<String> pa = new ArrayList<>(List.of("frame-producer", "--socket", sinkSocket(), "--target",
            Integer.toString(sourceVm), "--width", Integer.toString(cfg.width), "--height", Integer.toString(
                cfg.height), "--buffers", Integer.toString(cfg.buffers)));
        pa.addAll(common);
        final List<String> ca = new ArrayList<>(List.of("frame-consumer", "--socket", sourceSocket()));
        ca.addAll(common);
        final List<Double> ours = fps(runPair(pa, ca, false));
        final List<Double> javaLoop = javaReadLoop();
        final double o = Stats.median(ours);
        rows.add(new Row(dims + " RGBA frames/s, " + cfg.buffers + " buffers, SPIN", o, Stats.median(limit),
            "C read of the same bytes (limit)", -0.8, "frames/s"));
        rows.add(new Row(dims + " RGBA frames/s, " + cfg.buffers + " buffers, SPIN", o, Stats.median(socket),
            "C frames through a Unix socket", -3.0, "frames/s"));
        rows.add(new Row("diagnostic: Java read loop alone, same bytes, no hand-over", Stats.median(javaLoop),
            Stats.median(limit), "C read of the same bytes (limit)", 0, "frames/s"));
        details.add(dims + " streaming frames/s: hyperdmabuf runs " + ours + " (" + cfg.frames + " frames each, after " +
            cfg.frameWarmup + " warm-up); C read limit runs " + limit + " (" + cfg.cFrames + " frames); C Unix " +
            "socket runs " + socket + " (" + cfg.unixFrames + " frames); Java read loop alone (in the harness " +
            "JVM, direct buffers, DirectWords.sum) runs " + javaLoop);
    }

    /** The consumer's read loop on its own, in this JVM: what Java reading costs without any hand-over. */
    private List<Double> javaReadLoop()
    {
        final int length = cfg.width * cfg.height * 4;
        final java.nio.ByteBuffer[] bufs = new java.nio.ByteBuffer[cfg.buffers];
        for (int k = 0; k < bufs.length; k++)
        {
            bufs[k] = java.nio.ByteBuffer.allocateDirect(length).order(java.nio.ByteOrder.LITTLE_ENDIAN);
            for (int i = 0; i + 8 <= length; i += 8)
            {
                bufs[k].putLong(i, k + 1);
            }
        }
        long sum = 0;
        final List<Double> runs = new ArrayList<>();
        for (int r = -1; r < cfg.reps; r++)
        {
            final int n = r < 0 ? cfg.frameWarmup : cfg.cFrames;
            final long t0 = System.nanoTime();
            for (int f = 0; f < n; f++)
            {
                sum += DirectWords.sum(bufs[f % bufs.length], length);
            }
            if (r >= 0)
            {
                runs.add(Math.round(n / ((System.nanoTime() - t0) / 1e9) * 10) / 10.0);
            }
        }
        if (sum == 42)
        {
            log.println(); // keeps the sum alive
        }
        return runs;
    }

    // ---------------------------------------------------------------------------------------------- control plane

    private double unixP50 = Double.NaN;

    /** Daemon start-up: process start to its READY line (server, sink, source), vs. a trivial JVM's. */
    private void startupTimes() throws Exception
    {
        log.println("daemon start-up: server, sink, source and a trivial JVM x" + cfg.reps);
        final Path dir = Files.createDirectories(runDir.resolve("startup"));
        final List<Double> noop = new ArrayList<>();
        final List<Double> server = new ArrayList<>();
        final List<Double> sink = new ArrayList<>();
        final List<Double> source = new ArrayList<>();
        for (int r = 0; r < cfg.reps; r++)
        {
            long t0 = System.nanoTime();
            try (ChildProcess p = ChildProcess.java("noop", SIDE_JVM, BenchSide.class.getName(), List.of("noop"), echo))
            {
                p.awaitLine("READY", START);
                noop.add((System.nanoTime() - t0) / 1e6);
                p.awaitSuccess(START);
            }
            final String ivshmem = dir.resolve("iv" + r + ".sock").toString();
            final List<String> noPolicy = List.of("--policy", dir.resolve("no-policy.toml").toString(),
                "--policy-dir", dir.resolve("no-policy.d").toString());
            final List<ChildProcess> started = new ArrayList<>();
            try
            {
                t0 = System.nanoTime();
                started.add(ChildProcess.java("startup-server", daemonJvm, "org.hyperdmabuf.cli.Hdmabuf", List.of("server",
                    "--socket", ivshmem, "--size", Long.toString(256L << 20)), echo));
                started.get(0).awaitLine("READY", START);
                server.add((System.nanoTime() - t0) / 1e6);
                for (final String role : List.of("sink", "source"))
                {
                    final List<String> a = new ArrayList<>(List.of(role, "--ivshmem", ivshmem, "--socket",
                        dir.resolve(role + r + ".sock").toString()));
                    a.addAll(noPolicy);
                    t0 = System.nanoTime();
                    final ChildProcess p = ChildProcess.java("startup-" + role, daemonJvm, "org.hyperdmabuf.cli.Hdmabuf", a, echo);
                    started.add(p);
                    p.awaitLine("READY", START);
                    (role.equals("sink") ? sink : source).add((System.nanoTime() - t0) / 1e6);
                }
            }
            finally
            {
                for (int i = started.size() - 1; i >= 0; i--)
                {
                    started.get(i).close();
                }
            }
        }
        final double base = Stats.median(noop);
        final String baseName = "JVM start, trivial main printing READY";
        rows.add(new Row("start-up to READY, sink daemon", Stats.median(sink), base, baseName, 0, "ms"));
        rows.add(new Row("start-up to READY, source daemon", Stats.median(source), base, baseName, 0, "ms"));
        rows.add(new Row("start-up to READY, ivshmem server", Stats.median(server), base, baseName, 0, "ms"));
        details.add("start-up to READY (ms, process start to the READY line, each daemon started on its own in " +
            "turn: server, then sink (formats the 256 MiB region), then source): sink runs " + ms(sink) +
            ", source runs " + ms(source) + ", server runs " + ms(server) + ", trivial JVM runs " + ms(noop));
    }

    private static String ms(final List<Double> v)
    {
        return v.stream().map(d -> String.format(Locale.ROOT, "%.0f", d)).toList().toString();
    }

    /** Export -> add event latency and IMPORT latency vs. the C Unix-socket ping-pong. */
    private void eventLatency() throws Exception
    {
        final int count = cfg.quick ? 300 : 1000;
        final int warmup = cfg.quick ? 100 : 2000;
        final int gapUs = 2000;
        log.println("export -> event and import: unix_pingpong x" + cfg.reps + " back to back and paced, then the " +
            "Java pair");
        final List<Lat> backToBack = runC("unix_pingpong", Integer.toString(cfg.blockRounds), Integer.toString(
            cfg.blockWarmup)).stream().map(Lat::parse).toList();
        unixP50 = Stats.median(backToBack.stream().map(Lat::p50).toList());
        // The same pacing as the exports: every round starts after gapUs / 2 idle, as every EXPORT does, so both
        // sides pay for being woken from idle (on a VM, a halted vCPU) as the daemons and clients do.
        final List<Lat> base = runC("unix_pingpong", Integer.toString(count), Integer.toString(warmup / 5),
            Integer.toString(gapUs / 2)).stream().map(Lat::parse).toList();
        final String stream = "events" + (++streams);
        final List<String> common = List.of("--stream", stream, "--count", Integer.toString(count), "--warmup",
            Integer.toString(warmup), "--reps", Integer.toString(cfg.reps));
        final List<String> ca = new ArrayList<>(List.of("event-consumer", "--socket", sourceSocket()));
        ca.addAll(common);
        final int jitWarmup = cfg.quick ? 2_000 : 20_000;
        final List<String> pa = new ArrayList<>(List.of("event-producer", "--socket", sinkSocket(), "--target",
            Integer.toString(sourceVm), "--gap-us", Integer.toString(gapUs), "--jit-warmup", Integer.toString(
                jitWarmup)));
        pa.addAll(common);
        final String main = BenchSide.class.getName();
        final List<Lat> events;
        final List<Lat> imports;
        final List<Lat> calls;
        final String misses;
        try (ChildProcess consumer = ChildProcess.java("consumer", SIDE_JVM, main, ca, echo))
        {
            consumer.awaitLine("READY", START);
            try (ChildProcess producer = ChildProcess.java("producer", SIDE_JVM, main, pa, echo))
            {
                producer.awaitSuccess(RUN);
                consumer.awaitSuccess(RUN);
                events = results(consumer, "export_event");
                imports = results(consumer, "import");
                calls = results(producer, "export_call");
                misses = consumer.awaitLine("MISSES", START);
            }
        }
        final String cName = "C unix socketpair ping-pong, paced alike";
        addLatencyRows("export → add event", events, base, cName, 4.0);
        rows.add(new Row("diagnostic: export → add event p50 vs back-to-back", Stats.median(events.stream().map(
            Lat::p50).toList()), unixP50, "C unix socketpair ping-pong, back to back", 0, "ns"));
        final List<Function<Lat, Double>> f = List.of(Lat::p50, Lat::p99);
        final String[] names = {"p50", "p99"};
        for (int i = 0; i < 2; i++)
        {
            rows.add(new Row("IMPORT call (consumer) " + names[i], Stats.median(imports.stream().map(f.get(i))
                .toList()), Stats.median(base.stream().map(f.get(i)).toList()), cName, 0, "ns"));
        }
        rows.add(new Row("EXPORT call (producer, request → reply) p50", Stats.median(calls.stream().map(Lat::p50)
            .toList()), Stats.median(base.stream().map(Lat::p50).toList()), cName, 0, "ns"));
        details.add("export → add event (" + count + " exports x " + cfg.reps + " runs after " + jitWarmup +
            " unpaced export+unexport cycles that no consumer sees, to let C2 compile the daemons, and " + warmup +
            " paced warm-up, " +
            "each a fresh EXPORT of one 4 KiB allocation, paced " + gapUs + " µs before its UNEXPORT and " +
            gapUs / 2 + " µs after; latency = consumer's arrival time − the nanoTime put in the export's tags " +
            "before the EXPORT call): runs " + describe(events) + "; IMPORT call runs " + describe(imports) +
            "; EXPORT call runs " + describe(calls) + "; C unix socketpair ping-pong paced alike (" + count + " x " +
            cfg.reps + ", " + gapUs / 2 + " µs idle before each round) runs " + describe(base) + "; back to back (" +
            cfg.blockRounds + " x " + cfg.reps + ") runs " + describe(backToBack) + "; imports that lost the race with the unexport (not " +
            "counted): " + misses.substring("MISSES ".length()) + traced(sinkDaemon) + traced(sourceDaemon));
    }

    /** The last ExportTrace line of a daemon run with --trace-export, for the details; empty otherwise. */
    private static String traced(final ChildProcess daemon)
    {
        final List<String> l = daemon.linesStartingWith("EXPORT-TRACE ");
        return l.isEmpty() ? "" : "; " + daemon.name() + " " + l.get(l.size() - 1).substring("EXPORT-TRACE ".length());
    }

    private List<Lat> results(final ChildProcess p, final String name)
    {
        final List<Lat> l = p.linesStartingWith("RESULT name=" + name + " ").stream().map(Lat::parse).toList();
        if (l.size() != cfg.reps)
        {
            throw new IllegalStateException("expected " + cfg.reps + " RESULT lines " + name + " from " + p.name() +
                ", got " + l.size() + "; output:\n" + String.join("\n", p.output()));
        }
        return l;
    }

    /** Export + unexport cycles per second from one producer (no consumer subscribed). */
    private void controlThroughput() throws Exception
    {
        final int cycles = 2000;
        final int warmup = cfg.quick ? 500 : 2000;
        log.println("control plane: export+unexport cycles/s, " + cycles + " x" + cfg.reps);
        try (ChildProcess p = ChildProcess.java("producer", SIDE_JVM, BenchSide.class.getName(), List.of("control-producer",
            "--socket", sinkSocket(), "--target", Integer.toString(sourceVm), "--cycles", Integer.toString(cycles),
            "--warmup", Integer.toString(warmup), "--reps", Integer.toString(cfg.reps)), echo))
        {
            p.awaitSuccess(RUN);
            final List<Double> ours = p.linesStartingWith("RESULT name=control ").stream().map(l -> Double
                .parseDouble(ChildProcess.field(l, "cycles_per_s"))).toList();
            final double bound = 1e9 / (2 * unixP50);
            rows.add(new Row("EXPORT+UNEXPORT cycles/s, one producer, 4 KiB", Stats.median(ours), bound,
                "1 s / (2 x C Unix socket RTT p50)", 0, "cycles/s"));
            details.add("EXPORT+UNEXPORT cycles/s (" + cycles + " cycles x " + cfg.reps + " runs after " + warmup +
                " warm-up, back to back, one allocation, no subscriber): runs " + ours + "; the baseline is what " +
                "two bare Unix-socket request/replies per cycle would allow, from the same run's C ping-pong");
        }
    }

    /** Export latency and daemon memory at growing numbers of live 4 KiB buffers. */
    private void scale() throws Exception
    {
        final int[] levels = {0, 100, 1000, 10_000};
        final int probes = cfg.quick ? 200 : 1000;
        log.println("scale: live buffers " + Arrays.toString(levels) + ", " + probes + " probe exports per level");
        final StringBuilder lv = new StringBuilder();
        for (final int l : levels)
        {
            lv.append(lv.length() == 0 ? "" : ",").append(l);
        }
        final List<String> levelLines = new ArrayList<>();
        final List<long[]> mem = new ArrayList<>(); // sink heap, sink rss, source heap, source rss (bytes)
        try (ChildProcess p = ChildProcess.java("scale-producer", SIDE_JVM, BenchSide.class.getName(), List.of("scale-producer",
            "--socket", sinkSocket(), "--target", Integer.toString(sourceVm), "--levels", lv.toString(), "--probes",
            Integer.toString(probes)), echo);
             JvmProbe sinkJvm = new JvmProbe(sinkDaemon.pid());
             JvmProbe sourceJvm = new JvmProbe(sourceDaemon.pid()))
        {
            for (int i = 0; i < levels.length; i++)
            {
                final String line = p.awaitLines("LEVEL", i + 1, RUN).get(i);
                levelLines.add(line);
                mem.add(new long[] {sinkJvm.heapAfterGc(), rss(sinkDaemon.pid()), sourceJvm.heapAfterGc(),
                    rss(sourceDaemon.pid())});
                p.send("go");
            }
            p.awaitSuccess(RUN);
        }
        final double p50At0 = Double.parseDouble(ChildProcess.field(levelLines.get(0), "export_p50_ns"));
        final StringBuilder d = new StringBuilder("scale (one pass, after " + 2 * probes + " untimed warm-up exports; " + probes + " probe EXPORT calls per level, each " +
            "followed by UNEXPORT and a 200 µs pause; memory after two System.gc() through JMX; RSS = RssAnon (VmRSS less the shared " +
            "region's pages), with the daemons' 256 MiB heap fixed and pre-touched, so RSS growth is memory " +
            "outside the heap): ");
        for (int i = 0; i < levels.length; i++)
        {
            final String line = levelLines.get(i);
            final int live = Integer.parseInt(ChildProcess.field(line, "live"));
            final int exported = Integer.parseInt(ChildProcess.field(line, "exported"));
            final long[] m = mem.get(i);
            d.append(String.format(Locale.ROOT, "%s%d live / %d exported: EXPORT p50 %s ns, p99 %s ns, ALLOC p50 " +
                "%s ns (%s probes, %s ENOSPC retries); sink heap %.1f MiB, RSS %.1f MiB; source heap %.1f MiB, RSS %.1f MiB", i == 0 ? "" : "; ",
                live, exported, ChildProcess.field(line, "export_p50_ns"), ChildProcess.field(line, "export_p99_ns"), ChildProcess.field(line,
                "alloc_p50_ns"), ChildProcess.field(line, "probes"), ChildProcess.field(line, "probe_enospc"), m[0] / 1048576.0, m[1] / 1048576.0, m[2] / 1048576.0, m[3] / 1048576.0));
            if (i == 0)
            {
                continue;
            }
            rows.add(new Row("EXPORT call p50, " + live + " live buffers (" + exported + " exported)",
                Double.parseDouble(ChildProcess.field(line, "export_p50_ns")), p50At0, "the same, 0 live buffers", 0, "ns"));
            final long[] z = mem.get(0);
            rows.add(new Row("sink daemon heap after GC per 1 000 live buffers, at " + live, (m[0] - z[0]) / 1024.0 *
                1000 / live, Double.NaN, "", 0, "KiB"));
            rows.add(new Row("sink daemon anonymous RSS outside the heap per 1 000 live buffers, at " + live,
                (m[1] - z[1]) / 1024.0 * 1000 / live, Double.NaN, "", 0, "KiB"));
        }
        final String last = levelLines.get(levelLines.size() - 1);
        final int limit = Integer.parseInt(ChildProcess.field(last, "export_limit"));
        if (limit >= 0)
        {
            d.append(". Exports stopped with ENOSPC after ").append(limit).append(" live exports (").append(ChildProcess.field(
                last, "limit_message").replace('_', ' ')).append("); 16 were then unexported to leave room for the " +
                "probes, and the buffers above that are allocated but not exported");
        }
        details.add(d.toString());
    }

    /**
     * 16 daemons on one region (own server and run dir): do all of them see each other, and how does
     * export -> add latency between one sink and one source change with 16 peers attached vs. 2? Measured
     * 2 peers, then 16, then 2 again (the 14 extra daemons stopped), so JIT warm-up of the two daemons under
     * test does not favour one side of the ratio.
     */
    private void manyPeers() throws Exception
    {
        final Path dir = Files.createDirectories(runDir.resolve("peers"));
        final String ivshmem = dir.resolve("iv.sock").toString();
        final List<String> noPolicy = List.of("--policy", dir.resolve("no-policy.toml").toString(), "--policy-dir",
            dir.resolve("no-policy.d").toString());
        final int maxPeers = 32; // the server's ids and the region's peer slots
        final int count = cfg.quick ? 150 : 400;
        final int warmup = cfg.quick ? 100 : 200;
        log.println("16 peers on one region: server + " + PEERS + " daemons (-Xmx64m, SerialGC, C1), max-peers " +
            maxPeers + "; export -> add with 2, " + PEERS + ", 2 peers");
        final long t0 = System.nanoTime();
        final List<ChildProcess> started = new ArrayList<>();
        final List<ChildProcess> extra = new ArrayList<>();
        try
        {
            final ChildProcess server = ChildProcess.java("peers-server", SMALL_DAEMON_JVM, "org.hyperdmabuf.cli.Hdmabuf", List.of(
                "server", "--socket", ivshmem, "--size", Long.toString(256L << 20), "--max-peers",
                Integer.toString(maxPeers)), echo);
            started.add(server);
            server.awaitLine("READY", START);
            final List<String> sockets = new ArrayList<>();
            final List<Integer> vms = new ArrayList<>();
            for (int i = 0; i < 2; i++)
            {
                final String role = i == 0 ? "sink" : "source";
                final String sock = dir.resolve("peer" + i + ".sock").toString();
                final List<String> a = new ArrayList<>(List.of(role, "--ivshmem", ivshmem, "--socket", sock,
                    "--max-peers", Integer.toString(maxPeers)));
                a.addAll(noPolicy);
                final ChildProcess p = ChildProcess.java("peer" + i + "-" + role, SMALL_DAEMON_JVM, "org.hyperdmabuf.cli.Hdmabuf", a,
                    echo);
                started.add(p);
                vms.add(Integer.parseInt(ChildProcess.field(p.awaitLine("READY", START), "vm")));
                sockets.add(sock);
            }
            final List<Lat> two = peerEvents(sockets.get(0), sockets.get(1), vms.get(1), count, warmup);
            final long tStart = System.nanoTime();
            for (int i = 2; i < PEERS; i++)
            {
                final String role = i % 2 == 0 ? "sink" : "source";
                final String sock = dir.resolve("peer" + i + ".sock").toString();
                final List<String> a = new ArrayList<>(List.of(role, "--ivshmem", ivshmem, "--socket", sock));
                a.addAll(noPolicy);
                final ChildProcess p = ChildProcess.java("peer" + i + "-" + role, SMALL_DAEMON_JVM, "org.hyperdmabuf.cli.Hdmabuf", a,
                    echo);
                started.add(p);
                extra.add(p);
                sockets.add(sock);
            }
            for (int i = 2; i < PEERS; i++)
            {
                vms.add(Integer.parseInt(ChildProcess.field(started.get(i + 1).awaitLine("READY", START), "vm")));
            }
            final double readyS = (System.nanoTime() - tStart) / 1e9;
            // every daemon must list the 15 others
            final int[] seen = new int[PEERS];
            final long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            boolean all = false;
            while (!all && System.nanoTime() < deadline)
            {
                all = true;
                for (int i = 0; i < PEERS; i++)
                {
                    try (org.hyperdmabuf.client.HdmabufClient c = org.hyperdmabuf.client.HdmabufClient.connect(
                        Path.of(sockets.get(i))))
                    {
                        final int self = vms.get(i);
                        seen[i] = (int) c.targets().getTargetsList().stream().filter(t -> t.getVm() != self &&
                            vms.contains(t.getVm())).count();
                    }
                    all &= seen[i] == PEERS - 1;
                }
                if (!all)
                {
                    Thread.sleep(100);
                }
            }
            final double meshS = (System.nanoTime() - tStart) / 1e9;
            final List<Lat> sixteen = peerEvents(sockets.get(0), sockets.get(1), vms.get(1), count, warmup);
            for (final ChildProcess p : extra)
            {
                p.close();
            }
            Thread.sleep(2500); // past the 1.5 s liveness timeout: the others are gone for the two left
            final List<Lat> twoAgain = peerEvents(sockets.get(0), sockets.get(1), vms.get(1), count, warmup);
            // baseline: the second 2-peer phase, the warmest of the three (the first one is still JIT-cold)
            final double p2 = Stats.median(twoAgain.stream().map(Lat::p50).toList());
            final double p16 = Stats.median(sixteen.stream().map(Lat::p50).toList());
            int fullySeen = 0;
            for (final int s : seen)
            {
                fullySeen += s == PEERS - 1 ? 1 : 0;
            }
            rows.add(new Row(PEERS + " peers on one region: daemons that list all " + (PEERS - 1) + " others",
                fullySeen, PEERS, "all " + PEERS, 0, "daemons"));
            rows.add(new Row("export → add event p50, sink → source, " + PEERS + " peers attached", p16, p2,
                "the same pair, 2 peers, measured after", 0, "ns"));
            details.add(String.format(Locale.ROOT, "%d peers on one region (own server, %d daemons with -Xmx64m " +
                "-XX:+UseSerialGC -XX:TieredStopAtLevel=1, the first formats with --max-peers %d; VMs %s): targets " +
                "seen per daemon (others) %s; the 14 extra daemons READY %.1f s after start, every daemon listing " +
                "all others after %.1f s. export → add (%d exports x %d runs after %d warm-up, paced as above) " +
                "from VM %d's sink to VM %d's source: 2 peers %s; %d peers %s; 2 peers again (the 14 stopped) %s. " +
                "Whole figure %.0f s", PEERS, PEERS, maxPeers, vms, Arrays.toString(seen), readyS, meshS, count,
                cfg.reps, warmup, vms.get(0), vms.get(1), describe(two), PEERS, describe(sixteen), describe(twoAgain),
                (System.nanoTime() - t0) / 1e9));
        }
        finally
        {
            for (int i = started.size() - 1; i >= 0; i--)
            {
                started.get(i).close();
            }
            for (final ChildProcess d : started)
            {
                for (final String l : d.output())
                {
                    if (l.contains(" ERROR ") || l.contains("Exception"))
                    {
                        details.add("daemon " + d.name() + " logged: " + l);
                    }
                }
            }
        }
    }

    /** One event-producer / event-consumer pair through the given daemons; the consumer's event latencies. */
    private List<Lat> peerEvents(final String sinkSock, final String sourceSock, final int sourceVmId,
        final int count, final int warmup) throws Exception
    {
        final String stream = "peers" + (++streams);
        final List<String> common = List.of("--stream", stream, "--count", Integer.toString(count), "--warmup",
            Integer.toString(warmup), "--reps", Integer.toString(cfg.reps));
        final List<String> ca = new ArrayList<>(List.of("event-consumer", "--socket", sourceSock));
        ca.addAll(common);
        final List<String> pa = new ArrayList<>(List.of("event-producer", "--socket", sinkSock, "--target",
            Integer.toString(sourceVmId), "--gap-us", "2000"));
        pa.addAll(common);
        final String main = BenchSide.class.getName();
        try (ChildProcess consumer = ChildProcess.java("consumer", SIDE_JVM, main, ca, echo))
        {
            consumer.awaitLine("READY", START);
            try (ChildProcess producer = ChildProcess.java("producer", SIDE_JVM, main, pa, echo))
            {
                producer.awaitSuccess(RUN);
                consumer.awaitSuccess(RUN);
                return results(consumer, "export_event");
            }
        }
    }

    /**
     * RssAnon of {@code pid}: the process's own resident memory (heap, malloc, metaspace, code, stacks). VmRSS
     * also counts the pages of the shared region the daemon has touched, which move with the pool (freed
     * buffers' pages are punched out) and are the buffers' memory, not the daemon's.
     */
    private static long rss(final long pid)
    {
        return read("/proc/" + pid + "/status").lines().filter(l -> l.startsWith("RssAnon:")).findFirst()
            .map(l -> Long.parseLong(l.replaceAll("[^0-9]", "")) * 1024).orElse(-1L);
    }

    /** A JMX connection to a daemon JVM through the attach API. */
    private static final class JvmProbe implements AutoCloseable
    {
        private final javax.management.remote.JMXConnector connector;
        private final java.lang.management.MemoryMXBean memory;

        JvmProbe(final long pid) throws Exception
        {
            final com.sun.tools.attach.VirtualMachine vm = com.sun.tools.attach.VirtualMachine.attach(Long.toString(
                pid));
            try
            {
                connector = javax.management.remote.JMXConnectorFactory.connect(new javax.management.remote
                    .JMXServiceURL(vm.startLocalManagementAgent()));
            }
            finally
            {
                vm.detach();
            }
            memory = java.lang.management.ManagementFactory.newPlatformMXBeanProxy(connector
                .getMBeanServerConnection(), java.lang.management.ManagementFactory.MEMORY_MXBEAN_NAME,
                java.lang.management.MemoryMXBean.class);
        }

        /** Heap in use after two full collections. */
        long heapAfterGc()
        {
            memory.gc();
            memory.gc();
            return memory.getHeapMemoryUsage().getUsed();
        }

        @Override
        public void close() throws IOException
        {
            connector.close();
        }
    }

    private static List<Double> fps(final List<String> results)
    {
        return results.stream().map(l -> Double.parseDouble(ChildProcess.field(l, "frames_per_s"))).toList();
    }

    /** Starts a BenchSide producer and consumer, waits for both; the RESULT lines of one of them. */
    private List<String> runPair(final List<String> producerArgs, final List<String> consumerArgs,
        final boolean resultsFromProducer) throws Exception
    {
        return runPair(producerArgs, consumerArgs, resultsFromProducer, cfg.reps);
    }

    private List<String> runPair(final List<String> producerArgs, final List<String> consumerArgs,
        final boolean resultsFromProducer, final int reps) throws Exception
    {
        final String main = BenchSide.class.getName();
        try (ChildProcess consumer = ChildProcess.java("consumer", SIDE_JVM, main, consumerArgs, echo);
             ChildProcess producer = ChildProcess.java("producer", SIDE_JVM, main, producerArgs, echo))
        {
            producer.awaitSuccess(RUN);
            consumer.awaitSuccess(RUN);
            final List<String> results = (resultsFromProducer ? producer : consumer).linesStartingWith("RESULT");
            if (results.size() != reps)
            {
                throw new IllegalStateException("expected " + reps + " RESULT lines, got " + results +
                    "; output:\n" + String.join("\n", producer.output()) + "\n" + String.join("\n", consumer.output()));
            }
            return results;
        }
    }

    private void addLatencyRows(final String metric, final List<Lat> ours, final List<Lat> base, final String cName,
        final double p50Goal)
    {
        final List<Function<Lat, Double>> f = List.of(Lat::p50, Lat::p99, Lat::p999);
        final String[] names = {"p50", "p99", "p99.9"};
        for (int i = 0; i < 3; i++)
        {
            final Function<Lat, Double> g = f.get(i);
            rows.add(new Row(metric + " " + names[i], Stats.median(ours.stream().map(g).toList()),
                Stats.median(base.stream().map(g).toList()), cName, i == 0 ? p50Goal : 0, "ns"));
        }
    }

    private static String describe(final List<Lat> runs)
    {
        final StringBuilder b = new StringBuilder();
        for (final Lat l : runs)
        {
            b.append(b.length() == 0 ? "" : ", ").append(String.format(Locale.ROOT, "%.0f/%.0f/%.0f", l.p50, l.p99,
                l.p999));
        }
        return "[" + b + "] ns (p50/p99/p99.9)";
    }

    // ---------------------------------------------------------------------------------------------- report

    String report(final String facts, final double seconds)
    {
        final StringBuilder b = new StringBuilder();
        b.append(facts);
        b.append(String.format(Locale.ROOT, "- whole run: %.1f s; every figure is the median of %d runs%n%n",
            seconds, cfg.reps));
        b.append("| metric | hyperdmabuf | baseline | ratio | target |\n|---|---|---|---|---|\n");
        for (final Row r : rows)
        {
            final boolean have = !Double.isNaN(r.ours);
            final boolean hasBase = !Double.isNaN(r.baseline);
            final double ratio = r.shownRatio();
            final String target;
            if (r.goal == 0)
            {
                target = "—";
            }
            else
            {
                final boolean le = r.goal > 0;
                final double g = Math.abs(r.goal);
                final String want = (le ? "≤ " : "≥ ") + fmt(g) + "x";
                target = !have ? want + ": not measured yet" :
                    want + ((le ? ratio <= g : ratio >= g) ? ": met" : ": **missed**");
            }
            b.append("| ").append(r.metric).append(" (").append(r.unit).append(") | ")
                .append(have ? num(r.ours) : "—").append(" | ")
                .append(hasBase ? num(r.baseline) + " (" + r.baselineName + ")" : "—").append(" | ")
                .append(have && hasBase ? fmt(ratio) + "x" : "—").append(" | ")
                .append(target).append(" |\n");
        }
        b.append(RUNS_HEADING).append("\n\n");
        for (final String d : details)
        {
            b.append("- ").append(d).append('\n');
        }
        return b.toString();
    }

    private static String num(final double v)
    {
        return v >= 100 ? String.format(Locale.ROOT, "%.0f", v) : String.format(Locale.ROOT, "%.1f", v);
    }

    private static String fmt(final double v)
    {
        return String.format(Locale.ROOT, "%.2f", v);
    }

    private String machineFacts(final String argLine)
    {
        final String cpuinfo = read("/proc/cpuinfo");
        final String model = cpuinfo.lines().filter(l -> l.startsWith("model name")).findFirst()
            .map(l -> l.substring(l.indexOf(':') + 1).trim()).orElse("unknown");
        final boolean vm = cpuinfo.lines().anyMatch(l -> l.startsWith("flags") && l.contains(" hypervisor"));
        final String mem = read("/proc/meminfo").lines().filter(l -> l.startsWith("MemTotal")).findFirst()
            .map(l -> l.replaceAll("\\s+", " ")).orElse("MemTotal unknown");
        String gcc;
        try
        {
            final ChildProcess p = ChildProcess.command("gcc", List.of("gcc", "-dumpfullversion"), null);
            p.awaitSuccess(Duration.ofSeconds(20));
            gcc = String.join(" ", p.output()).trim();
        }
        catch (final Exception e)
        {
            gcc = "unavailable (" + e.getMessage().lines().findFirst().orElse("") + ")";
        }
        return "## hyperdmabuf benchmark results\n\n" +
            "- date: " + ZonedDateTime.now().format(DateTimeFormatter.ISO_OFFSET_DATE_TIME) + "\n" +
            "- machine: " + Runtime.getRuntime().availableProcessors() + " CPUs (nproc), " + model +
            (vm ? " (virtual machine: hypervisor flag set)" : "") + ", " + mem + "\n" +
            "- kernel " + read("/proc/sys/kernel/osrelease").trim() + ", " + System.getProperty("java.vm.name") + " " +
            System.getProperty("java.runtime.version") + ", gcc " + gcc + " (-O2)\n" +
            "- command: `java -cp \"bench/target/bench-0.1.0-SNAPSHOT.jar:bench/target/lib/*\" " +
            Harness.class.getName() + (argLine.isEmpty() ? "" : " " + argLine) + "`" +
            (cfg.quick ? " (quick: CI-sized, fewer samples)" : "") + "\n";
    }

    private static String read(final String file)
    {
        try
        {
            return Files.readString(Path.of(file), StandardCharsets.UTF_8);
        }
        catch (final IOException e)
        {
            return "";
        }
    }

    private static void deleteTree(final Path dir)
    {
        if (dir == null || !Files.exists(dir))
        {
            return;
        }
        try (Stream<Path> files = Files.walk(dir))
        {
            files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
        catch (final IOException e)
        {
            // best effort
        }
    }
}
