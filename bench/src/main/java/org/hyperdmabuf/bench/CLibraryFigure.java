package org.hyperdmabuf.bench;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The C client library's own benchmarks ({@code libhdmabuf/bench}: the fence round trip against plain shared memory,
 * EXPORT to the consumer's event): built with meson into {@code bench/target/meson-c} (release build), run by
 * {@code libhdmabuf/bench/run.sh} against daemons of its own, their Markdown rows taken into this report. Each
 * program measures its library rounds and its baseline's alternately in one run.
 */
final class CLibraryFigure
{
    /** The fence round trips against the plain-memory baselines: at most 1.1x. */
    private static final double FENCE_GOAL = 1.1;

    private CLibraryFigure()
    {
    }

    static void run(final BenchRun run) throws Exception
    {
        final Path root = MesonPrograms.checkoutRoot();
        final Path build = MesonPrograms.build(run, root, "bench_fence", "bench_events");
        final Path out = run.dir().resolve("c-bench");
        final boolean quick = run.cfg().quick();
        MesonPrograms.run(run, "libhdmabuf bench", List.of("bash", root.resolve("libhdmabuf/bench/run.sh").toString(),
            root.toString(), build.resolve("libhdmabuf/bench").toString(), out.toString()), root,
            Map.of("BENCH_FENCE_ROUNDS", quick ? "20000" : "200000", "BENCH_EXPORTS", quick ? "200" : "2000"),
            Duration.ofMinutes(15));
        for (final String program : List.of("bench_fence", "bench_events"))
        {
            addRows(run.report(), Files.readAllLines(out.resolve(program + ".md")));
        }
        run.report().detail("C library: libhdmabuf/bench/run.sh (release build in bench/target/meson-c), " +
            (quick ? "20000 fence rounds, 200 exports" : "200000 fence rounds, 2000 exports") +
            "; library and baseline rounds alternate in 100 blocks");
    }

    /** Table rows {@code | figure | median | p99 | baseline | ratio |}; a row with a baseline names it by its value. */
    static void addRows(final Report report, final List<String> markdown)
    {
        final List<String[]> rows = new ArrayList<>();
        for (final String line : markdown)
        {
            final String[] cells = line.split("\\|");
            if (cells.length >= 6 && cells[2].trim().endsWith(" ns"))
            {
                rows.add(new String[] {cells[1].trim(), ns(cells[2]), ns(cells[4])});
            }
        }
        for (final String[] r : rows)
        {
            final double median = Double.parseDouble(r[1]);
            if (r[2].isEmpty())
            {
                if (rows.stream().noneMatch(o -> o[2].equals(r[1])))
                {
                    report.add(new ResultRow("C " + r[0], median, Double.NaN, "", 0, "ns"));
                }
                continue;
            }
            final String base = rows.stream().filter(o -> o[2].isEmpty() && o[1].equals(r[2])).map(o -> o[0])
                .findFirst().orElse("C baseline");
            final boolean plainBaseline = base.contains("atomics on a memfd") || base.contains("eventfd ping-pong");
            report.add(new ResultRow("C " + r[0], median, Double.parseDouble(r[2]), shortName(base),
                plainBaseline ? FENCE_GOAL : 0, "ns"));
        }
    }

    private static String ns(final String cell)
    {
        final String t = cell.trim();
        return t.endsWith(" ns") ? t.substring(0, t.length() - 3).trim() : "";
    }

    private static String shortName(final String baselineRow)
    {
        final int colon = baselineRow.indexOf("baseline: ");
        return colon < 0 ? baselineRow : baselineRow.substring(colon + "baseline: ".length());
    }
}
