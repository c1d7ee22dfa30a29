package org.hyperdmabuf.tests.guest;

import org.hyperdmabuf.cli.ChildProcess;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** What the tests that boot guests share: required tools, and removing their work directory. */
final class GuestTests
{
    private static final Duration PREPARE_TIMEOUT = Duration.ofMinutes(5);

    /** A bootable guest: Debian's kernel (its modules next to it) and the busybox initramfs. */
    record GuestImage(String kernel, String initrd)
    {
        /** The guest kernel's module tree ({@code lib/modules/VERSION} of the unpacked package). */
        Path modules()
        {
            final Path vmlinuz = Path.of(kernel);
            final String version = vmlinuz.getFileName().toString().substring("vmlinuz-".length());
            return vmlinuz.getParent().getParent().resolve("lib/modules").resolve(version);
        }
    }

    private GuestTests()
    {
    }

    /** This module's directory. */
    static Path basedir()
    {
        return Paths.get(System.getProperty("basedir", System.getProperty("user.dir"))).toAbsolutePath();
    }

    /**
     * Downloads (once, cached in {@code ~/.cache/hyperdmabuf/qemu-guest}, property {@code hdmabuf.guest.cache})
     * and builds the guest image with {@code packaging/qemu-guest/prepare.sh}; skips or fails as
     * {@link #requireTools} when QEMU or the image tools are missing.
     */
    static GuestImage prepare(final List<AutoCloseable> resources) throws IOException, InterruptedException
    {
        return prepare(resources, List.of());
    }

    /**
     * As {@link #prepare(List)}, with the kernel of Debian suite {@code suite} (e.g. {@code bookworm-backports}),
     * resolved through prepare.sh's private apt configuration.
     */
    static GuestImage prepare(final List<AutoCloseable> resources, final String suite)
        throws IOException, InterruptedException
    {
        return prepare(resources, List.of(suite));
    }

    private static GuestImage prepare(final List<AutoCloseable> resources, final List<String> suite)
        throws IOException, InterruptedException
    {
        requireTools("qemu-system-x86, busybox-static, cpio and kmod", "qemu-system-x86_64", "busybox", "cpio",
            "apt-get", "dpkg");
        final Path prepare = basedir().resolve("../packaging/qemu-guest/prepare.sh").normalize();
        final Path cache = Path.of(System.getProperty("hdmabuf.guest.cache",
            Path.of(System.getProperty("user.home"), ".cache", "hyperdmabuf", "qemu-guest").toString()));
        final List<String> cmd = new ArrayList<>(List.of("sh", prepare.toString(), cache.toString()));
        cmd.addAll(suite);
        final ChildProcess prep = ChildProcess.command("prepare", cmd, System.out);
        resources.add(prep);
        prep.awaitSuccess(PREPARE_TIMEOUT);
        return new GuestImage(prep.awaitLine("KERNEL=", Duration.ofSeconds(1)).substring("KERNEL=".length()),
            prep.awaitLine("INITRD=", Duration.ofSeconds(1)).substring("INITRD=".length()));
    }

    /**
     * The QEMU TCG command line of a guest that mounts the host's root read-only and {@code work} writable over 9p
     * and runs {@code script} (a file in {@code work}); {@code machine} and {@code append} come first and last.
     */
    static List<String> qemuCommand(final GuestImage image, final Path work, final String script,
        final List<String> machine, final String append)
    {
        final List<String> cmd = new ArrayList<>(List.of("qemu-system-x86_64", "-accel", "tcg", "-m", "1024",
            "-smp", "1", "-nodefaults", "-display", "none", "-serial", "stdio", "-no-reboot"));
        cmd.addAll(machine); // before the other devices: a vIOMMU must exist when they are created
        cmd.addAll(List.of("-kernel", image.kernel(), "-initrd", image.initrd(),
            "-append", "console=ttyS0 panic=-1 loglevel=3 no_timer_check hdmabuf.work=" + work + " hdmabuf.run=" +
                work.resolve(script) + append,
            "-virtfs", "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap",
            "-virtfs", "local,path=" + work + ",mount_tag=work,security_model=none,multidevs=remap"));
        return cmd;
    }

    /**
     * The guest-side shell variables {@code JAVA}, this JVM with this class path sized for TCG (a main class
     * follows), and {@code J}, the same running the CLI.
     */
    static String javaVariable()
    {
        final String java = ProcessHandle.current().info().command().orElseThrow();
        return "JAVA=\"" + java + " -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xmx128m -Djava.io.tmpdir=/run -cp " +
            System.getProperty("java.class.path") + "\"\nJ=\"$JAVA org.hyperdmabuf.cli.Hdmabuf\"\n";
    }

    /**
     * Skips outside CI when a tool is missing; in CI ({@code CI=true}) a missing tool fails the test.
     * {@code packages} names the Debian packages that provide them (installed by {@code .ci/run}).
     */
    static void requireTools(final String packages, final String... tools)
    {
        for (final String tool : tools)
        {
            final boolean found = Stream.of(System.getenv().getOrDefault("PATH", "").split(":"))
                .anyMatch(dir -> Files.isExecutable(Path.of(dir, tool)));
            if (!found && "true".equals(System.getenv("CI")))
            {
                fail(tool + " is not installed (.ci/run installs " + packages + ")");
            }
            assumeTrue(found, tool + " is not installed: this test needs " + packages);
        }
    }

    /** Closes {@code resources} in reverse order, then deletes {@code work} (if not null). */
    static void closeAll(final List<AutoCloseable> resources, final Path work) throws Exception
    {
        for (int i = resources.size() - 1; i >= 0; i--)
        {
            resources.get(i).close();
        }
        deleteTree(work);
    }

    /** Deletes a directory tree; nothing when it is null. */
    static void deleteTree(final Path dir) throws IOException
    {
        if (dir == null)
        {
            return;
        }
        try (Stream<Path> paths = Files.walk(dir))
        {
            for (final Path p : (Iterable<Path>)paths.sorted(Comparator.reverseOrder())::iterator)
            {
                Files.deleteIfExists(p);
            }
        }
    }
}
