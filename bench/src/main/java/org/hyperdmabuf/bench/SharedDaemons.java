package org.hyperdmabuf.bench;

import org.hyperdmabuf.cli.ChildProcess;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The daemons most figures measure through: an ivshmem server, a sink daemon ("VM 1") and a source daemon
 * ("VM 2"), each its own JVM with a fixed, pre-touched heap.
 */
final class SharedDaemons
{
    /**
     * The measured daemons' heap: fixed and pre-touched, so their RSS does not move when a full collection
     * uncommits heap regions, and the scale figure's RSS growth is the memory outside the Java heap.
     */
    private static final List<String> MEASURED_HEAP = List.of("-Xms256m", "-Xmx256m", "-XX:+AlwaysPreTouch");
    /** Fence slots of the main region (sink's {@code --fence-slots}): room for the scale figure's 10 000 exports. */
    private static final int FENCE_SLOTS = 16_384;

    private final Path runDir;
    private final List<String> jvm;
    private final PrintStream log;
    private final PrintStream echo;
    private final List<ChildProcess> processes = new ArrayList<>();
    private ChildProcess sink;
    private ChildProcess source;
    private int sourceVm;

    SharedDaemons(final Path runDir, final List<String> jvm, final PrintStream log, final PrintStream echo)
    {
        this.runDir = runDir;
        this.jvm = List.copyOf(jvm);
        this.log = log;
        this.echo = echo;
    }

    void start() throws Exception
    {
        final String ivshmem = runDir.resolve("ivshmem.sock").toString();
        final long region = 256L << 20;
        final ChildProcess server = daemon("server", "server", "--socket", ivshmem, "--size", Long.toString(region));
        server.awaitLine("READY", BenchRun.START);
        final List<String> noPolicy = List.of("--policy", runDir.resolve("no-policy.toml").toString(), "--policy-dir",
            runDir.resolve("no-policy.d").toString());
        // The sink formats the region: 16 384 fence slots, so the scale figure can hold 10 000 live exports.
        final List<String> sinkArgs = new ArrayList<>(List.of("sink", "--ivshmem", ivshmem, "--socket", sinkSocket(),
            "--fence-slots", Integer.toString(FENCE_SLOTS)));
        sinkArgs.addAll(noPolicy);
        sink = daemon("sink", sinkArgs.toArray(new String[0]));
        sink.awaitLine("READY", BenchRun.START);
        final List<String> sourceArgs = new ArrayList<>(List.of("source", "--ivshmem", ivshmem, "--socket",
            sourceSocket()));
        sourceArgs.addAll(noPolicy);
        source = daemon("source", sourceArgs.toArray(new String[0]));
        sourceVm = Integer.parseInt(ChildProcess.field(source.awaitLine("READY", BenchRun.START), "vm"));
        log.println("daemons up: ivshmem server, sink (VM 1), source (VM " + sourceVm + "), region " + (region >> 20) +
            " MiB, " + FENCE_SLOTS + " fence slots, run dir " + runDir);
    }

    private ChildProcess daemon(final String name, final String... args) throws IOException
    {
        final List<String> options = new ArrayList<>(jvm);
        options.addAll(MEASURED_HEAP);
        final ChildProcess p = ChildProcess.java(name, options, BenchRun.HDMABUF_MAIN, List.of(args), echo);
        processes.add(p);
        return p;
    }

    boolean running()
    {
        return !processes.isEmpty();
    }

    /** Stops the daemons, last started first, and notes the errors they logged in {@code report}. */
    void stop(final Report report)
    {
        for (int i = processes.size() - 1; i >= 0; i--)
        {
            processes.get(i).close();
        }
        report.noteDaemonErrors(processes);
        processes.clear();
    }

    ChildProcess sink()
    {
        return sink;
    }

    ChildProcess source()
    {
        return source;
    }

    /** The source daemon's VM id, the target of every export. */
    int sourceVm()
    {
        return sourceVm;
    }

    String sinkSocket()
    {
        return runDir.resolve("sink.sock").toString();
    }

    String sourceSocket()
    {
        return runDir.resolve("source.sock").toString();
    }
}
