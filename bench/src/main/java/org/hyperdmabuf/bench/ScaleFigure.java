package org.hyperdmabuf.bench;

import org.hyperdmabuf.cli.ChildProcess;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/** Export latency and daemon memory at growing numbers of live 4 KiB buffers. */
final class ScaleFigure
{
    private ScaleFigure()
    {
    }

    static void run(final BenchRun run) throws Exception
    {
        final SharedDaemons daemons = run.daemons();
        final int[] levels = {0, 100, 1000, 10_000};
        final int probes = run.cfg().quick() ? 200 : 1000;
        run.log().println("scale: live buffers " + Arrays.toString(levels) + ", " + probes +
            " probe exports per level");
        final StringBuilder lv = new StringBuilder();
        for (final int l : levels)
        {
            lv.append(lv.length() == 0 ? "" : ",").append(l);
        }
        final List<String> levelLines = new ArrayList<>();
        final List<long[]> mem = new ArrayList<>(); // sink heap, sink rss, source heap, source rss (bytes)
        final long sinkPid = daemons.sink().pid();
        final long sourcePid = daemons.source().pid();
        try (ChildProcess p = run.side("scale-producer", List.of("scale-producer", "--socket", daemons.sinkSocket(),
            "--target", Integer.toString(daemons.sourceVm()), "--levels", lv.toString(), "--probes",
            Integer.toString(probes)));
             JvmProbe sinkJvm = new JvmProbe(sinkPid);
             JvmProbe sourceJvm = new JvmProbe(sourcePid))
        {
            for (int i = 0; i < levels.length; i++)
            {
                final String line = p.awaitLines("LEVEL", i + 1, BenchRun.RUN).get(i);
                levelLines.add(line);
                mem.add(new long[] {sinkJvm.heapAfterGc(), JvmProbe.rss(sinkPid), sourceJvm.heapAfterGc(),
                    JvmProbe.rss(sourcePid)});
                p.send("go");
            }
            p.awaitSuccess(BenchRun.RUN);
        }
        final double p50At0 = Double.parseDouble(ChildProcess.field(levelLines.get(0), "export_p50_ns"));
        final StringBuilder d = new StringBuilder("scale (one pass, after " + 2 * probes + " untimed warm-up " +
            "exports; " + probes + " probe EXPORT calls per level, each followed by UNEXPORT and a 200 µs pause; " +
            "memory after two System.gc() through JMX; RSS = RssAnon (VmRSS less the shared region's pages), with " +
            "the daemons' 256 MiB heap fixed and pre-touched, so RSS growth is memory outside the heap): ");
        final Report report = run.report();
        for (int i = 0; i < levels.length; i++)
        {
            final String line = levelLines.get(i);
            final int live = Integer.parseInt(ChildProcess.field(line, "live"));
            final int exported = Integer.parseInt(ChildProcess.field(line, "exported"));
            final long[] m = mem.get(i);
            d.append(String.format(Locale.ROOT, "%s%d live / %d exported: EXPORT p50 %s ns, p99 %s ns, ALLOC p50 " +
                "%s ns (%s probes, %s ENOSPC retries); sink heap %.1f MiB, RSS %.1f MiB; source heap %.1f MiB, " +
                "RSS %.1f MiB", i == 0 ? "" : "; ", live, exported, ChildProcess.field(line, "export_p50_ns"),
                ChildProcess.field(line, "export_p99_ns"), ChildProcess.field(line, "alloc_p50_ns"),
                ChildProcess.field(line, "probes"), ChildProcess.field(line, "probe_enospc"), m[0] / 1048576.0,
                m[1] / 1048576.0, m[2] / 1048576.0, m[3] / 1048576.0));
            if (i == 0)
            {
                continue;
            }
            report.add(new ResultRow("EXPORT call p50, " + live + " live buffers (" + exported + " exported)",
                Double.parseDouble(ChildProcess.field(line, "export_p50_ns")), p50At0, "the same, 0 live buffers", 0,
                "ns"));
            final long[] z = mem.get(0);
            report.add(new ResultRow("sink daemon heap after GC per 1 000 live buffers, at " + live,
                (m[0] - z[0]) / 1024.0 * 1000 / live, Double.NaN, "", 0, "KiB"));
            report.add(new ResultRow("sink daemon anonymous RSS outside the heap per 1 000 live buffers, at " + live,
                (m[1] - z[1]) / 1024.0 * 1000 / live, Double.NaN, "", 0, "KiB"));
        }
        final String last = levelLines.get(levelLines.size() - 1);
        final int limit = Integer.parseInt(ChildProcess.field(last, "export_limit"));
        if (limit >= 0)
        {
            d.append(". Exports stopped with ENOSPC after ").append(limit).append(" live exports (")
                .append(ChildProcess.field(last, "limit_message").replace('_', ' ')).append("); 16 were then " +
                "unexported to leave room for the probes, and the buffers above that are allocated but not exported");
        }
        report.detail(d.toString());
    }
}
