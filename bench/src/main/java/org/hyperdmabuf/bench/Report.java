package org.hyperdmabuf.bench;

import org.hyperdmabuf.cli.ChildProcess;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.Function;

/**
 * The rows and per-run details the figures add, and the markdown report made of them: machine facts, the table
 * (metric | hyperdmabuf | baseline | ratio | target), then every run's values under {@link #RUNS_HEADING}.
 */
final class Report
{
    /** Starts the per-run values, which {@code --readme} leaves out. */
    static final String RUNS_HEADING = "\nRuns (each number one run):";

    private final List<ResultRow> rows = new ArrayList<>();
    private final List<String> details = new ArrayList<>();

    void add(final ResultRow row)
    {
        rows.add(row);
    }

    /** One item of the per-run values. */
    void detail(final String text)
    {
        details.add(text);
    }

    /** p50, p99 and p99.9 rows of {@code metric}, each the median of the runs; only p50 holds {@code p50Goal}. */
    void addLatencyRows(final String metric, final List<Latency> ours, final List<Latency> base, final String cName,
        final double p50Goal)
    {
        final List<Function<Latency, Double>> f = List.of(Latency::p50, Latency::p99, Latency::p999);
        final String[] names = {"p50", "p99", "p99.9"};
        for (int i = 0; i < 3; i++)
        {
            final Function<Latency, Double> g = f.get(i);
            rows.add(new ResultRow(metric + " " + names[i], Stats.median(ours.stream().map(g).toList()),
                Stats.median(base.stream().map(g).toList()), cName, i == 0 ? p50Goal : 0, "ns"));
        }
    }

    /** A detail for every line of the daemons' output that reports an error. */
    void noteDaemonErrors(final List<ChildProcess> daemons)
    {
        for (final ChildProcess d : daemons)
        {
            for (final String l : d.output())
            {
                if (l.contains(" ERROR ") || l.contains("Exception"))
                {
                    details.add("daemon " + d.name() + " logged: " + l);
                }
            }
        }
    }

    String markdown(final String facts, final int reps, final double seconds)
    {
        final StringBuilder b = new StringBuilder();
        b.append(facts);
        b.append(String.format(Locale.ROOT, "- whole run: %.1f s; every figure is the median of %d runs%n%n",
            seconds, reps));
        b.append("| metric | hyperdmabuf | baseline | ratio | target |\n|---|---|---|---|---|\n");
        for (final ResultRow r : rows)
        {
            final boolean have = !Double.isNaN(r.ours());
            final boolean hasBase = !Double.isNaN(r.baseline());
            final double ratio = r.shownRatio();
            final String target;
            if (r.goal() == 0)
            {
                target = "—";
            }
            else
            {
                final boolean le = r.goal() > 0;
                final double g = Math.abs(r.goal());
                final String want = (le ? "≤ " : "≥ ") + fmt(g) + "x";
                target = !have ? want + ": not measured yet" :
                    want + ((le ? ratio <= g : ratio >= g) ? ": met" : ": **missed**");
            }
            b.append("| ").append(r.metric()).append(" (").append(r.unit()).append(") | ")
                .append(have ? num(r.ours()) : "—").append(" | ")
                .append(hasBase ? num(r.baseline()) + " (" + r.baselineName() + ")" : "—").append(" | ")
                .append(have && hasBase ? fmt(ratio) + "x" : "—").append(" | ")
                .append(target).append(" |\n");
        }
        b.append(RUNS_HEADING).append("\n\n");
        for (final String d : details)
        {
            b.append("- ").append(d).append('\n');
        }
        return b.toString();
    }

    private static String num(final double v)
    {
        return v >= 100 ? String.format(Locale.ROOT, "%.0f", v) : String.format(Locale.ROOT, "%.1f", v);
    }

    /** A ratio or goal as the table shows it: two decimals. */
    static String fmt(final double v)
    {
        return String.format(Locale.ROOT, "%.2f", v);
    }
}
