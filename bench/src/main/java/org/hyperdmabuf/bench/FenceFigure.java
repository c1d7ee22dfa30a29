package org.hyperdmabuf.bench;

import java.util.ArrayList;
import java.util.List;

/** Fence round trips with the SPIN, ADAPTIVE and BLOCK strategies on both sides vs. C ping-pongs. */
final class FenceFigure
{
    private FenceFigure()
    {
    }

    static void run(final BenchRun run) throws Exception
    {
        final BenchConfig cfg = run.cfg();
        roundTrip(run, "SPIN", "shm_pingpong", "C shm spin ping-pong", cfg.shmRounds(), cfg.shmWarmup(), 2.0);
        roundTrip(run, "ADAPTIVE", "shm_pingpong", "C shm spin ping-pong", cfg.shmRounds(), cfg.shmWarmup(), 0);
        roundTrip(run, "BLOCK", "eventfd_pingpong", "C eventfd ping-pong", cfg.blockRounds(), cfg.blockWarmup(),
            2.0);
    }

    /** Fence round trip with {@code strategy} on both sides vs. a C ping-pong. */
    private static void roundTrip(final BenchRun run, final String strategy, final String cProgram,
        final String cName, final int cRounds, final int cWarmup, final double goal) throws Exception
    {
        final BenchConfig cfg = run.cfg();
        final SharedDaemons daemons = run.daemons();
        run.log().println("fence round trip, " + strategy + ": " + cProgram + " and the Java pair, alternately x" +
            cfg.reps());
        final boolean block = strategy.equals("BLOCK");
        final int rounds = block ? cfg.jBlockRounds() : cfg.spinRounds();
        final int warmup = block ? cfg.jBlockWarmup() : cfg.spinWarmup();
        // C and Java runs alternate, so both sample the same conditions: on a VM the round trip depends on where
        // the host runs the vCPUs at the moment (two hyperthreads of one core, or two cores), which drifts.
        final List<Latency> base = new ArrayList<>();
        final List<Latency> ours = new ArrayList<>();
        for (int r = 0; r < cfg.reps(); r++)
        {
            base.add(Latency.parse(run.baselines().runOnce(cProgram, Integer.toString(cRounds),
                Integer.toString(cWarmup))));
            final List<String> common = List.of("--stream", run.nextStream("fence"), "--strategy", strategy,
                "--rounds", Integer.toString(rounds), "--warmup", Integer.toString(warmup), "--reps", "1");
            final List<String> pa = new ArrayList<>(List.of("fence-producer", "--socket", daemons.sinkSocket(),
                "--target", Integer.toString(daemons.sourceVm())));
            pa.addAll(common);
            final List<String> ca = new ArrayList<>(List.of("fence-consumer", "--socket", daemons.sourceSocket()));
            ca.addAll(common);
            ours.add(Latency.parse(run.runPair(pa, ca, true, 1).get(0)));
        }
        final String m = "fence RTT " + strategy;
        final Report report = run.report();
        report.addLatencyRows(m, ours, base, cName, 0);
        // The target is judged run by run: on a VM the spin round trip is bimodal for C and Java alike (the host
        // moves the two vCPUs between sibling hyperthreads and separate cores), and the modes drift over seconds,
        // so each Java run is held against the C run that ran just before it.
        final List<Double> paired = new ArrayList<>();
        for (int r = 0; r < ours.size(); r++)
        {
            paired.add(ours.get(r).p50() / base.get(r).p50());
        }
        report.add(new ResultRow(m + " p50, run by run", Stats.median(ours.stream().map(Latency::p50).toList()),
            Stats.median(base.stream().map(Latency::p50).toList()), cName + "; ratio: median of each Java run / the C " +
            "run just before it", goal, "ns", Stats.median(paired)));
        report.detail(m + " (" + rounds + " round trips x " + cfg.reps() + " runs, after " + warmup + " warm-up): " +
            "hyperdmabuf runs " + Latency.describe(ours) + "; " + cName + " (" + cRounds + " x " + cfg.reps() +
            ") runs " + Latency.describe(base) + "; per-run p50 ratios " + ratiosOf(paired));
    }

    private static String ratiosOf(final List<Double> ratios)
    {
        final StringBuilder b = new StringBuilder();
        for (final double r : ratios)
        {
            b.append(b.length() == 0 ? "" : ", ").append(Report.fmt(r)).append('x');
        }
        return "[" + b + "]";
    }
}
