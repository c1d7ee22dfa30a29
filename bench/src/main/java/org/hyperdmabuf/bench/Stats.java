package org.hyperdmabuf.bench;

import java.util.Arrays;
import java.util.List;

/** Percentiles and medians, with the same rule as the C baselines (bench_stats.h). */
final class Stats
{
    private Stats()
    {
    }

    /** The sample at index floor(p * n) of {@code sorted}, clamped to the last one. */
    static long percentile(final long[] sorted, final double p)
    {
        final int i = (int)Math.floor(p * sorted.length);
        return sorted[Math.min(sorted.length - 1, i)];
    }

    /** Median of the runs' values (the mean of the two middle ones for an even count). */
    static double median(final List<Double> values)
    {
        if (values.isEmpty())
        {
            throw new IllegalArgumentException("no values");
        }
        final double[] v = values.stream().mapToDouble(Double::doubleValue).toArray();
        Arrays.sort(v);
        final int n = v.length;
        return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    }
}
