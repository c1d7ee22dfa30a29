package org.hyperdmabuf.cli;

import edu.umd.cs.findbugs.annotations.SuppressFBWarnings;

import org.hyperdmabuf.client.Fence;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;

@Command(name = "demo", mixinStandardHelpOptions = true,
    description = {"Run a demo: a stream of frames between two 'VMs' on this host, each frame verified.",
        "It runs over the KVM ivshmem backend:",
        "an embedded ivshmem server, a sink daemon (VM 1), a source daemon (VM 2), a producer and a consumer,",
        "each a separate process. The consumer verifies every frame; exit status 0 means all verified."})
final class DemoCommand implements Callable<Integer>
{
    private static final List<String> DAEMON_JVM = List.of("-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
        "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn");
    private static final List<String> APP_JVM = List.of("-Dorg.slf4j.simpleLogger.defaultLogLevel=warn");

    @Option(names = "--frames", description = "Frames to send (default: ${DEFAULT-VALUE}).")
    int frames = 300;

    @Option(names = "--width", description = "Frame width in pixels (default: ${DEFAULT-VALUE}).")
    int width = 1920;

    @Option(names = "--height", description = "Frame height in pixels (default: ${DEFAULT-VALUE}).")
    int height = 1080;

    @Option(names = "--buffers", description = "Buffers in the producer's ring (default: ${DEFAULT-VALUE}).")
    int buffers = 3;

    @Option(names = "--size", description = {"Frame size in bytes instead of --width/--height (e.g. 64K, 8M;",
        "a multiple of 8, at least 16): frames are then one row of size/4 RGBA pixels."})
    String size;

    @Option(names = {"-v", "--verbose"}, description = "Show the daemons' logs.")
    boolean verbose;

    @Option(names = "--sync", description = {"How producer and consumer hand frames over (default: ${DEFAULT-VALUE}):",
        "fences = fence timelines in shared memory, no daemon per frame;",
        "events = a re-export, an add/change event, IMPORT and RELEASE through the daemons per frame."})
    String sync = "fences";

    @Option(names = "--wait", description = "Fence wait strategy with --sync fences: SPIN, BLOCK or ADAPTIVE " +
        "(default: ${DEFAULT-VALUE}).")
    String wait = "ADAPTIVE";

    private final List<ChildProcess> children = new ArrayList<>();
    private volatile boolean interrupted;

    @Override
    @SuppressFBWarnings(value = "REC_CATCH_EXCEPTION",
        justification = "any failure, unchecked ones included, is the interruption when the shutdown hook stopped the children")
    public Integer call() throws Exception
    {
        if (frames < 1 || buffers < 1 || width < 1 || height < 1)
        {
            throw new IllegalArgumentException("--frames, --buffers, --width and --height must be positive");
        }
        if (size != null)
        {
            final long bytes = Defaults.parseSize(size);
            if (bytes < 16 || bytes % 8 != 0 || bytes / 4 > Integer.MAX_VALUE)
            {
                throw new IllegalArgumentException("--size must be a multiple of 8 between 16 bytes and 8 GiB: " + size);
            }
            width = (int)(bytes / 4);
            height = 1;
        }
        if (!"fences".equals(sync) && !"events".equals(sync))
        {
            throw new IllegalArgumentException("--sync must be fences or events");
        }
        if (Arrays.stream(Fence.WaitStrategy.values()).noneMatch(w -> w.name().equals(wait)))
        {
            throw new IllegalArgumentException("--wait must be SPIN, BLOCK or ADAPTIVE: " + wait);
        }
        final long frameBytes = (long)width * height * 4;
        final long region = Long.highestOneBit(Math.max(64L << 20, frameBytes * buffers + (16L << 20)) - 1) << 1;
        final Path dir = Files.createTempDirectory("hdmabuf-demo-");
        // On SIGINT/SIGTERM: stop the children, say so, and let the JVM exit with 128 + the signal (130 for ^C).
        final Thread cleanup = new Thread(() ->
        {
            interrupted = true;
            stopAll(dir);
            System.out.println("hdmabuf demo: interrupted; all processes stopped");
            System.out.flush();
        });
        Runtime.getRuntime().addShutdownHook(cleanup);
        try
        {
            System.out.printf("hdmabuf demo: %d frames of %dx%d RGBA (%d bytes) through %d buffers, region %d MiB%n",
                frames, width, height, frameBytes, buffers, region >> 20);
            final List<String> daemonJvm = new ArrayList<>(DAEMON_JVM);
            if (verbose)
            {
                daemonJvm.set(2, "-Dorg.slf4j.simpleLogger.defaultLogLevel=info");
            }
            final String ivshmem = dir.resolve("ivshmem.sock").toString();
            final ChildProcess server = spawn("server", daemonJvm, "server", "--socket", ivshmem, "--size",
                Long.toString(region));
            server.awaitLine("READY", Duration.ofSeconds(30));
            final ChildProcess sink = spawn("sink", daemonJvm, "sink", "--ivshmem", ivshmem, "--socket",
                dir.resolve("sink.sock").toString());
            final String sinkReady = sink.awaitLine("READY", Duration.ofSeconds(30));
            final ChildProcess source = spawn("source", daemonJvm, "source", "--ivshmem", ivshmem, "--socket",
                dir.resolve("source.sock").toString());
            final String sourceReady = source.awaitLine("READY", Duration.ofSeconds(30));
            System.out.println("ivshmem server up; sink daemon is VM " + ChildProcess.field(sinkReady, "vm") +
                ", source daemon is VM " + ChildProcess.field(sourceReady, "vm"));
            final boolean fences = "fences".equals(sync);
            final ChildProcess consumer = fences ?
                spawn("consumer", APP_JVM, "stream-consumer", "--socket", dir.resolve("source.sock").toString(),
                    "--frames", Integer.toString(frames), "--wait", wait) :
                spawn("consumer", APP_JVM, "demo-consumer", "--socket", dir.resolve("source.sock").toString(),
                    "--frames", Integer.toString(frames));
            consumer.awaitLine("READY", Duration.ofSeconds(30));
            final List<String> producerArgs = new ArrayList<>(List.of(fences ? "stream-producer" : "demo-producer",
                "--socket", dir.resolve("sink.sock").toString(), "--to", ChildProcess.field(sourceReady, "vm"), "--frames",
                Integer.toString(frames), "--width", Integer.toString(width), "--height", Integer.toString(height),
                "--buffers", Integer.toString(buffers)));
            if (fences)
            {
                producerArgs.add("--wait");
                producerArgs.add(wait);
            }
            final ChildProcess producer = spawn("producer", APP_JVM, producerArgs.toArray(new String[0]));
            final Duration limit = Duration.ofSeconds(120 + frames / 10);
            final int consumerExit = consumer.waitFor(limit);
            final int producerExit = producer.waitFor(Duration.ofSeconds(30));
            final boolean ok = consumerExit == 0 && producerExit == 0;
            if (interrupted)
            {
                return 130;
            }
            System.out.println(ok ? "demo: all " + frames + " frames verified" :
                "demo: FAILED (consumer exit " + consumerExit + ", producer exit " + producerExit + ")");
            return ok ? 0 : 1;
        }
        catch (final Exception e)
        {
            if (interrupted)
            {
                return 130; // a child stopped by the hook failed a wait: that is the interruption, not an error
            }
            throw e;
        }
        finally
        {
            stopAll(dir);
            try
            {
                Runtime.getRuntime().removeShutdownHook(cleanup);
            }
            catch (final IllegalStateException e)
            {
                // already shutting down (Ctrl-C): the hook runs stopAll
            }
        }
    }

    private ChildProcess spawn(final String name, final List<String> jvm, final String... args) throws IOException
    {
        final ChildProcess child = ChildProcess.start(name, jvm, List.of(args), System.out);
        synchronized (children)
        {
            if (!interrupted)
            {
                children.add(child);
                return child;
            }
        }
        // Started after the interruption's stopAll took the list: it would outlive the demo.
        child.close();
        throw new IllegalStateException("interrupted");
    }

    /** Stops children in reverse start order (apps, then daemons, then the server) and removes the run dir. */
    private void stopAll(final Path dir)
    {
        final List<ChildProcess> all;
        synchronized (children)
        {
            all = new ArrayList<>(children);
            children.clear();
        }
        for (int i = all.size() - 1; i >= 0; i--)
        {
            all.get(i).close();
        }
        DirectoryTrees.delete(dir);
    }
}
