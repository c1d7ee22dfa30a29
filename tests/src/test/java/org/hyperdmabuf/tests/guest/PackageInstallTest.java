package org.hyperdmabuf.tests.guest;

import org.hyperdmabuf.cli.ChildProcess;
import org.hyperdmabuf.tests.support.SystemTest;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The hyperdmabuf Debian package on a clean Debian 12 root: builds it from this tree's jars
 * ({@code packaging/debian/build-debs.sh}), installs it with apt-get in a debootstrap'ed chroot (dependencies from
 * Debian's archive) and runs {@code hdmabuf demo} there from the installed files, with no source tree and no Maven
 * ({@code packaging/debian/install-test/}). The root and the downloads are cached in
 * {@code ~/.cache/hyperdmabuf/debian-root} (property {@code hdmabuf.debian.cache}). Needs root, debootstrap and
 * dpkg-deb; outside CI the test is skipped without them, with {@code CI=true} it fails.
 */
@SystemTest
@Tag("packaging")
class PackageInstallTest
{
    private static final Duration PREPARE_TIMEOUT = Duration.ofMinutes(15);
    private static final Duration INSTALL_TIMEOUT = Duration.ofMinutes(15);

    private final List<ChildProcess> processes = new ArrayList<>();
    private Path work;

    @AfterEach
    void cleanUp() throws Exception
    {
        for (final ChildProcess p : processes)
        {
            p.close();
        }
        GuestTests.deleteTree(work);
    }

    @Timeout(value = 40, unit = TimeUnit.MINUTES) // the first run bootstraps Debian and downloads a JRE
    @Test
    void thePackageInstallsOnCleanDebianAndRunsTheDemo() throws Exception
    {
        GuestTests.requireTools("debootstrap, dpkg-dev, asciidoctor and util-linux", "debootstrap", "dpkg-deb",
            "asciidoctor", "unshare", "chroot");
        final boolean root = "root".equals(System.getProperty("user.name"));
        if (!root && "true".equals(System.getenv("CI")))
        {
            fail("the package installation test needs root (a chroot with mounts)");
        }
        assumeTrue(root, "the package installation test needs root (a chroot with mounts)");
        final Path basedir = Paths.get(System.getProperty("basedir", System.getProperty("user.dir"))).toAbsolutePath();
        final Path packaging = basedir.resolve("../packaging/debian").normalize();
        final Path cache = Path.of(System.getProperty("hdmabuf.debian.cache",
            Path.of(System.getProperty("user.home"), ".cache", "hyperdmabuf", "debian-root").toString()));
        work = Files.createTempDirectory(basedir.resolve("target"), "package-install");

        // The package, from the jars this build made (lintian runs where the build makes the packages).
        final Path debs = work.resolve("debs");
        Files.createDirectories(debs);
        Files.writeString(debs.resolve("codegen.classpath"), Stream.of(System.getProperty("java.class.path")
            .split(java.io.File.pathSeparator)).filter(e -> e.contains("picocli-codegen")).findFirst()
            .orElseThrow(() -> new AssertionError("picocli-codegen is not on the test class path")));
        run("build-debs", List.of("bash", packaging.resolve("build-debs.sh").toString(), debs.toString(),
            "0.0.0-SNAPSHOT", "true"), Map.of("HDMABUF_SKIP_LINTIAN", "1"), INSTALL_TIMEOUT);
        final Path deb = debs.resolve("hyperdmabuf_0.0.0~snapshot_amd64.deb");
        assertTrue(Files.isRegularFile(deb), "build-debs.sh made no " + deb);

        final ChildProcess prepare = run("prepare-root", List.of("sh",
            packaging.resolve("install-test/prepare-root.sh").toString(), cache.toString()), Map.of(), PREPARE_TIMEOUT);
        final String tar = prepare.awaitLine("ROOT_TAR=", Duration.ofSeconds(1)).substring("ROOT_TAR=".length());

        final ChildProcess install = run("install", List.of("sh",
            packaging.resolve("install-test/install-and-run.sh").toString(), tar, cache.resolve("archives").toString(),
            work.toString(), deb.toString()), Map.of(), INSTALL_TIMEOUT);
        install.awaitLine("install-test: group hdmabuf:", Duration.ofSeconds(1));
        assertTrue(install.awaitLine("install-test: hyperdmabuf ", Duration.ofSeconds(1)).contains("(ABI v"));
        assertTrue(install.awaitLine("{\"ok\":true", Duration.ofSeconds(1)).contains("\"permissive\":false"));
        install.awaitLine("demo: all 30 frames verified", Duration.ofSeconds(1));
        install.awaitLine("install-test: done", Duration.ofSeconds(1));
    }

    /** Runs a command to its end; fails on a non-zero exit status. */
    private ChildProcess run(final String name, final List<String> command, final Map<String, String> env,
        final Duration timeout) throws Exception
    {
        final ProcessBuilder builder = new ProcessBuilder(command);
        builder.environment().putAll(env);
        final ChildProcess p = ChildProcess.command(name, builder, System.out);
        processes.add(p);
        assertEquals(0, p.waitFor(timeout), name + " failed or ran longer than " + timeout);
        return p;
    }
}
