package org.hyperdmabuf.bench;

import org.hyperdmabuf.cli.ChildProcess;

import java.io.InputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * The C baselines: their sources travel in this jar under {@code c/}; {@link #compile()} builds them with
 * {@code gcc -O2} into {@code bench/target/c/}, and each run prints one RESULT line.
 */
final class CBaselines
{
    private static final List<String> SOURCES = List.of("bench_stats.h", "shm_pingpong.c", "eventfd_pingpong.c",
        "unix_pingpong.c", "frame_read.c", "unix_frames.c");
    private static final List<String> PROGRAMS = List.of("shm_pingpong", "eventfd_pingpong", "unix_pingpong",
        "frame_read", "unix_frames");

    private final Path dir;
    private final int reps;
    private final PrintStream log;
    private final PrintStream echo;

    CBaselines(final Path dir, final int reps, final PrintStream log, final PrintStream echo)
    {
        this.dir = dir;
        this.reps = reps;
        this.log = log;
        this.echo = echo;
    }

    void compile() throws Exception
    {
        Files.createDirectories(dir);
        for (final String f : SOURCES)
        {
            try (InputStream in = CBaselines.class.getResourceAsStream("/c/" + f))
            {
                if (in == null)
                {
                    throw new IllegalStateException("C source c/" + f + " is not on the class path");
                }
                Files.write(dir.resolve(f), in.readAllBytes());
            }
        }
        for (final String p : PROGRAMS)
        {
            final ChildProcess gcc = ChildProcess.command("gcc " + p, List.of("gcc", "-O2", "-Wall", "-o",
                dir.resolve(p).toString(), dir.resolve(p + ".c").toString()), echo);
            gcc.awaitSuccess(Duration.ofSeconds(60));
        }
        log.println("compiled the C baselines with gcc -O2 into " + dir);
    }

    /** Runs {@code program} once per rep; its RESULT lines. */
    List<String> run(final String program, final String... args) throws Exception
    {
        final List<String> results = new ArrayList<>();
        for (int r = 0; r < reps; r++)
        {
            results.add(runOnce(program, args));
        }
        return results;
    }

    /** Runs {@code program} once; its RESULT line. */
    String runOnce(final String program, final String... args) throws Exception
    {
        final List<String> cmd = new ArrayList<>(List.of(dir.resolve(program).toString()));
        cmd.addAll(List.of(args));
        final ChildProcess p = ChildProcess.command(program, cmd, echo);
        p.awaitSuccess(BenchRun.RUN);
        return p.awaitLine("RESULT", BenchRun.START);
    }
}
