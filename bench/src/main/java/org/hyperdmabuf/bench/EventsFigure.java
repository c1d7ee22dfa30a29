package org.hyperdmabuf.bench;

import org.hyperdmabuf.cli.ChildProcess;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/** Export → add event latency, IMPORT and EXPORT call latency vs. the C Unix-socket ping-pong. */
final class EventsFigure
{
    private EventsFigure()
    {
    }

    static void run(final BenchRun run) throws Exception
    {
        final BenchConfig cfg = run.cfg();
        final SharedDaemons daemons = run.daemons();
        final int count = cfg.quick() ? 300 : 1000;
        final int warmup = cfg.quick() ? 100 : 2000;
        final int gapUs = 2000;
        run.log().println("export -> event and import: unix_pingpong x" + cfg.reps() + " back to back and paced, " +
            "then the Java pair");
        final List<Latency> backToBack = run.baselines().run("unix_pingpong", Integer.toString(cfg.blockRounds()),
            Integer.toString(cfg.blockWarmup())).stream().map(Latency::parse).toList();
        final double unixP50 = Stats.median(backToBack.stream().map(Latency::p50).toList());
        run.unixP50(unixP50);
        // The same pacing as the exports: every round starts after gapUs / 2 idle, as every EXPORT does, so both
        // sides pay for being woken from idle (on a VM, a halted vCPU) as the daemons and clients do.
        final List<Latency> base = run.baselines().run("unix_pingpong", Integer.toString(count),
            Integer.toString(warmup / 5), Integer.toString(gapUs / 2)).stream().map(Latency::parse).toList();
        final List<String> common = List.of("--stream", run.nextStream("events"), "--count", Integer.toString(count),
            "--warmup", Integer.toString(warmup), "--reps", Integer.toString(cfg.reps()));
        final List<String> ca = new ArrayList<>(List.of("event-consumer", "--socket", daemons.sourceSocket()));
        ca.addAll(common);
        final int jitWarmup = cfg.quick() ? 2_000 : 20_000;
        final List<String> pa = new ArrayList<>(List.of("event-producer", "--socket", daemons.sinkSocket(),
            "--target", Integer.toString(daemons.sourceVm()), "--gap-us", Integer.toString(gapUs), "--jit-warmup",
            Integer.toString(jitWarmup)));
        pa.addAll(common);
        final List<Latency> events;
        final List<Latency> imports;
        final List<Latency> calls;
        final String misses;
        try (ChildProcess consumer = run.side("consumer", ca))
        {
            consumer.awaitLine("READY", BenchRun.START);
            try (ChildProcess producer = run.side("producer", pa))
            {
                producer.awaitSuccess(BenchRun.RUN);
                consumer.awaitSuccess(BenchRun.RUN);
                events = run.results(consumer, "export_event");
                imports = run.results(consumer, "import");
                calls = run.results(producer, "export_call");
                misses = consumer.awaitLine("MISSES", BenchRun.START);
            }
        }
        final String cName = "C unix socketpair ping-pong, paced alike";
        final Report report = run.report();
        report.addLatencyRows("export → add event", events, base, cName, 4.0);
        report.add(new ResultRow("diagnostic: export → add event p50 vs back-to-back", Stats.median(events.stream()
            .map(Latency::p50).toList()), unixP50, "C unix socketpair ping-pong, back to back", 0, "ns"));
        final List<Function<Latency, Double>> f = List.of(Latency::p50, Latency::p99);
        final String[] names = {"p50", "p99"};
        for (int i = 0; i < 2; i++)
        {
            report.add(new ResultRow("IMPORT call (consumer) " + names[i], Stats.median(imports.stream()
                .map(f.get(i)).toList()), Stats.median(base.stream().map(f.get(i)).toList()), cName, 0, "ns"));
        }
        report.add(new ResultRow("EXPORT call (producer, request → reply) p50", Stats.median(calls.stream()
            .map(Latency::p50).toList()), Stats.median(base.stream().map(Latency::p50).toList()), cName, 0, "ns"));
        report.detail("export → add event (" + count + " exports x " + cfg.reps() + " runs after " + jitWarmup +
            " unpaced export+unexport cycles that no consumer sees, to let C2 compile the daemons, and " + warmup +
            " paced warm-up, " +
            "each a fresh EXPORT of one 4 KiB allocation, paced " + gapUs + " µs before its UNEXPORT and " +
            gapUs / 2 + " µs after; latency = consumer's arrival time − the nanoTime put in the export's tags " +
            "before the EXPORT call): runs " + Latency.describe(events) + "; IMPORT call runs " +
            Latency.describe(imports) + "; EXPORT call runs " + Latency.describe(calls) + "; C unix socketpair " +
            "ping-pong paced alike (" + count + " x " + cfg.reps() + ", " + gapUs / 2 + " µs idle before each " +
            "round) runs " + Latency.describe(base) + "; back to back (" + cfg.blockRounds() + " x " + cfg.reps() +
            ") runs " + Latency.describe(backToBack) + "; imports that lost the race with the unexport (not " +
            "counted): " + misses.substring("MISSES ".length()) + traced(daemons.sink()) + traced(daemons.source()));
    }

    /** The last ExportTrace line of a daemon run with --trace-export, for the details; empty otherwise. */
    private static String traced(final ChildProcess daemon)
    {
        final List<String> l = daemon.linesStartingWith("EXPORT-TRACE ");
        return l.isEmpty() ? "" : "; " + daemon.name() + " " + l.get(l.size() - 1).substring("EXPORT-TRACE ".length());
    }
}
