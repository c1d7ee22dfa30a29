package org.hyperdmabuf.tests.guest;

import org.hyperdmabuf.cli.ChildProcess;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * What the tests of the hyperdmabuf Debian package share: the package built from this build's jars, Debian roots
 * cached in {@code ~/.cache/hyperdmabuf/debian-root} (property {@code hdmabuf.debian.cache}), and running the
 * scripts of {@code packaging/debian/install-test}.
 */
final class DebianPackages
{
    private DebianPackages()
    {
    }

    /** {@code packaging/debian} of this tree. */
    static Path packaging()
    {
        return GuestTests.basedir().resolve("../packaging/debian").normalize();
    }

    /** Where the Debian roots and the downloads are cached. */
    static Path cache()
    {
        return Path.of(System.getProperty("hdmabuf.debian.cache",
            Path.of(System.getProperty("user.home"), ".cache", "hyperdmabuf", "debian-root").toString()));
    }

    /** Skips outside CI when this JVM is not root; in CI ({@code CI=true}) fails. */
    static void requireRoot(final String why)
    {
        final boolean root = "root".equals(System.getProperty("user.name"));
        if (!root && "true".equals(System.getenv("CI")))
        {
            fail(why + " needs root");
        }
        assumeTrue(root, why + " needs root");
    }

    /**
     * Builds the hyperdmabuf package into {@code dir} with {@code build-debs.sh} from this build's jars (no lintian:
     * it runs where the build makes the packages) and returns the .deb.
     */
    static Path buildDeb(final Path dir, final Consumer<ChildProcess> track, final Duration timeout) throws Exception
    {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("codegen.classpath"), Stream.of(System.getProperty("java.class.path")
            .split(File.pathSeparator)).filter(e -> e.contains("picocli-codegen")).findFirst()
            .orElseThrow(() -> new AssertionError("picocli-codegen is not on the test class path")));
        run("build-debs", List.of("bash", packaging().resolve("build-debs.sh").toString(), dir.toString(),
            "0.0.0-SNAPSHOT", "true"), Map.of("HDMABUF_SKIP_LINTIAN", "1"), track, timeout);
        final Path deb = dir.resolve("hyperdmabuf_0.0.0~snapshot_amd64.deb");
        assertTrue(Files.isRegularFile(deb), "build-debs.sh made no " + deb);
        return deb;
    }

    /** Runs a command to its end, its output echoed; fails on a non-zero exit status or after {@code timeout}. */
    static ChildProcess run(final String name, final List<String> command, final Map<String, String> env,
        final Consumer<ChildProcess> track, final Duration timeout) throws Exception
    {
        final ProcessBuilder builder = new ProcessBuilder(command);
        builder.environment().putAll(env);
        final ChildProcess p = ChildProcess.command(name, builder, System.out);
        track.accept(p);
        assertEquals(0, p.waitFor(timeout), name + " failed or ran longer than " + timeout);
        return p;
    }
}
