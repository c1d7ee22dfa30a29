package org.hyperdmabuf.bench;

import org.hyperdmabuf.cli.ChildProcess;
import org.hyperdmabuf.cli.ClassDataArchive;
import org.hyperdmabuf.cli.Hdmabuf;
import org.hyperdmabuf.cli.NativeLibraryDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Daemon start-up: process start to its READY line (server, sink, source), vs. a trivial JVM's. The daemons start as
 * the {@code hdmabuf} launcher starts them: its JVM options, {@code cli/target/hdmabuf.jar} alone on the class path,
 * with the build's class-data archive and native libraries beside it, so the figure times what a user runs.
 */
final class StartupFigure
{
    private StartupFigure()
    {
    }

    static void run(final BenchRun run) throws Exception
    {
        final BenchConfig cfg = run.cfg();
        run.log().println("daemon start-up: server, sink, source and a trivial JVM x" + cfg.reps());
        final Path dir = Files.createDirectories(run.dir().resolve("startup"));
        final Path root = MesonPrograms.checkoutRoot();
        final List<String> launcher = launcherCommand(run, root.resolve("cli").resolve("target"));
        final List<Double> noop = new ArrayList<>();
        final List<Double> server = new ArrayList<>();
        final List<Double> sink = new ArrayList<>();
        final List<Double> source = new ArrayList<>();
        final List<Double> deployed = new ArrayList<>();
        final Path samplePolicy = root.resolve("packaging").resolve("policy.toml");
        final Path noDropIns = Files.createDirectories(dir.resolve("no-drop-ins.d"));
        for (int r = 0; r < cfg.reps(); r++)
        {
            long t0 = System.nanoTime();
            try (ChildProcess p = run.side("noop", List.of("noop")))
            {
                p.awaitLine("READY", BenchRun.START);
                noop.add((System.nanoTime() - t0) / 1e6);
                p.awaitSuccess(BenchRun.START);
            }
            final String ivshmem = dir.resolve("iv" + r + ".sock").toString();
            final List<String> noPolicy = List.of("--policy", dir.resolve("no-policy.toml").toString(),
                "--policy-dir", dir.resolve("no-policy.d").toString());
            final List<ChildProcess> started = new ArrayList<>();
            try
            {
                t0 = System.nanoTime();
                started.add(start(run, "startup-server", launcher, List.of("server", "--socket", ivshmem,
                    "--size", Long.toString(256L << 20))));
                started.get(0).awaitLine("READY", BenchRun.START);
                server.add((System.nanoTime() - t0) / 1e6);
                for (final String role : List.of("sink", "source"))
                {
                    final List<String> a = new ArrayList<>(List.of(role, "--ivshmem", ivshmem, "--socket",
                        dir.resolve(role + r + ".sock").toString()));
                    a.addAll(noPolicy);
                    t0 = System.nanoTime();
                    final ChildProcess p = start(run, "startup-" + role, launcher, a);
                    started.add(p);
                    p.awaitLine("READY", BenchRun.START);
                    (role.equals("sink") ? sink : source).add((System.nanoTime() - t0) / 1e6);
                }
                // A third VM's sink as deployed: with a policy file (the sample's), which it parses before READY.
                t0 = System.nanoTime();
                final ChildProcess p = start(run, "startup-sink-policy", launcher, List.of("sink", "--ivshmem",
                    ivshmem, "--socket", dir.resolve("sink-policy" + r + ".sock").toString(), "--policy",
                    samplePolicy.toString(), "--policy-dir", noDropIns.toString()));
                started.add(p);
                p.awaitLine("READY", BenchRun.START);
                deployed.add((System.nanoTime() - t0) / 1e6);
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
        final Report report = run.report();
        report.add(new ResultRow("start-up to READY, sink daemon", Stats.median(sink), base, baseName, 0, "ms"));
        report.add(new ResultRow("start-up to READY, source daemon", Stats.median(source), base, baseName, 0, "ms"));
        report.add(new ResultRow("start-up to READY, ivshmem server", Stats.median(server), base, baseName, 0, "ms"));
        report.add(new ResultRow("start-up to READY, sink daemon with the sample policy", Stats.median(deployed),
            base, baseName, 0, "ms"));
        report.detail("start-up to READY (ms, process start to the READY line, each daemon started on its own in " +
            "turn: server, then sink (formats the 256 MiB region), then source, both without a policy file, then a " +
            "third VM's sink with packaging/policy.toml): sink runs " + ms(sink) + ", source runs " + ms(source) +
            ", server runs " + ms(server) + ", sink with the sample policy runs " + ms(deployed) +
            ", trivial JVM runs " + ms(noop));
    }

    /**
     * {@code java} with the launcher's options and class path ({@code target}: cli/target), up to the main class; the
     * arguments come after.
     */
    private static List<String> launcherCommand(final BenchRun run, final Path target)
    {
        final Path jar = target.resolve("hdmabuf.jar");
        if (!Files.isRegularFile(jar))
        {
            throw new IllegalStateException("no " + jar + ": build it first (mvn -DskipTests package -pl cli -am)");
        }
        final List<String> cmd = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java")));
        final Path archive = target.resolve("hdmabuf.jsa");
        if (Files.isRegularFile(archive))
        {
            cmd.addAll(ClassDataArchive.useOptions(archive));
        }
        else
        {
            run.log().println("no " + archive + " (built with -Dhdmabuf.skipCds?): the daemons start without it");
        }
        cmd.addAll(NativeLibraryDir.useOptions(target.resolve("native")));
        cmd.add("-Dorg.slf4j.simpleLogger.defaultLogLevel=info");
        cmd.addAll(List.of("-cp", jar.toString(), Hdmabuf.class.getName()));
        return cmd;
    }

    private static ChildProcess start(final BenchRun run, final String name, final List<String> launcher,
        final List<String> args) throws Exception
    {
        final List<String> cmd = new ArrayList<>(launcher);
        cmd.addAll(args);
        return ChildProcess.command(name, cmd, run.echo());
    }

    private static String ms(final List<Double> v)
    {
        return v.stream().map(d -> String.format(Locale.ROOT, "%.0f", d)).toList().toString();
    }
}
