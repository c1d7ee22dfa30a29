package org.hyperdmabuf.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code hdmabuf bench}: runs the benchmark harness (org.hyperdmabuf.bench.Harness in the bench module) in its
 * own JVM. The client cannot depend on the bench module (bench depends on the client), so this finds
 * {@code bench/target} next to the client's {@code target} in a source checkout, builds it with Maven if it is
 * missing, and starts the harness with the bench module's class path.
 */
@Command(name = "bench", mixinStandardHelpOptions = true,
    description = {"Run the benchmarks, each with its C baseline measured in the same run.",
        "bench/README.md explains each row:",
        "fence round trips, export -> event and import latency, 4K frame streaming, control-plane throughput,",
        "scale to 10 000 live buffers, 16 peers, start-up. Prints a table and writes bench/target/results.md.",
        "Needs gcc and a source checkout (builds the bench module on first use)."})
final class BenchCommand implements Callable<Integer>
{
    private static final String HARNESS = "org.hyperdmabuf.bench.Harness";
    private static final List<String> FIGURES = List.of("startup", "fence", "events", "frames", "control", "scale",
        "peers", "c", "gst");

    @Option(names = "--quick", description = "CI-sized run (well under a minute).")
    boolean quick;

    @Option(names = "--reps", description = "Runs per figure; each figure is the median (default: 3 quick, 5 full).")
    Integer reps;

    @Option(names = "--out", description = "Where to write the markdown table (default: bench/target/results.md).")
    Path out;

    @Option(names = "--readme", description = "Also rewrite the results block of this file (e.g. bench/README.md).")
    Path readme;

    @Option(names = "--only", split = ",", paramLabel = "FIGURE",
        description = "Only these figures: startup, fence, events, frames, control, scale, peers, c (the C library's " +
            "benchmarks; needs meson), gst (hdmabufsink/hdmabufsrc against shmsink/shmsrc).")
    List<String> only;

    @Option(names = "--receive-thread", description = "Daemons receive peer messages on the backend's own thread, " +
        "handed to their event loop (the design before the loop watched the doorbells), for comparison.")
    boolean receiveThread;

    @Option(names = "--trace-export", description = "Daemons note where each timed export's latency goes " +
        "(-Dhdmabuf.trace-export); the medians per point go into the event figure's details.")
    boolean traceExport;

    @Option(names = {"-v", "--verbose"}, description = "Echo the output of every child process.")
    boolean verbose;

    @Override
    public Integer call() throws Exception
    {
        // Checked before a build that may take minutes; the harness would run no figure for an unknown name.
        if (only != null && !FIGURES.containsAll(only))
        {
            throw new IllegalArgumentException("--only takes " + String.join(", ", FIGURES) + ": " + only);
        }
        if (reps != null && reps < 1)
        {
            throw new IllegalArgumentException("--reps must be at least 1: " + reps);
        }
        final Path root = checkoutRoot();
        final Path target = root.resolve("bench").resolve("target");
        final Path jar = target.resolve("bench.jar");
        if (!Files.isRegularFile(jar) || !Files.isDirectory(target.resolve("lib")))
        {
            System.err.println("hdmabuf bench: building the bench module (mvn -q -DskipTests package -pl bench -am)...");
            final int rc = new ProcessBuilder("mvn", "-q", "-DskipTests", "package", "-pl", "bench", "-am")
                .directory(root.toFile()).inheritIO().start().waitFor();
            if (rc != 0 || !Files.isRegularFile(jar))
            {
                System.err.println("hdmabuf bench: the build failed (exit " + rc + ")");
                return 1;
            }
        }
        final List<String> cmd = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java"),
            "-Dhdmabuf.root=" + root, "-cp", jar + File.pathSeparator + target.resolve("lib") + File.separator + "*",
            HARNESS));
        if (quick)
        {
            cmd.add("--quick");
        }
        if (reps != null)
        {
            cmd.addAll(List.of("--reps", reps.toString()));
        }
        if (out != null)
        {
            cmd.addAll(List.of("--out", out.toString()));
        }
        if (readme != null)
        {
            cmd.addAll(List.of("--readme", readme.toString())); // as given: the harness runs in this directory, and the
            // command it records in the file names no machine path
        }
        if (only != null)
        {
            cmd.addAll(List.of("--only", String.join(",", only)));
        }
        if (receiveThread)
        {
            cmd.add("--receive-thread");
        }
        if (traceExport)
        {
            cmd.add("--trace-export");
        }
        if (verbose)
        {
            cmd.add("-v");
        }
        return new ProcessBuilder(cmd).inheritIO().start().waitFor();
    }

    /** The source checkout holding this jar: .../client/target/client-*.jar (or .../client/target/classes). */
    private static Path checkoutRoot() throws Exception
    {
        Path p = Path.of(BenchCommand.class.getProtectionDomain().getCodeSource().getLocation().toURI()).toAbsolutePath();
        while (p != null && !Files.isRegularFile(p.resolve("bench").resolve("pom.xml")))
        {
            p = p.getParent();
        }
        if (p == null)
        {
            throw new IllegalStateException("hdmabuf bench needs a source checkout (no bench/pom.xml above " +
                BenchCommand.class.getProtectionDomain().getCodeSource().getLocation() + ")");
        }
        return p;
    }
}
