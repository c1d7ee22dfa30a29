package org.hyperdmabuf.bench;

/**
 * One group of the report's rows: its {@code --only} name, whether it measures through {@link BenchRun#daemons()}
 * (then running when it starts), and the measurement, which adds its rows and details to {@link BenchRun#report()}.
 * A measurement that runs an external program (a C baseline, or any executable) starts it with
 * {@link org.hyperdmabuf.cli.ChildProcess#command} and parses its output lines.
 * To add a figure, list one in {@link Figures#ALL}.
 */
record Figure(String name, boolean usesSharedDaemons, Measurement measurement)
{
    /** Measures a figure in {@code run}. */
    @FunctionalInterface
    interface Measurement
    {
        void run(BenchRun run) throws Exception;
    }
}
