package org.hyperdmabuf.tests.guest;

import org.hyperdmabuf.cli.ChildProcess;
import org.hyperdmabuf.tests.support.SystemTest;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertTrue;

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
        DebianPackages.requireRoot("the package installation test (a chroot with mounts)");
        final Path packaging = DebianPackages.packaging();
        final Path cache = DebianPackages.cache();
        work = Files.createTempDirectory(GuestTests.basedir().resolve("target"), "package-install");
        final Path deb = DebianPackages.buildDeb(work.resolve("debs"), processes::add, INSTALL_TIMEOUT);

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

    private ChildProcess run(final String name, final List<String> command, final Map<String, String> env,
        final Duration timeout) throws Exception
    {
        return DebianPackages.run(name, command, env, processes::add, timeout);
    }
}
