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
 * guest 1 a sink daemon and a producer, on an {@code ivshmem-doorbell} device attached to the server; guest 2 a
 * source daemon and a consumer, on an {@code ivshmem-plain} device mapping the server's memfd (no interrupts,
 * IVPosition 0, so its id comes from {@code -O peer-id=2}). Both device variants are thus covered in one boot. The guests
 * boot Debian's kernel with a busybox initramfs ({@code packaging/qemu-guest/prepare.sh})
 * and run this JVM and these class paths from the host's root, shared read-only over 9p; a second, writable 9p
 * export (the work directory) carries the scripts, the payload and the results.
 * <p>
 * The consumer verifies a multi-megabyte file (SHA-256 from the sender, and the test compares the bytes it
 * wrote) and a fenced frame stream; the verdicts are read from the guests' consoles.
 * <p>
 * The same run is made with each {@link GuestBackend}: {@code kvm-ivshmem} guest mode, and {@code acrn-ivshmem} on
 * a dm-land region, which is what a post-launched ACRN VM sees (the same ivshmem device; ACRN's hv-land needs the
 * hypervisor's 8086:ID subsystem ids and VM-id doorbells, which QEMU's device cannot present).
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

    /** The backend the guests' daemons run; the devices (chosen by address) are the same. */
    enum GuestBackend
    {
        /** Guest mode: IVPosition on the doorbell device, {@code -O peer-id=2} on the plain one. */
        KVM("--backend kvm-ivshmem -O mode=guest -O device=0000:00:06.0 -O region-size=" + REGION_SIZE, "",
            " -O peer-id=2", true),
        /**
         * A dm-land region as post-launched ACRN VMs see it: by address (QEMU cannot set subsystem 8086:ID),
         * VM ids configured, no doorbell (acrn-dm has none on dm-land).
         */
        ACRN("--backend acrn-ivshmem -O region=dm:/hdmabuf -O size-mb=32 -O device=0000:00:06.0", " -O vm-id=1",
            " -O vm-id=2", false);

        final String daemon;
        final String sinkExtra;
        final String sourceExtra;
        final boolean sinkDoorbell;

        GuestBackend(final String daemon, final String sinkExtra, final String sourceExtra, final boolean sinkDoorbell)
        {
            this.daemon = daemon;
            this.sinkExtra = sinkExtra;
            this.sourceExtra = sourceExtra;
            this.sinkDoorbell = sinkDoorbell;
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
        Files.writeString(work.resolve("sink-guest.sh"), sinkScript(), StandardCharsets.UTF_8);
        Files.writeString(work.resolve("source-guest.sh"), sourceScript(), StandardCharsets.UTF_8);

        final IvshmemServer server = new IvshmemServer(new IvshmemServer.Options()
            .socketPath(work.resolve("ivshmem.sock").toString()).size(parseMiB(REGION_SIZE)).vectors(2).firstId(1)
            .maxId(7)).start();
        resources.add(server::close);

        // The server gives the doorbell guest id 1; the plain guest maps the server's memfd by its /proc path.
        final ChildProcess sinkGuest = qemu("guest1-sink", image, "sink-guest.sh",
            "-chardev", "socket,path=" + work.resolve("ivshmem.sock") + ",id=ivs",
            "-device", "ivshmem-doorbell,chardev=ivs,vectors=2,addr=0x6");
        Await.until("guest 1's QEMU to attach to the ivshmem server", Duration.ofSeconds(60),
            () -> server.peerCount() == 1);
        final ChildProcess sourceGuest = qemu("guest2-source", image, "source-guest.sh",
            "-object", "memory-backend-file,id=region,share=on,size=" + REGION_SIZE + ",mem-path=/proc/" +
                ProcessHandle.current().pid() + "/fd/" + server.regionFd(),
            "-device", "ivshmem-plain,memdev=region,addr=0x6");

        sinkGuest.awaitLine("CAPS max metadata", GUEST_TIMEOUT); // the last line of `hdmabuf caps`
        final String caps = String.join("\n", sinkGuest.linesStartingWith("CAPS "));
        assertTrue(caps.contains("backend: " + backend.backendName()) && caps.contains("local VM: 1") &&
            caps.contains("doorbell: " + (backend.sinkDoorbell ? "yes" : "no")) &&
            caps.contains("notification: polling"), caps);
        sourceGuest.awaitLine("CAPS max metadata", GUEST_TIMEOUT);
        final String plainCaps = String.join("\n", sourceGuest.linesStartingWith("CAPS "));
        assertTrue(plainCaps.contains("local VM: 2") && plainCaps.contains("doorbell: no") &&
            plainCaps.contains("notification: polling"), plainCaps);
        final String received = sourceGuest.awaitLine("received payload.bin", GUEST_TIMEOUT);
        assertTrue(received.contains("(" + PAYLOAD_BYTES + " bytes, sha256 ok) from VM 1"), received);
        sinkGuest.awaitLine("delivered ", GUEST_TIMEOUT);
        final String verified = sourceGuest.awaitLine("VERIFIED ", GUEST_TIMEOUT);
        assertTrue(verified.contains("VERIFIED frames=" + FRAMES + " "), verified);
        sinkGuest.awaitLine("producer: sent " + FRAMES + " frames", GUEST_TIMEOUT);
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
            assertTrue(lines.stream().anyMatch(l -> l.contains("notification polling")), log + ": " + lines);
            assertTrue(lines.stream().noneMatch(l -> l.contains(" ERROR ")), log + " logged errors: " + lines);
        }
        for (final ChildProcess guest : List.of(sinkGuest, sourceGuest))
        {
            assertTrue(guest.linesStartingWith("FAIL").isEmpty(), guest.name() + ": " + guest.output());
        }
    }

    private ChildProcess qemu(final String name, final GuestTests.GuestImage image, final String script,
        final String... device) throws IOException
    {
        final List<String> cmd = GuestTests.qemuCommand(image, work, script, List.of(), "");
        cmd.addAll(List.of(device));
        final ChildProcess guest = ChildProcess.command(name, cmd, System.out);
        resources.add(guest);
        return guest;
    }

    /** Shell prelude of both guest scripts: the JVM command, and waiting for a line in a file another guest writes. */
    private String prelude()
    {
        return "W=" + work + "\n" + GuestTests.javaVariable() +
            // TCG guests on a loaded 2-core host stall for seconds: a generous liveness timeout (README).
            "DAEMON=\"" + backend.daemon +
            " --heartbeat-ms 250 --liveness-timeout-ms 20000 --policy $W/no-policy.toml" +
            " --policy-dir $W/no-policy.d\"\n" +
            "wait_for() {\n" +
            "    i=0\n" +
            "    while ! grep -q \"$2\" \"$1\" 2>/dev/null; do\n" +
            "        i=$((i + 1)); [ $i -lt 1200 ] || { echo \"FAIL waiting for '$2' in $1\"; return 1; }\n" +
            "        sleep 0.25\n" +
            "    done\n" +
            "}\n";
    }

    private String sinkScript()
    {
        return prelude() +
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
            " --width 256 --height 64 --buffers 3 2>&1 || echo FAIL producer\n" +
            "wait_for $W/source-done 'done'\n" +
            "kill $daemon; wait $daemon\n" +
            "echo GUEST DONE\n";
    }

    private String sourceScript()
    {
        return prelude() +
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
            " > $W/stream-consumer.log 2>&1 || echo FAIL consumer\n" +
            "cat $W/stream-consumer.log\n" +
            "echo done > $W/source-done\n" +
            "kill $daemon; wait $daemon\n" +
            "echo GUEST DONE\n";
    }

    private static long parseMiB(final String size)
    {
        return Long.parseLong(size.substring(0, size.length() - 1)) << 20;
    }
}
