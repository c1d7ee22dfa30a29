package org.hyperdmabuf.tests.guest;

import org.hyperdmabuf.cli.ChildProcess;
import org.hyperdmabuf.hv.kvm.IvshmemServer;
import org.hyperdmabuf.tests.support.Await;
import org.hyperdmabuf.tests.support.SystemTest;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Two real QEMU guests (TCG) run the daemons in guest mode on one region owned by an ivshmem server on this host:
 * guest 1 a sink daemon and a producer, guest 2 a source daemon and a consumer. The guests
 * boot Debian's kernel with a busybox initramfs ({@code packaging/qemu-guest/prepare.sh})
 * and run this JVM and these class paths from the host's root, shared read-only over 9p; a second, writable 9p
 * export (the work directory) carries the scripts, the payload and the results.
 * <p>
 * The consumer verifies a multi-megabyte file (SHA-256 from the sender, and the test compares the bytes it
 * wrote) and a fenced frame stream; the verdicts are read from the guests' consoles.
 * <p>
 * The run is made with each {@link GuestBackend}:
 * <ul>
 * <li>{@code kvm-ivshmem} guest mode, guest to guest in interrupt mode: both guests are q35 with an intel-iommu,
 * both devices {@code ivshmem-doorbell} on the server, bound to vfio-pci in the guests, and both daemons run
 * {@code -O notification=interrupt}. The producer and the consumer wait {@code BLOCK}, each on wake vectors its
 * daemon leases, which the other guest's Doorbell writes ring: each guest's wake vectors must fire
 * ({@code /proc/interrupts}).</li>
 * <li>{@code acrn-ivshmem} on a dm-land region, which is what a post-launched ACRN VM sees (the same ivshmem device;
 * ACRN's hv-land needs the hypervisor's 8086:ID subsystem ids and VM-id doorbells, which QEMU's device cannot
 * present), polling: guest 1 on an {@code ivshmem-doorbell} device (no vIOMMU), guest 2 on an
 * {@code ivshmem-plain} device mapping the server's memfd (no interrupts, IVPosition 0), so both device variants
 * are covered.</li>
 * </ul>
 * <p>
 * Needs qemu-system-x86, busybox-static, cpio, kmod and apt access to download the kernel package (installed
 * by {@code .ci/run}); without them the test is skipped outside CI and fails in CI. Downloads are cached in
 * {@code ~/.cache/hyperdmabuf/qemu-guest} (property {@code hdmabuf.guest.cache}).
 */
@SystemTest
@Tag("qemu-guests")
class TwoQemuGuestsTest
{
    private static final int PAYLOAD_BYTES = 3 * 1024 * 1024 + 12345;
    private static final int FRAMES = 24;
    private static final String REGION_SIZE = "32M";
    private static final Duration GUEST_TIMEOUT = Duration.ofMinutes(6);
    /**
     * Vectors of the doorbell devices: 0 and 1 the daemon's, 2 and 3 leased to BLOCK waiters in interrupt mode
     * (the third buffer's waits then go through the daemon).
     */
    private static final int VECTORS = 4;
    private static final String DEVICE = "0000:00:06.0";

    /** The backend the guests' daemons run, and the machines and devices it needs. */
    enum GuestBackend
    {
        /** Guest mode, both guests on doorbell devices through vfio-pci: peer ids are IVPosition. */
        KVM("--backend kvm-ivshmem -O mode=guest -O device=" + DEVICE + " -O region-size=" + REGION_SIZE +
            " -O notification=interrupt", "", "", true, true),
        /**
         * A dm-land region as post-launched ACRN VMs see it: by address (QEMU cannot set subsystem 8086:ID),
         * VM ids configured, no doorbell (acrn-dm has none on dm-land), polling; guest 2 on ivshmem-plain.
         */
        ACRN("--backend acrn-ivshmem -O region=dm:/hdmabuf -O size-mb=32 -O device=" + DEVICE, " -O vm-id=1",
            " -O vm-id=2", false, false);

        final String daemon;
        final String sinkExtra;
        final String sourceExtra;
        /** Whether guest 1's daemon rings doorbells ({@code caps}); guest 2's rings them only with interrupts. */
        final boolean sinkDoorbell;
        /** Both guests on a vIOMMU with doorbell devices bound to vfio-pci; the streams wait BLOCK. */
        final boolean interrupts;

        GuestBackend(final String daemon, final String sinkExtra, final String sourceExtra, final boolean sinkDoorbell,
            final boolean interrupts)
        {
            this.daemon = daemon;
            this.sinkExtra = sinkExtra;
            this.sourceExtra = sourceExtra;
            this.sinkDoorbell = sinkDoorbell;
            this.interrupts = interrupts;
        }

        String notification()
        {
            return interrupts ? "interrupt" : "polling";
        }

        List<String> machine()
        {
            return interrupts ? GuestTests.IOMMU_MACHINE : List.of();
        }

        String append()
        {
            return interrupts ? GuestTests.IOMMU_APPEND : "";
        }

        String backendName()
        {
            return daemon.split(" ")[1];
        }
    }

    private final List<AutoCloseable> resources = new ArrayList<>();
    private Path work;
    private GuestBackend backend;

    @AfterEach
    void cleanUp() throws Exception
    {
        GuestTests.closeAll(resources, work);
    }

    @Timeout(value = 15, unit = TimeUnit.MINUTES) // two QEMU TCG guests boot Debian's kernel
    @ParameterizedTest
    @EnumSource(GuestBackend.class)
    void aProducerInOneGuestSharesAFileAndAFencedStreamWithAConsumerInAnother(final GuestBackend backend)
        throws Exception
    {
        this.backend = backend;
        final GuestTests.GuestImage image = GuestTests.prepare(resources);
        work = Files.createTempDirectory(GuestTests.basedir().resolve("target"), "qemu-guests");
        final byte[] payload = new byte[PAYLOAD_BYTES];
        new Random(7).nextBytes(payload);
        Files.write(work.resolve("payload.bin"), payload);
        Files.createDirectories(work.resolve("received"));
        Files.writeString(work.resolve("sink-guest.sh"), sinkScript(image), StandardCharsets.UTF_8);
        Files.writeString(work.resolve("source-guest.sh"), sourceScript(image), StandardCharsets.UTF_8);

        final IvshmemServer server = new IvshmemServer(new IvshmemServer.Options()
            .socketPath(work.resolve("ivshmem.sock").toString()).size(parseMiB(REGION_SIZE)).vectors(VECTORS)
            .firstId(1).maxId(7)).start();
        resources.add(server::close);

        // The server gives guest 1 id 1 (attached first) and an interrupt-mode guest 2 id 2; a plain guest 2
        // maps the server's memfd by its /proc path.
        final ChildProcess sinkGuest = qemu("guest1-sink", image, "sink-guest.sh", doorbellDevice());
        Await.until("guest 1's QEMU to attach to the ivshmem server", Duration.ofSeconds(60),
            () -> server.peerCount() == 1);
        final ChildProcess sourceGuest = qemu("guest2-source", image, "source-guest.sh", backend.interrupts ?
            doorbellDevice() : List.of("-object", "memory-backend-file,id=region,share=on,size=" + REGION_SIZE +
                ",mem-path=/proc/" + ProcessHandle.current().pid() + "/fd/" + server.regionFd(),
            "-device", "ivshmem-plain,memdev=region,addr=0x6"));

        sinkGuest.awaitLine("CAPS max metadata", GUEST_TIMEOUT); // the last line of `hdmabuf caps`
        final String caps = String.join("\n", sinkGuest.linesStartingWith("CAPS "));
        assertTrue(caps.contains("backend: " + backend.backendName()) && caps.contains("local VM: 1") &&
            caps.contains("doorbell: " + (backend.sinkDoorbell ? "yes" : "no")) &&
            caps.contains("notification: " + backend.notification()), caps);
        sourceGuest.awaitLine("CAPS max metadata", GUEST_TIMEOUT);
        final String sourceCaps = String.join("\n", sourceGuest.linesStartingWith("CAPS "));
        assertTrue(sourceCaps.contains("local VM: 2") &&
            sourceCaps.contains("doorbell: " + (backend.interrupts ? "yes" : "no")) &&
            sourceCaps.contains("notification: " + backend.notification()), sourceCaps);
        final String received = sourceGuest.awaitLine("received payload.bin", GUEST_TIMEOUT);
        assertTrue(received.contains("(" + PAYLOAD_BYTES + " bytes, sha256 ok) from VM 1"), received);
        sinkGuest.awaitLine("delivered ", GUEST_TIMEOUT);
        final String verified = sourceGuest.awaitLine("VERIFIED ", GUEST_TIMEOUT);
        assertTrue(verified.contains("VERIFIED frames=" + FRAMES + " "), verified);
        sinkGuest.awaitLine("producer: sent " + FRAMES + " frames", GUEST_TIMEOUT);
        if (backend.interrupts)
        {
            // The sink rings the producer's leased vectors once more when the stream's buffers are unexported.
            assertWakeVectorsFired(sinkGuest, "the producer's release waits", VECTORS - 2);
            assertWakeVectorsFired(sourceGuest, "the consumer's acquire waits", 0);
        }
        sinkGuest.awaitLine("GUEST DONE", GUEST_TIMEOUT);
        sourceGuest.awaitLine("GUEST DONE", GUEST_TIMEOUT);
        assertEquals(0, sinkGuest.waitFor(GUEST_TIMEOUT), "guest 1 powers off");
        assertEquals(0, sourceGuest.waitFor(GUEST_TIMEOUT), "guest 2 powers off");

        assertArrayEquals(payload, Files.readAllBytes(work.resolve("received/payload.bin")),
            "the consumer's copy equals the producer's file");
        for (final String log : List.of("sink-daemon.log", "source-daemon.log"))
        {
            final List<String> lines = Files.readAllLines(work.resolve(log));
            assertTrue(lines.stream().anyMatch(l -> l.startsWith("READY ")), log + " has no READY line: " + lines);
            assertTrue(lines.stream().anyMatch(l -> l.contains("notification " + backend.notification())),
                log + ": " + lines);
            assertTrue(lines.stream().noneMatch(l -> l.contains(" ERROR ")), log + " logged errors: " + lines);
        }
        for (final ChildProcess guest : List.of(sinkGuest, sourceGuest))
        {
            assertTrue(guest.linesStartingWith("FAIL").isEmpty(), guest.name() + ": " + guest.output());
        }
    }

    /**
     * A BLOCK waiter sleeps on a wake vector (2 and up) its daemon leased, which the other guest's Doorbell
     * writes ring while it sleeps; its own daemon rings it only when a lease or a timeline ends, at most
     * {@code ownRings} times here. Without a ring the waiter still wakes, after its 100 ms sleep slice: only
     * the interrupt count tells.
     */
    private static void assertWakeVectorsFired(final ChildProcess guest, final String what, final long ownRings)
        throws InterruptedException
    {
        guest.awaitLine("IRQS END", GUEST_TIMEOUT);
        final List<String> irqs = guest.linesStartingWith(GuestTests.IRQ_PREFIX);
        final long woken = GuestTests.msixInterrupts(irqs, 2, true);
        System.out.println(guest.name() + ": " + woken + " wake-vector interrupts (" + what + ")");
        assertTrue(woken > ownRings, guest.name() + ": " + what + " were woken on leased wake vectors by the " +
            "other guest (more than " + ownRings + " interrupts): " + irqs);
    }

    /** An ivshmem-doorbell device on the server, at the address both daemons pick. */
    private List<String> doorbellDevice()
    {
        return List.of("-chardev", "socket,path=" + work.resolve("ivshmem.sock") + ",id=ivs",
            "-device", "ivshmem-doorbell,chardev=ivs,vectors=" + VECTORS + ",addr=0x6");
    }

    private ChildProcess qemu(final String name, final GuestTests.GuestImage image, final String script,
        final List<String> device) throws IOException
    {
        final List<String> cmd = GuestTests.qemuCommand(image, work, script, backend.machine(), backend.append());
        cmd.addAll(device);
        final ChildProcess guest = ChildProcess.command(name, cmd, System.out);
        resources.add(guest);
        return guest;
    }

    /**
     * Shell prelude of both guest scripts: the JVM command, waiting for a line in a file another guest writes, the
     * device through vfio-pci (interrupt mode) and the fence wait strategy ({@code WAIT}).
     */
    private String prelude(final GuestTests.GuestImage image) throws InterruptedException
    {
        return "W=" + work + "\n" + GuestTests.javaVariable() +
            (backend.interrupts ? GuestTests.vfioBinding(image, DEVICE) + "WAIT='--wait BLOCK'\n" : "WAIT=\n") +
            // TCG guests on a loaded 2-core host stall for seconds: a generous liveness timeout (README).
            "DAEMON=\"" + backend.daemon +
            " --heartbeat-ms 250 --liveness-timeout-ms 20000 --policy $W/no-policy.toml" +
            " --policy-dir $W/no-policy.d\"\n" + GuestTests.WAIT_FOR;
    }

    private String sinkScript(final GuestTests.GuestImage image) throws InterruptedException
    {
        return prelude(image) +
            "$J sink --socket /run/sink.sock $DAEMON" + backend.sinkExtra + " > $W/sink-daemon.log 2>&1 &\n" +
            "daemon=$!\n" +
            "wait_for $W/sink-daemon.log 'READY sink' && grep 'READY sink' $W/sink-daemon.log\n" +
            "$J caps --socket /run/sink.sock | sed 's/^/CAPS /; s/:  */: /'\n" +
            "wait_for $W/receive.log 'READY receive'\n" +
            // Not straight from the 9p work directory: virtio-9p's zero-copy I/O pins the user pages, which a
            // mapping of the PCI BAR cannot give (EFAULT); the guest's tmpfs (/run) goes through the page cache.
            "cp $W/payload.bin /run/payload.bin\n" +
            "$J send /run/payload.bin --to 2 --socket /run/sink.sock --timeout 300 2>&1 || echo FAIL send\n" +
            "wait_for $W/stream-consumer.log 'READY consumer'\n" +
            "$J stream-producer --socket /run/sink.sock --to 2 --frames " + FRAMES +
            " --width 256 --height 64 --buffers 3 $WAIT 2>&1 || echo FAIL producer\n" +
            GuestTests.VFIO_INTERRUPTS +
            "wait_for $W/source-done 'done'\n" +
            "kill $daemon; wait $daemon\n" +
            "echo GUEST DONE\n";
    }

    private String sourceScript(final GuestTests.GuestImage image) throws InterruptedException
    {
        return prelude(image) +
            "$J source --socket /run/source.sock $DAEMON" + backend.sourceExtra + " > $W/source-daemon.log 2>&1 &\n" +
            "daemon=$!\n" +
            "wait_for $W/source-daemon.log 'READY source' && grep 'READY source' $W/source-daemon.log\n" +
            "$J caps --socket /run/source.sock | sed 's/^/CAPS /; s/:  */: /'\n" +
            "mkdir -p /run/received\n" +
            "$J receive --out /run/received --count 1 --socket /run/source.sock --timeout 300 > $W/receive.log 2>&1\n" +
            "[ $? = 0 ] || echo FAIL receive\n" +
            "cp /run/received/payload.bin $W/received/ || echo FAIL copy\n" +
            "cat $W/receive.log\n" +
            "$J stream-consumer --socket /run/source.sock --frames " + FRAMES +
            " $WAIT > $W/stream-consumer.log 2>&1 || echo FAIL consumer\n" +
            "cat $W/stream-consumer.log\n" + GuestTests.VFIO_INTERRUPTS +
            "echo done > $W/source-done\n" +
            "kill $daemon; wait $daemon\n" +
            "echo GUEST DONE\n";
    }

    private static long parseMiB(final String size)
    {
        return Long.parseLong(size.substring(0, size.length() - 1)) << 20;
    }
}
