package org.hyperdmabuf.cli;

import org.hyperdmabuf.hv.spi.BackendProvider;

import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.ServiceLoader;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * The application class-data archive (AppCDS) the launchers hand the JVM: the classes a daemon loads up to READY,
 * parsed and verified once, mapped at start-up instead. The archive is tied to the JVM build and to the class path
 * (the same jars at the same paths, unchanged): a missing or stale one is ignored, with the JVM's warning about it
 * turned off, so the command starts as it would without one (then without the JDK's default archive either).
 * <p>
 * It is a static archive, made in two steps: {@code main} is the training run, which with {@link #classListOptions}
 * lists the classes it loaded; a second JVM with {@link #dumpOptions} writes them, with the JDK's own, into the
 * archive. A dynamic archive (written at the exit of the training run) cannot hold picocli's classes (Java 5 class
 * files), which every client command then loaded and parsed from its jar. In the training run, an ivshmem server and
 * a daemon with both roles run in this one JVM, each started as its command line starts it (after what
 * {@link Hdmabuf#main} does first, and the backends' availability probes of a daemon without {@code --backend}; the
 * daemon with a policy file and a drop-in), until both print READY; then picocli's model of a client command is
 * built (the daemons do without it), and the JVM exits. Usage: {@code ClassDataArchive WORK_DIR}.
 */
public final class ClassDataArchive
{
    /** Turns off the JVM's cds messages: a missing or stale archive, and the classes a dump leaves out. */
    private static final String QUIET = "-Xlog:cds=off,cds+dynamic=off";
    private static final long READY_SECONDS = 60;
    /**
     * The training daemon's policy: every table of the schema (abi-spec/POLICY.md), in both of TOML's forms where
     * the schema allows them, so the TOML parser's classes (tomlj and the ANTLR runtime, ~300) are archived too. A
     * daemon with a policy file, as every deployed one has, loaded and verified them at every start: ~60 ms before
     * READY. Permissive enough for the training: VM 1 may share with anyone.
     */
    private static final String TRAINING_POLICY = """
        # the class-data archive's training policy
        [vms]
        training = 1
        peer = 2

        [[share]]
        from = "training"
        to = ["peer", 3]
        content = ["video/*", "audio/pcm"]
        read_only = true

        [[share]]
        from = 1
        to = "*"

        [quota.vm.training]
        bytes = "256M"
        buffers = 64

        [quota.uid.1000]
        bytes = 67108864
        buffers = 16

        [quota.default_client]
        bytes = "128M"
        buffers = 32

        [limits]
        max_metadata = 4096

        [access]
        uids = [0, 1000]
        gids = [27]
        """;
    /** A drop-in merged after it, with the inline forms. */
    private static final String TRAINING_DROP_IN = """
        quota.vm.peer = { buffers = 4 }
        share = [{ from = 2, to = 1, content = "audio/*" }]
        """;
    /**
     * The JIT compiles a method after four times the invocations and loop iterations it otherwise waits for: on two
     * cores its compiler threads took about a third of a daemon's CPU time to READY, compiling code that runs a few
     * times at start-up; code that stays hot is compiled by both tiers as before, a little later (what a
     * benchmark measures after its warm-up is the same). Any factor from 2 to 12 gave the same start-up, ~20 ms sooner.
     */
    public static final String JIT_THRESHOLDS = "-XX:CompileThresholdScaling=4";

    private ClassDataArchive()
    {
    }

    /**
     * JVM options that use {@code archive} if it is there and fits, and silently do without it otherwise; as the
     * launchers run a daemon, also without a perf-data file and with {@link #JIT_THRESHOLDS}.
     */
    public static List<String> useOptions(final Path archive)
    {
        return List.of("-XX:SharedArchiveFile=" + archive, "-Xshare:auto", QUIET, "-XX:-UsePerfData", JIT_THRESHOLDS);
    }

    /** JVM options of the training run, which writes the classes it loaded to {@code classList} when it exits. */
    public static List<String> classListOptions(final Path classList)
    {
        return List.of("-XX:DumpLoadedClassList=" + classList, QUIET);
    }

    /**
     * JVM options that write {@code archive} from the training run's {@code classList} and exit (the JVM runs no main
     * class); the class path must be the one the archive is for.
     */
    public static List<String> dumpOptions(final Path classList, final Path archive)
    {
        return List.of("-Xshare:dump", "-XX:SharedClassListFile=" + classList, "-XX:SharedArchiveFile=" + archive,
            "-Xlog:cds=off");
    }

    public static void main(final String[] args) throws InterruptedException, java.io.IOException
    {
        if (args.length != 1)
        {
            System.err.println("usage: ClassDataArchive WORK_DIR");
            System.exit(2);
        }
        final Path dir = Files.createDirectories(Path.of(args[0]));
        final BlockingQueue<String> lines = new LinkedBlockingQueue<>();
        final PrintStream out = System.out;
        System.setOut(new ReadyLines(lines));
        // The daemons log at their default level, as they start (the classes of formatting a message): kept here,
        // shown only if the training fails.
        final ByteArrayOutputStream log = new ByteArrayOutputStream();
        System.setErr(new PrintStream(log, true, StandardCharsets.UTF_8));
        Hdmabuf.beforeCommandLine(new String[] {"daemon"});
        final String ivshmem = dir.resolve("ivshmem.sock").toString();
        start(lines, "server", "--socket", ivshmem, "--size", "16M");
        awaitReady(lines, "server", out, log);
        // What a daemon without --backend does first: ask every backend whether it can run here (device nodes, the
        // PCI devices in sysfs). The daemon then names kvm-ivshmem, which runs anywhere.
        for (final BackendProvider provider : ServiceLoader.load(BackendProvider.class))
        {
            provider.unavailabilityCause();
        }
        final Path policy = dir.resolve("policy.toml");
        final Path policyDir = Files.createDirectories(dir.resolve("policy.d"));
        Files.writeString(policy, TRAINING_POLICY);
        Files.writeString(policyDir.resolve("10-training.toml"), TRAINING_DROP_IN);
        start(lines, "daemon", "--backend", "kvm-ivshmem", "--ivshmem", ivshmem, "--socket",
            dir.resolve("daemon.sock").toString(), "--policy", policy.toString(), "--policy-dir", policyDir.toString());
        awaitReady(lines, "daemon", out, log);
        // The daemons read their plain command lines without picocli; the client commands and help build its model.
        Hdmabuf.commandLine(new String[] {"caps", "--json"}).parseArgs("caps", "--json");
        // The shutdown hooks stop both; the class list is complete after them.
        System.exit(0);
    }

    /** Runs {@code args} as {@code hdmabuf} would, on a thread of its own; a failure is queued as FAILED. */
    private static void start(final BlockingQueue<String> lines, final String... args)
    {
        final Thread t = new Thread(() ->
        {
            final int status = Hdmabuf.run(args);
            lines.add("FAILED " + args[0] + " exit status " + status);
        }, "training-" + args[0]);
        t.setDaemon(true);
        t.start();
    }

    private static void awaitReady(final BlockingQueue<String> lines, final String command, final PrintStream out,
        final ByteArrayOutputStream log) throws InterruptedException
    {
        final String line = lines.poll(READY_SECONDS, TimeUnit.SECONDS);
        if (line == null || !line.startsWith("READY " + command))
        {
            out.print(log.toString(StandardCharsets.UTF_8));
            out.println("class-data training: " + command + " did not start: " +
                (line == null ? "no READY in " + READY_SECONDS + " s" : line));
            System.exit(1);
        }
    }

    /** System.out during training: the READY lines of the commands go to a queue, the rest nowhere. */
    private static final class ReadyLines extends PrintStream
    {
        private final BlockingQueue<String> lines;

        ReadyLines(final BlockingQueue<String> lines)
        {
            super(OutputStream.nullOutputStream(), true, StandardCharsets.UTF_8);
            this.lines = lines;
        }

        @Override
        public void println(final String line)
        {
            if (line.startsWith("READY"))
            {
                lines.add(line);
            }
        }
    }
}
