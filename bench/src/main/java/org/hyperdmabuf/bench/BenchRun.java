package org.hyperdmabuf.bench;

import org.hyperdmabuf.cli.ChildProcess;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * What the figures of one run share: its sizes, the log, the report they add to, a run directory for sockets,
 * the C baselines, the shared daemons, and the helpers that start the child JVMs.
 */
final class BenchRun
{
    /** The daemons' entry point (the cli module's {@code hdmabuf} command). */
    static final String HDMABUF_MAIN = "org.hyperdmabuf.cli.Hdmabuf";
    /** JVM options of the {@link BenchSide} producers and consumers. */
    static final List<String> SIDE_JVM = List.of("-Dorg.slf4j.simpleLogger.defaultLogLevel=warn");
    /** How long a child process may take to print READY (or any awaited line). */
    static final Duration START = Duration.ofSeconds(60);
    /** How long one measuring child process may run. */
    static final Duration RUN = Duration.ofSeconds(600);

    private final BenchConfig cfg;
    private final PrintStream log;
    private final PrintStream echo;
    private final Report report;
    private final Path dir;
    private final List<String> daemonJvm;
    private final CBaselines baselines;
    private final SharedDaemons daemons;
    private int streams;
    private double unixP50 = Double.NaN;

    BenchRun(final BenchConfig cfg, final PrintStream log, final PrintStream echo, final Path dir,
        final List<String> daemonJvm, final CBaselines baselines)
    {
        this.cfg = cfg;
        this.log = log;
        this.echo = echo;
        this.report = new Report();
        this.dir = dir;
        this.daemonJvm = List.copyOf(daemonJvm);
        this.baselines = baselines;
        this.daemons = new SharedDaemons(dir, daemonJvm, log, echo);
    }

    BenchConfig cfg()
    {
        return cfg;
    }

    /** Progress lines for the person running the harness. */
    PrintStream log()
    {
        return log;
    }

    /** Where child processes echo their output ({@code -v}); null: nowhere. */
    PrintStream echo()
    {
        return echo;
    }

    Report report()
    {
        return report;
    }

    /** The run's temporary directory (sockets, empty policy paths), deleted after the run. */
    Path dir()
    {
        return dir;
    }

    /** JVM options of a daemon: log level and the {@code --receive-thread} / {@code --trace-export} switches. */
    List<String> daemonJvm()
    {
        return daemonJvm;
    }

    CBaselines baselines()
    {
        return baselines;
    }

    SharedDaemons daemons()
    {
        return daemons;
    }

    /** A stream name not used before in this run: {@code prefix} and a counter. */
    String nextStream(final String prefix)
    {
        return prefix + (++streams);
    }

    /** p50 of the back-to-back C Unix-socket round trip, measured by the events figure; NaN before it ran. */
    double unixP50()
    {
        return unixP50;
    }

    void unixP50(final double ns)
    {
        unixP50 = ns;
    }

    /** Starts a {@link BenchSide} JVM. */
    ChildProcess side(final String name, final List<String> args) throws IOException
    {
        return ChildProcess.java(name, SIDE_JVM, BenchSide.class.getName(), args, echo);
    }

    /** Starts an {@code hdmabuf} JVM (server or daemon) with {@code jvm} options. */
    ChildProcess hdmabuf(final String name, final List<String> jvm, final List<String> args) throws IOException
    {
        return ChildProcess.java(name, jvm, HDMABUF_MAIN, args, echo);
    }

    /** Starts a BenchSide producer and consumer, waits for both; the RESULT lines of one of them, one per rep. */
    List<String> runPair(final List<String> producerArgs, final List<String> consumerArgs,
        final boolean resultsFromProducer) throws Exception
    {
        return runPair(producerArgs, consumerArgs, resultsFromProducer, cfg.reps());
    }

    /** As {@link #runPair(List, List, boolean)}, expecting {@code reps} RESULT lines. */
    List<String> runPair(final List<String> producerArgs, final List<String> consumerArgs,
        final boolean resultsFromProducer, final int reps) throws Exception
    {
        try (ChildProcess consumer = side("consumer", consumerArgs);
             ChildProcess producer = side("producer", producerArgs))
        {
            producer.awaitSuccess(RUN);
            consumer.awaitSuccess(RUN);
            final List<String> results = (resultsFromProducer ? producer : consumer).linesStartingWith("RESULT");
            if (results.size() != reps)
            {
                throw new IllegalStateException("expected " + reps + " RESULT lines, got " + results +
                    "; output:\n" + String.join("\n", producer.output()) + "\n" + String.join("\n", consumer.output()));
            }
            return results;
        }
    }

    /** The latencies of {@code p}'s {@code RESULT name=NAME} lines, one per rep. */
    List<Latency> results(final ChildProcess p, final String name)
    {
        final List<Latency> l = p.linesStartingWith("RESULT name=" + name + " ").stream().map(Latency::parse).toList();
        if (l.size() != cfg.reps())
        {
            throw new IllegalStateException("expected " + cfg.reps() + " RESULT lines " + name + " from " + p.name() +
                ", got " + l.size() + "; output:\n" + String.join("\n", p.output()));
        }
        return l;
    }
}
