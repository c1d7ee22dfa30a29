package org.hyperdmabuf.bench;

import org.hyperdmabuf.cli.ChildProcess;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/** Daemon start-up: process start to its READY line (server, sink, source), vs. a trivial JVM's. */
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
        final List<Double> noop = new ArrayList<>();
        final List<Double> server = new ArrayList<>();
        final List<Double> sink = new ArrayList<>();
        final List<Double> source = new ArrayList<>();
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
                started.add(run.hdmabuf("startup-server", run.daemonJvm(), List.of("server", "--socket", ivshmem,
                    "--size", Long.toString(256L << 20))));
                started.get(0).awaitLine("READY", BenchRun.START);
                server.add((System.nanoTime() - t0) / 1e6);
                for (final String role : List.of("sink", "source"))
                {
                    final List<String> a = new ArrayList<>(List.of(role, "--ivshmem", ivshmem, "--socket",
                        dir.resolve(role + r + ".sock").toString()));
                    a.addAll(noPolicy);
                    t0 = System.nanoTime();
                    final ChildProcess p = run.hdmabuf("startup-" + role, run.daemonJvm(), a);
                    started.add(p);
                    p.awaitLine("READY", BenchRun.START);
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
        final Report report = run.report();
        report.add(new ResultRow("start-up to READY, sink daemon", Stats.median(sink), base, baseName, 0, "ms"));
        report.add(new ResultRow("start-up to READY, source daemon", Stats.median(source), base, baseName, 0, "ms"));
        report.add(new ResultRow("start-up to READY, ivshmem server", Stats.median(server), base, baseName, 0, "ms"));
        report.detail("start-up to READY (ms, process start to the READY line, each daemon started on its own in " +
            "turn: server, then sink (formats the 256 MiB region), then source): sink runs " + ms(sink) +
            ", source runs " + ms(source) + ", server runs " + ms(server) + ", trivial JVM runs " + ms(noop));
    }

    private static String ms(final List<Double> v)
    {
        return v.stream().map(d -> String.format(Locale.ROOT, "%.0f", d)).toList().toString();
    }
}
