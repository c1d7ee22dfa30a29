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

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The package's systemd units under a real service manager: a QEMU TCG guest boots Debian's kernel with Debian 12's
 * systemd as PID 1, on a root made from a debootstrap'ed Debian with the hyperdmabuf package installed by apt-get
 * ({@code packaging/debian/install-test/prepare-systemd-root.sh}, {@code make-systemd-guest-root.sh}) and shared
 * writable over 9p. At boot, {@code check-units.sh} runs {@code systemd-analyze verify} on the installed units, starts
 * the ivshmem server (active only once READY=1 came, with its STATUS=) and the sink daemon, reloads the sink's policy
 * with {@code systemctl reload} (and a broken one, which leaves the last good policy in force and the unit active),
 * stops the sink's process to let the units' watchdog kill and restart it, and stops both; its verdicts are read from
 * the console. Needs root, debootstrap and what {@link GuestTests#prepare} needs; the Debian roots are cached with the
 * package installation test's ({@link DebianPackages#cache()}).
 */
@SystemTest
@Tag("qemu-guests")
class SystemdGuestTest
{
    private static final Duration PREPARE_TIMEOUT = Duration.ofMinutes(15);
    private static final Duration BUILD_TIMEOUT = Duration.ofMinutes(5);
    /** Between two verdicts: a JVM under TCG on a busy machine takes a minute or more to READY. */
    private static final Duration STEP_TIMEOUT = Duration.ofMinutes(8);
    private static final String CHECK = "unit-check: ";

    private final List<AutoCloseable> resources = new ArrayList<>();
    private Path work;

    @AfterEach
    void cleanUp() throws Exception
    {
        GuestTests.closeAll(resources, work);
    }

    @Timeout(value = 45, unit = TimeUnit.MINUTES) // the first run bootstraps Debian and downloads systemd and a JRE
    @Test
    void unitsStartReloadAndRestartOnWatchdogUnderSystemd() throws Exception
    {
        GuestTests.requireTools("debootstrap, dpkg-dev, asciidoctor and util-linux", "debootstrap", "dpkg-deb",
            "asciidoctor", "unshare", "chroot");
        DebianPackages.requireRoot("the systemd guest test (a chroot with mounts, a root the guest may write)");
        final GuestTests.GuestImage image = GuestTests.prepare(resources);
        final Path installTest = DebianPackages.packaging().resolve("install-test");
        final Path cache = DebianPackages.cache();
        work = Files.createTempDirectory(GuestTests.basedir().resolve("target"), "systemd-guest");
        final Path deb = DebianPackages.buildDeb(work.resolve("debs"), resources::add, BUILD_TIMEOUT);

        final ChildProcess prepare = DebianPackages.run("prepare-systemd-root", List.of("sh",
            installTest.resolve("prepare-systemd-root.sh").toString(), cache.toString()), Map.of(), resources::add,
            PREPARE_TIMEOUT);
        final String tar = prepare.awaitLine("ROOT_TAR=", Duration.ofSeconds(1)).substring("ROOT_TAR=".length());
        final Path root = work.resolve("root");
        DebianPackages.run("guest-root", List.of("sh", installTest.resolve("make-systemd-guest-root.sh").toString(),
            tar, cache.resolve("archives").toString(), root.toString(), deb.toString()), Map.of(), resources::add,
            PREPARE_TIMEOUT);

        final ChildProcess guest = ChildProcess.command("systemd-guest", List.of("qemu-system-x86_64", "-accel", "tcg",
            "-m", "1536", "-smp", "2", "-nodefaults", "-display", "none", "-serial", "stdio", "-no-reboot",
            "-kernel", image.kernel(), "-initrd", image.initrd(),
            "-append", "console=ttyS0 panic=-1 loglevel=3 no_timer_check systemd.show_status=0 hdmabuf.sysroot=sysroot",
            "-virtfs", "local,path=" + root + ",mount_tag=sysroot,security_model=none,multidevs=remap"), System.out);
        resources.add(guest);

        assertTrue(verdict(guest, "init ").contains(": systemd "), "PID 1 is not systemd");
        verdict(guest, "installed hyperdmabuf");
        final String verified = verdict(guest, "verify ok: ");
        for (final String unit : List.of("daemon", "server", "sink", "source"))
        {
            assertTrue(verified.contains("hdmabuf-" + unit + ".service"), verified);
        }
        assertTrue(verdict(guest, "server activating, then active after ")
            .contains(": ivshmem server on /run/hyperdmabuf/ivshmem.sock"));
        assertTrue(verdict(guest, "sink active when systemctl start returned").contains(": sink on kvm-ivshmem as VM "));
        assertTrue(verdict(guest, "reload ok: ").contains("policy reloaded from [/etc/hyperdmabuf/policy.toml]"));
        assertTrue(verdict(guest, "broken policy refused, unit active, policy in force: ")
            .endsWith(": [/etc/hyperdmabuf/policy.toml]"));
        assertTrue(verdict(guest, "watchdog: ").contains("Watchdog timeout"));
        verdict(guest, "stopped: both inactive");
        verdict(guest, "done");
        assertEquals(0, guest.waitFor(STEP_TIMEOUT), "the guest did not power off");
    }

    /** The guest's next verdict line starting with {@code what}; a FAILED line ends the guest, and this with it. */
    private static String verdict(final ChildProcess guest, final String what) throws InterruptedException
    {
        final String line = guest.awaitLine(CHECK + what, STEP_TIMEOUT);
        return line.substring(line.indexOf(CHECK) + CHECK.length());
    }
}
