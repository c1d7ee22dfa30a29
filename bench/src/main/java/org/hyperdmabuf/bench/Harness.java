package org.hyperdmabuf.bench;

import org.hyperdmabuf.cli.DirectoryTrees;
import org.hyperdmabuf.cli.NativeLibraryDir;
import org.hyperdmabuf.daemon.DaemonRuntime;

import java.io.PrintStream;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The end-to-end benchmark harness (bench/README.md). In one run on one machine it measures each hyperdmabuf figure
 * next to its C baseline, both as the median of several runs, and prints a table (metric | hyperdmabuf |
 * baseline | ratio | target) that it also writes to {@code bench/target/results.md}.
 * <p>
 * The C baselines ({@link CBaselines}) are compiled from their sources with {@code gcc -O2} into
 * {@code bench/target/c/}. The Java figures ({@link Figures}) run through real daemons: an ivshmem server, a sink
 * daemon ("VM 1") and a source daemon ("VM 2"), each its own JVM ({@link SharedDaemons}), plus one
 * {@link BenchSide} JVM per side.
 * <pre>
 * java -cp "bench/target/bench.jar:bench/target/lib/*" org.hyperdmabuf.bench.Harness [--quick] [--reps N] [--out FILE] [-v]
 * </pre>
 */
public final class Harness
{
    private static final List<String> DAEMON_JVM = List.of("-Dorg.slf4j.simpleLogger.defaultLogLevel=warn");

    private final HarnessOptions options;
    private final BenchConfig cfg;
    private final Path targetDir;
    private final PrintStream log;
    /** Figures whose measurement failed: the report says so and the harness exits 1. */
    private final List<String> failed = new ArrayList<>();

    Harness(final HarnessOptions options, final Path targetDir, final PrintStream log)
    {
        this.options = options;
        this.cfg = BenchConfig.of(options.quick(), options.reps());
        this.targetDir = targetDir;
        this.log = log;
    }

    public static void main(final String[] args) throws Exception
    {
        final HarnessOptions options = HarnessOptions.parse(args);
        if (options.help())
        {
            System.out.println(HarnessOptions.USAGE);
            return;
        }
        final Path target = targetDir();
        final Harness harness = new Harness(options, target, System.out);
        final String table = harness.run(String.join(" ", args));
        final Path file = options.out() != null ? options.out() : target.resolve("results.md");
        final Path dir = file.toAbsolutePath().getParent();
        if (dir != null)
        {
            Files.createDirectories(dir);
        }
        Files.writeString(file, table);
        if (options.readme() != null)
        {
            ReadmeResults.update(options.readme(), ReadmeResults.of(table));
            System.out.println("updated the results in " + options.readme());
        }
        System.out.println();
        System.out.println(table);
        System.out.println("written to " + file);
        if (!harness.failed.isEmpty())
        {
            System.err.println("hdmabuf bench: not measured: " + String.join(", ", harness.failed) + " (see the report)");
            System.exit(1);
        }
    }

    /** One figure; a failure becomes a line of the report (the other figures still run) instead of ending the run. */
    private void measure(final Figure f, final BenchRun run)
    {
        try
        {
            f.measurement().run(run);
        }
        catch (final InterruptedException e)
        {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted in figure " + f.name(), e);
        }
        catch (final Exception e)
        {
            // A failed program's message is its whole output: the first line says which, the last one why.
            final List<String> lines = String.valueOf(e.getMessage()).lines().filter(l -> !l.isBlank()).toList();
            final String why = lines.isEmpty() ? e.toString() : lines.size() == 1 ? lines.get(0) :
                lines.get(0) + " ... " + lines.get(lines.size() - 1);
            log.println("figure " + f.name() + " failed: " + why);
            run.report().detail("figure " + f.name() + " not measured: " + why);
            failed.add(f.name());
        }
    }

    /** bench/target: the directory holding this jar (or target/classes). */
    static Path targetDir() throws URISyntaxException
    {
        final Path where = Path.of(Harness.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        final Path parent = where.getParent();
        return parent != null ? parent.toAbsolutePath() : Path.of("bench/target").toAbsolutePath();
    }

    /** Runs the wanted figures and returns the markdown report. */
    String run(final String argLine) throws Exception
    {
        final long start = System.nanoTime();
        final String facts = MachineFacts.describe(argLine, cfg.quick());
        final PrintStream echo = options.verbose() ? log : null;
        final CBaselines baselines = new CBaselines(targetDir.resolve("c"), cfg.reps(), log, echo);
        baselines.compile();
        final Path dir = Files.createTempDirectory(Path.of("/tmp"), "hdmabuf-bench-");
        final List<String> daemonJvm = daemonJvm();
        daemonJvm.addAll(DaemonClassData.jvmOptions(dir, log, echo));
        // The native libraries out of their jars, as the launchers have them.
        NativeLibraryDir.extract(dir.resolve("native"));
        daemonJvm.addAll(NativeLibraryDir.useOptions(dir.resolve("native")));
        final BenchRun run = new BenchRun(cfg, log, echo, dir, daemonJvm, baselines);
        try
        {
            // The shared daemons run from the first figure that uses them to the first after it that does not,
            // whether or not --only picked those figures.
            boolean started = false;
            for (final Figure f : Figures.ALL)
            {
                if (f.usesSharedDaemons() && !started)
                {
                    run.daemons().start();
                    started = true;
                }
                else if (f.usesSharedDaemons() && !run.daemons().running())
                {
                    throw new IllegalStateException("figures using the shared daemons must follow each other in " +
                        "Figures.ALL: " + f.name());
                }
                else if (!f.usesSharedDaemons() && run.daemons().running())
                {
                    run.daemons().stop(run.report());
                }
                if (options.wants(f.name()))
                {
                    measure(f, run);
                }
            }
        }
        finally
        {
            run.daemons().stop(run.report());
            DirectoryTrees.delete(dir);
        }
        return run.report().markdown(facts, cfg.reps(), (System.nanoTime() - start) / 1e9);
    }

    private List<String> daemonJvm()
    {
        final List<String> jvm = new ArrayList<>(DAEMON_JVM);
        if (options.receiveThread())
        {
            jvm.add("-D" + DaemonRuntime.RECEIVE_THREAD_PROPERTY + "=true");
        }
        if (options.traceExport())
        {
            jvm.add("-Dhdmabuf.trace-export=true");
        }
        return jvm;
    }
}
