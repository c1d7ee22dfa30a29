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
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * What the tests that boot guests share: required tools, the guest image and QEMU command, the guest-side shell
 * pieces (the JVM, waiting for a file's line, taking an ivshmem device through vfio-pci) and removing their work
 * directory.
 */
final class GuestTests
{
    private static final Duration PREPARE_TIMEOUT = Duration.ofMinutes(5);
    /** A machine with a vIOMMU, so a guest can take its ivshmem-doorbell's MSI-X through vfio-pci. */
    static final List<String> IOMMU_MACHINE = List.of("-machine", "q35", "-device", "intel-iommu,intremap=on");
    /** The guest kernel option {@link #IOMMU_MACHINE} needs (Debian's default is off). */
    static final String IOMMU_APPEND = " intel_iommu=on";
    /** The prefix of the {@code /proc/interrupts} lines {@link #VFIO_INTERRUPTS} prints. */
    static final String IRQ_PREFIX = "IRQ ";
    /** Guest shell: the guest's vfio interrupt counts, each line {@link #IRQ_PREFIX}ed, then {@code IRQS END}. */
    static final String VFIO_INTERRUPTS = "grep vfio /proc/interrupts | sed 's/^/" + IRQ_PREFIX +
        "/'; echo 'IRQS END'\n";
    /**
     * Guest shell: {@code wait_for FILE TEXT} waits up to 5 minutes for a line of a file another process (or
     * guest) writes; on timeout it prints a FAIL line and returns 1.
     */
    static final String WAIT_FOR = "wait_for() { i=0; while ! grep -q \"$2\" \"$1\" 2>/dev/null; do\n" +
        "    i=$((i + 1)); [ $i -lt 1200 ] || { echo \"FAIL waiting for '$2' in $1\"; return 1; }\n" +
        "    sleep 0.25; done; }\n";
    /** In load order; some are built into other kernels, so a failed insmod is not fatal. */
    private static final List<String> VFIO_MODULES = List.of("kernel/virt/lib/irqbypass.ko",
        "kernel/drivers/vfio/vfio.ko", "kernel/drivers/vfio/vfio_iommu_type1.ko",
        "kernel/drivers/vfio/vfio_virqfd.ko", "kernel/drivers/vfio/pci/vfio-pci-core.ko",
        "kernel/drivers/vfio/pci/vfio-pci.ko");
    /** A vfio MSI-X line of {@link #VFIO_INTERRUPTS} on one CPU: its count and its vector. */
    private static final Pattern MSIX_LINE = Pattern.compile("^" + IRQ_PREFIX.trim() +
        "\\s+\\d+:\\s+(\\d+).*vfio-msix\\[(\\d+)]");

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
     * The guest-side shell variables {@code JAVA}, this JVM with this class path sized for TCG and with its
     * class-data archive ({@link GuestClassData}; a main class follows), and {@code J}, the same running the CLI.
     */
    static String javaVariable() throws InterruptedException
    {
        return "JAVA=\"" + GuestClassData.thisJava() + " " + GuestClassData.thisJvmOptions() +
            " -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xmx128m -Djava.io.tmpdir=/run -cp " +
            GuestClassData.classPath() + "\"\nJ=\"$JAVA org.hyperdmabuf.cli.Hdmabuf\"\n";
    }

    /**
     * Guest shell: loads the vfio modules from {@code image}'s kernel package, binds the ivshmem devices
     * (1af4:1110) to vfio-pci and prints the IOMMU group of the one at {@code address} ({@code GROUP ...}).
     */
    static String vfioBinding(final GuestImage image, final String address)
    {
        final StringBuilder s = new StringBuilder();
        for (final String module : VFIO_MODULES)
        {
            s.append("insmod ").append(image.modules().resolve(module)).append(" 2>/dev/null\n");
        }
        return s.append("echo '1af4 1110' > /sys/bus/pci/drivers/vfio-pci/new_id\n")
            .append("echo \"GROUP $(readlink /sys/bus/pci/devices/").append(address).append("/iommu_group)\"\n")
            .toString();
    }

    /**
     * Interrupts of MSI-X vector {@code vector} in a guest's {@link #VFIO_INTERRUPTS} lines, or of every vector
     * from {@code vector} up when {@code andAbove}; -1 if no such vector is listed.
     */
    static long msixInterrupts(final List<String> lines, final int vector, final boolean andAbove)
    {
        long count = -1;
        for (final String line : lines)
        {
            final Matcher m = MSIX_LINE.matcher(line);
            if (m.find())
            {
                final int v = Integer.parseInt(m.group(2));
                if (v == vector || andAbove && v > vector)
                {
                    count = Math.max(count, 0) + Long.parseLong(m.group(1));
                }
            }
        }
        return count;
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
