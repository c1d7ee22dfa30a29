package org.hyperdmabuf.bench;

import org.hyperdmabuf.cli.DirectoryTrees;
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
        final String table = new Harness(options, target, System.out).run(String.join(" ", args));
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
        final BenchRun run = new BenchRun(cfg, log, echo, dir, daemonJvm(), baselines);
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
                    f.measurement().run(run);
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
