package org.hyperdmabuf.bench;

import org.hyperdmabuf.cli.ChildProcess;

import java.util.List;

/**
 * Export + unexport cycles per second from one producer (no consumer subscribed), against what two bare
 * Unix-socket round trips per cycle allow (the events figure's C ping-pong: NaN when that figure did not run).
 */
final class ControlFigure
{
    private ControlFigure()
    {
    }

    static void run(final BenchRun run) throws Exception
    {
        final BenchConfig cfg = run.cfg();
        final SharedDaemons daemons = run.daemons();
        final int cycles = 2000;
        final int warmup = cfg.quick() ? 500 : 2000;
        run.log().println("control plane: export+unexport cycles/s, " + cycles + " x" + cfg.reps());
        try (ChildProcess p = run.side("producer", List.of("control-producer", "--socket", daemons.sinkSocket(),
            "--target", Integer.toString(daemons.sourceVm()), "--cycles", Integer.toString(cycles), "--warmup",
            Integer.toString(warmup), "--reps", Integer.toString(cfg.reps()))))
        {
            p.awaitSuccess(BenchRun.RUN);
            final List<Double> ours = p.linesStartingWith("RESULT name=control ").stream().map(l -> Double
                .parseDouble(ChildProcess.field(l, "cycles_per_s"))).toList();
            final double bound = 1e9 / (2 * run.unixP50());
            run.report().add(new ResultRow("EXPORT+UNEXPORT cycles/s, one producer, 4 KiB", Stats.median(ours),
                bound, "1 s / (2 x C Unix socket RTT p50)", 0, "cycles/s"));
            run.report().detail("EXPORT+UNEXPORT cycles/s (" + cycles + " cycles x " + cfg.reps() + " runs after " +
                warmup + " warm-up, back to back, one allocation, no subscriber): runs " + ours + "; the baseline " +
                "is what two bare Unix-socket request/replies per cycle would allow, from the same run's C " +
                "ping-pong");
        }
    }
}
