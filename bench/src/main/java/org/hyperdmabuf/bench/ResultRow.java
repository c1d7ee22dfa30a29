package org.hyperdmabuf.bench;

/**
 * One row of the report's table. {@code goal} > 0: ratio must be <= goal; < 0: ratio must be >= -goal; 0: no
 * target. {@code ratio} is {@code ours / baseline} unless given (NaN: computed).
 */
record ResultRow(String metric, double ours, double baseline, String baselineName, double goal, String unit,
                 double ratio)
{
    ResultRow(final String metric, final double ours, final double baseline, final String baselineName,
        final double goal, final String unit)
    {
        this(metric, ours, baseline, baselineName, goal, unit, Double.NaN);
    }

    double shownRatio()
    {
        return Double.isNaN(ratio) ? ours / baseline : ratio;
    }
}
