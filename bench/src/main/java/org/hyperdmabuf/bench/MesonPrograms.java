package org.hyperdmabuf.bench;

import org.hyperdmabuf.cli.ChildProcess;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * What the figures that measure C programs share: the source checkout, the release meson build in
 * {@code bench/target/meson-c} and running a program there to success.
 */
final class MesonPrograms
{
    private MesonPrograms()
    {
    }

    /** The release build in {@code bench/target/meson-c}, set up on first use, with {@code targets} compiled. */
    static Path build(final BenchRun run, final Path root, final String... targets) throws Exception
    {
        final Path build = root.resolve("bench").resolve("target").resolve("meson-c");
        if (!Files.isRegularFile(build.resolve("build.ninja")))
        {
            run(run, "meson setup", List.of("meson", "setup", "--buildtype=release", "-Dtests=disabled",
                build.toString(), root.toString()), root, Map.of(), Duration.ofMinutes(5));
        }
        final List<String> compile = new ArrayList<>(List.of("meson", "compile", "-C", build.toString()));
        compile.addAll(List.of(targets));
        run(run, "meson compile", compile, root, Map.of(), Duration.ofMinutes(10));
        return build;
    }

    /**
     * Runs {@code command} in {@code dir} to success within {@code timeout}, its output echoed as {@code -v} says;
     * its output lines.
     */
    static List<String> run(final BenchRun run, final String name, final List<String> command, final Path dir,
        final Map<String, String> env, final Duration timeout) throws Exception
    {
        run.log().println(name + ": " + String.join(" ", command));
        final ProcessBuilder pb = new ProcessBuilder(command).directory(dir.toFile());
        pb.environment().putAll(env);
        try (ChildProcess p = ChildProcess.command(name, pb, run.echo()))
        {
            p.awaitSuccess(timeout);
            return p.output();
        }
    }

    /** The source checkout: {@code -Dhdmabuf.root} (set by {@code hdmabuf bench}), else the directory above bench.jar. */
    static Path checkoutRoot() throws Exception
    {
        final String given = System.getProperty("hdmabuf.root");
        Path p = given != null ? Path.of(given) :
            Path.of(MesonPrograms.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        p = p.toAbsolutePath();
        while (p != null && !Files.isRegularFile(p.resolve("libhdmabuf").resolve("bench").resolve("run.sh")))
        {
            p = p.getParent();
        }
        if (p == null)
        {
            throw new IllegalStateException("no source checkout with libhdmabuf/bench/run.sh above " + given);
        }
        return p;
    }
}
