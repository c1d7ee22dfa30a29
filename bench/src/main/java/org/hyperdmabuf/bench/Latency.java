package org.hyperdmabuf.bench;

import org.hyperdmabuf.cli.ChildProcess;

import java.util.List;
import java.util.Locale;

/** Latency percentiles of one run, ns, as a RESULT line of a C baseline or a {@link BenchSide} gives them. */
record Latency(double p50, double p99, double p999)
{
    static Latency parse(final String line)
    {
        return new Latency(Double.parseDouble(ChildProcess.field(line, "p50_ns")), Double.parseDouble(
            ChildProcess.field(line, "p99_ns")), Double.parseDouble(ChildProcess.field(line, "p999_ns")));
    }

    /** The runs for the report's details: {@code [p50/p99/p99.9, ...] ns (p50/p99/p99.9)}. */
    static String describe(final List<Latency> runs)
    {
        final StringBuilder b = new StringBuilder();
        for (final Latency l : runs)
        {
            b.append(b.length() == 0 ? "" : ", ").append(String.format(Locale.ROOT, "%.0f/%.0f/%.0f", l.p50, l.p99,
                l.p999));
        }
        return "[" + b + "] ns (p50/p99/p99.9)";
    }
}
