package org.hyperdmabuf.bench;

import org.hyperdmabuf.cli.ChildProcess;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

/** 4K RGBA frame streaming vs. a C read of the same bytes (the limit) and C frames through a Unix socket. */
final class FramesFigure
{
    private FramesFigure()
    {
    }

    static void run(final BenchRun run) throws Exception
    {
        final BenchConfig cfg = run.cfg();
        final SharedDaemons daemons = run.daemons();
        final String dims = cfg.width() + "x" + cfg.height();
        run.log().println("4K streaming: frame_read x" + cfg.reps() + ", unix_frames x" + cfg.reps() +
            ", then the Java pair");
        final List<Double> limit = fps(run.baselines().run("frame_read", Integer.toString(cfg.cFrames()),
            Integer.toString(cfg.width()), Integer.toString(cfg.height()), Integer.toString(cfg.buffers())));
        final List<Double> socket = fps(run.baselines().run("unix_frames", Integer.toString(cfg.unixFrames()),
            Integer.toString(cfg.width()), Integer.toString(cfg.height())));
        final List<String> common = List.of("--stream", run.nextStream("frames"), "--strategy", "SPIN", "--frames",
            Integer.toString(cfg.frames()), "--warmup", Integer.toString(cfg.frameWarmup()), "--reps",
            Integer.toString(cfg.reps()));
        final List<String> pa = new ArrayList<>(List.of("frame-producer", "--socket", daemons.sinkSocket(),
            "--target", Integer.toString(daemons.sourceVm()), "--width", Integer.toString(cfg.width()), "--height",
            Integer.toString(cfg.height()), "--buffers", Integer.toString(cfg.buffers())));
        pa.addAll(common);
        final List<String> ca = new ArrayList<>(List.of("frame-consumer", "--socket", daemons.sourceSocket()));
        ca.addAll(common);
        final List<Double> ours = fps(run.runPair(pa, ca, false));
        final List<Double> javaLoop = javaReadLoop(run);
        final double o = Stats.median(ours);
        final Report report = run.report();
        report.add(new ResultRow(dims + " RGBA frames/s, " + cfg.buffers() + " buffers, SPIN", o,
            Stats.median(limit), "C read of the same bytes (limit)", -0.8, "frames/s"));
        report.add(new ResultRow(dims + " RGBA frames/s, " + cfg.buffers() + " buffers, SPIN", o,
            Stats.median(socket), "C frames through a Unix socket", -3.0, "frames/s"));
        report.add(new ResultRow("diagnostic: Java read loop alone, same bytes, no hand-over",
            Stats.median(javaLoop), Stats.median(limit), "C read of the same bytes (limit)", 0, "frames/s"));
        report.detail(dims + " streaming frames/s: hyperdmabuf runs " + ours + " (" + cfg.frames() +
            " frames each, after " + cfg.frameWarmup() + " warm-up); C read limit runs " + limit + " (" +
            cfg.cFrames() + " frames); C Unix socket runs " + socket + " (" + cfg.unixFrames() + " frames); Java " +
            "read loop alone (in the harness JVM, direct buffers, DirectWords.sum) runs " + javaLoop);
    }

    /** The consumer's read loop on its own, in this JVM: what Java reading costs without any hand-over. */
    private static List<Double> javaReadLoop(final BenchRun run)
    {
        final BenchConfig cfg = run.cfg();
        final int length = cfg.width() * cfg.height() * 4;
        final ByteBuffer[] bufs = new ByteBuffer[cfg.buffers()];
        for (int k = 0; k < bufs.length; k++)
        {
            bufs[k] = ByteBuffer.allocateDirect(length).order(ByteOrder.LITTLE_ENDIAN);
            for (int i = 0; i + 8 <= length; i += 8)
            {
                bufs[k].putLong(i, k + 1);
            }
        }
        long sum = 0;
        final List<Double> runs = new ArrayList<>();
        for (int r = -1; r < cfg.reps(); r++)
        {
            final int n = r < 0 ? cfg.frameWarmup() : cfg.cFrames();
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
            run.log().println(); // keeps the sum alive
        }
        return runs;
    }

    private static List<Double> fps(final List<String> results)
    {
        return results.stream().map(l -> Double.parseDouble(ChildProcess.field(l, "frames_per_s"))).toList();
    }
}
