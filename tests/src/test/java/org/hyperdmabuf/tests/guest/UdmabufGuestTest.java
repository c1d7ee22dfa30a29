package org.hyperdmabuf.tests.guest;

import org.hyperdmabuf.cli.ChildProcess;
import org.hyperdmabuf.tests.e2e.UdmabufChecks;
import org.hyperdmabuf.tests.support.SystemTest;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Dma-buf imports on a kernel with udmabuf, which this host's may lack: a QEMU TCG guest boots Debian's
 * bookworm-backports kernel ({@code CONFIG_UDMABUF=y}) and runs the host-mode stack (embedded ivshmem server, sink
 * and source daemons, in one {@link CommandAgent} JVM) and, in a second JVM, {@link UdmabufChecks}: a producer on
 * the sink and a consumer on the source, whose dma-buf arrives over SCM_RIGHTS from the source daemon. Its checks:
 * caps say available, the consumer's fdinfo says udmabuf of exactly the buffer with the producer's bytes, writes are
 * seen both ways, no mapping beyond it, a read-only import is refused (EACCES), a buffer over {@code size_limit_mb}
 * (lowered to 1 MiB in the guest) is refused naming it, and a stale dma-buf never shows the next allocation of its
 * range (a new allocation at the old one's region offset). Then GStreamer, from a meson build of the plugin made
 * before the boot ({@link GstGuestBuild}): {@code hdmabufsink} to {@code hdmabufsrc} with its default
 * {@code dma-buf=auto}, once to an {@code appsink} that takes only {@code video/x-raw(memory:DMABuf)} (every frame
 * bit-exact and {@code GstDmaBufMemory} under those caps) and once to one that takes only system-memory caps (every
 * frame bit-exact and no dma-buf, the source saying why), and {@code hdmabufsrc dma-buf=always} failing with an
 * error naming why for a read-only stream and for slots over {@code size_limit_mb}. Then, where the build has
 * {@code hdmabuf-wayland} and Weston is installed, a headless Weston showing a stream through
 * {@code hdmabuf-wayland --dma-buf}: Weston maps the daemon's dma-bufs and never the region. One boot for all.
 * <p>
 * Needs what {@link TwoQemuGuestsTest} needs; the kernel package is resolved through a private apt configuration.
 * The gst part needs meson and the GStreamer development packages (left out, said on stdout, outside CI).
 */
@SystemTest
@Tag("qemu-guests")
class UdmabufGuestTest
{
    private static final String SUITE = "bookworm-backports";
    private static final Duration GUEST_TIMEOUT = Duration.ofMinutes(6);
    private static final List<String> CHECKS = List.of("caps", "import", "read-only", "size-limit");
    private static final int GST_FRAMES = 30;
    private static final List<String> GST_EXITS = List.of("GST CONSUMER EXIT 0", "GST PRODUCER EXIT 0",
        "GST SYSMEM EXIT 0", "GST SYSMEM-PRODUCER EXIT 0", "GST REFUSED EXIT 0", "GST TOO-BIG EXIT 0");

    @Test
    @Timeout(value = 16, unit = TimeUnit.MINUTES)
    void aConsumerInAGuestWithUdmabufGetsItsBufferAsADmaBuf() throws Exception
    {
        final long start = System.nanoTime();
        final List<AutoCloseable> resources = new ArrayList<>();
        final Path work = Files.createTempDirectory(GuestTests.basedir().resolve("target"), "udmabuf");
        try
        {
            bootAndCheck(resources, work);
        }
        finally
        {
            GuestTests.closeAll(resources, work);
        }
        System.out.println("udmabuf guest test: " + TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - start) + " s");
    }

    private static void bootAndCheck(final List<AutoCloseable> resources, final Path work) throws Exception
    {
        final GuestTests.GuestImage image = GuestTests.prepare(resources, SUITE);
        final Optional<Path> gst = GstGuestBuild.build(resources);
        final boolean wayland = gst.isPresent() && waylandPresent(gst.get());
        Files.writeString(work.resolve("guest.sh"), guestScript(work, gst, wayland), StandardCharsets.UTF_8);
        // Two vCPUs (the later -smp wins): the agent's and the checks' JVMs start side by side
        final List<String> cmd = GuestTests.qemuCommand(image, work, "guest.sh", List.of("-smp", "2"), "");
        final ChildProcess guest = ChildProcess.command("guest", cmd, System.out);
        resources.add(guest);

        assertEquals("SIZE_LIMIT_MB 1", guest.awaitLine("SIZE_LIMIT_MB ", GUEST_TIMEOUT));
        final String exit = guest.awaitLine("CHECKS EXIT ", GUEST_TIMEOUT);
        final List<String> gstExits = gst.isPresent() ? guest.awaitLines("GST ", GST_EXITS.size(), GUEST_TIMEOUT)
            : List.of();
        final String westonMaps = wayland ? guest.awaitLine("WL WESTON MAPS ", GUEST_TIMEOUT) : "";
        final String clientExit = wayland ? guest.awaitLine("WL CLIENT EXIT ", GUEST_TIMEOUT) : "";
        guest.awaitLine("GUEST DONE", GUEST_TIMEOUT);
        final List<String> lines = guest.linesStartingWith(UdmabufChecks.LINE);
        final String report = String.join("\n", lines);
        for (final String check : CHECKS)
        {
            assertTrue(lines.contains(UdmabufChecks.LINE + check + " PASS"), check + ":\n" + report);
        }
        assertEquals("CHECKS EXIT 0", exit, report);
        assertTrue(report.contains("exp_name: udmabuf") && report.contains("size: " + UdmabufChecks.BUFFER + " "),
            report);
        if (gst.isPresent())
        {
            assertGstDmaBufs(work, gstExits);
        }
        if (wayland)
        {
            assertWaylandDmaBufs(work, westonMaps, clientExit);
        }
        assertEquals(List.of(), guest.linesStartingWith("FAIL"));
        assertEquals(List.of(), daemonErrors(work), "the daemons log no error");
    }

    /**
     * The gst part: every process exits 0; to the dma-buf-only {@code appsink} (the consumer checked every frame's
     * bytes, its caps' memory:DMABuf feature and that its memory is {@code GstDmaBufMemory} from offset 0)
     * {@code hdmabufsrc} said that frames go as dma-buf memory under memory:DMABuf caps; to the system-memory one
     * (every frame checked to be no dma-buf) it said why not; the refusals (read-only stream, slots over
     * {@code size_limit_mb}) named the reason.
     */
    private static void assertGstDmaBufs(final Path work, final List<String> exits) throws Exception
    {
        final String consumer = Files.readString(work.resolve("gst-consumer.log"));
        final String sysmem = Files.readString(work.resolve("gst-sysmem.log"));
        final String refused = Files.readString(work.resolve("gst-refused.log"));
        final String tooBig = Files.readString(work.resolve("gst-too-big.log"));
        assertEquals(GST_EXITS, exits, String.join("\n", consumer, Files.readString(work.resolve("gst-producer.log")),
            sysmem, Files.readString(work.resolve("gst-sysmem-producer.log")), refused, tooBig));
        assertTrue(consumer.contains("consumer: " + GST_FRAMES + " frames over 1 caps") &&
            consumer.contains("every one GstDmaBufMemory"), consumer);
        assertTrue(consumer.contains("frames go downstream as dma-buf memory") &&
            consumer.contains("under memory:DMABuf caps"), consumer);
        assertTrue(sysmem.contains("consumer: " + GST_FRAMES + " frames over 1 caps") &&
            !sysmem.contains("GstDmaBufMemory"), sysmem);
        assertTrue(sysmem.contains("dma-buf=auto: frames go as system memory: downstream does not accept " +
            "memory:DMABuf caps"), sysmem);
        assertTrue(refused.contains("consumer (with /dev/udmabuf)") && refused.contains("exported read-only"),
            refused);
        assertTrue(tooBig.contains("consumer (with /dev/udmabuf)") && tooBig.contains("size_limit_mb"), tooBig);
    }

    /**
     * Whether the Weston part runs: the build made {@code hdmabuf-wayland} and Weston is installed (the guest runs
     * the host's); said on stdout when not, and a failure in CI, which installs both.
     */
    private static boolean waylandPresent(final Path gst)
    {
        final boolean present = Files.isExecutable(gst.resolve(GstGuestBuild.WAYLAND_CLIENT)) &&
            GstGuestBuild.onPath("weston");
        if (!present)
        {
            assertFalse("true".equals(System.getenv("CI")), "CI needs weston and libwayland-dev for the Weston part");
            System.out.println("the guest's Weston check is left out: needs weston and a build of hdmabuf-wayland");
        }
        return present;
    }

    /**
     * The Weston part: {@code hdmabuf-wayland --dma-buf} lent the stream's buffers as dma-bufs ({@code path=dma-buf}),
     * Weston mapped such a dma-buf (its maps name {@code /dmabuf:hdmabuf-...}) and never the region's memfd, and the
     * client, ended by SIGTERM, exited 0 after showing frames.
     */
    private static void assertWaylandDmaBufs(final Path work, final String westonMaps, final String clientExit)
        throws Exception
    {
        final String client = Files.readString(work.resolve("wl-client.log"));
        assertTrue(client.contains("STREAM name=wldmabuf buffers=3 size=320x240 format=AR24 path=dma-buf"), client);
        assertTrue(westonMaps.matches("WL WESTON MAPS dmabuf=[1-9][0-9]* region=0"), westonMaps + "\n" + client);
        assertEquals("WL CLIENT EXIT 0", clientExit, client);
        assertTrue(client.matches("(?s).*EXIT status=0 frames=[1-9].*"), client);
    }

    /** ERROR lines of the daemons' logs, which the guest copied to the work directory. */
    private static List<String> daemonErrors(final Path work) throws Exception
    {
        final List<String> errors = new ArrayList<>();
        try (Stream<Path> logs = Files.list(work))
        {
            for (final Path log : (Iterable<Path>)logs.filter(p -> p.toString().endsWith(".out"))::iterator)
            {
                Files.readAllLines(log).stream().filter(l -> l.contains(" ERROR ")).forEach(errors::add);
            }
        }
        return errors;
    }

    /**
     * The guest's script: {@code /dev/udmabuf} (made if devtmpfs has not), a 1 MiB {@code size_limit_mb}, the agent
     * with the server and both daemons, the checks' JVM started beside it (it waits for the daemons).
     */
    private static String guestScript(final Path work, final Optional<Path> gst, final boolean wayland)
        throws InterruptedException
    {
        return "W=" + work + "\n" + GuestTests.javaVariable() +
            "A=/run/a\nP=\"--policy $A/no-policy.toml --policy-dir $A/no-policy.d\"\n" +
            "ready() { i=0; while ! grep -q READY \"$A/$1.out\" 2>/dev/null; do\n" +
            "    i=$((i + 1)); [ $i -lt 1200 ] || { echo \"FAIL $1 not ready\"; return 1; }; sleep 0.1; done; }\n" +
            "[ -e /dev/udmabuf ] || mknod -m 600 /dev/udmabuf c 10 258\n" +
            "echo 1 > /sys/module/udmabuf/parameters/size_limit_mb\n" +
            "echo \"SIZE_LIMIT_MB $(cat /sys/module/udmabuf/parameters/size_limit_mb)\"\n" +
            "echo \"CPUS $(nproc) $(uname -r)\"\n" +
            "mkdir -p $A && mkfifo $A/in\n" +
            "$JAVA " + CommandAgent.class.getName() + " $A > $W/agent.log 2>&1 &\n" +
            "$JAVA " + UdmabufChecks.class.getName() + " $A/sink.sock $A/source.sock 240 > $W/checks.log 2>&1 &\n" +
            "checks=$!\n" +
            "echo \"server server --socket $A/ivshmem.sock --size 16M\" > $A/in\n" +
            "ready server && echo \"sink sink --ivshmem $A/ivshmem.sock --socket $A/sink.sock --name sink $P\n" +
            "source source --ivshmem $A/ivshmem.sock --socket $A/source.sock --name source $P\" > $A/in\n" +
            "wait $checks; echo \"CHECKS EXIT $?\"\n" +
            "cat $W/checks.log\n" +
            gst.map(UdmabufGuestTest::gstScript).orElse("") +
            (wayland ? waylandScript() : "") +
            "cp $A/*.out $W/\n" +
            "echo GUEST DONE\n";
    }

    /**
     * hdmabufsink (its pattern source, in the background) to {@code hdmabufsrc} ({@code gst-stream-test} of the build
     * {@code gst}, with the build's plugin and curated system plugins, a registry file each in /run) whose
     * {@code appsink} takes only memory:DMABuf caps, then the same to one that takes only system-memory caps, then
     * {@code dmabuf-refused} and {@code dmabuf-too-big} (640x480 RGBA slots, over the 1 MiB size limit); each one's
     * exit as a line {@code GST NAME EXIT N}, their summaries as {@code GST-LOG} lines.
     */
    private static String gstScript(final Path gst)
    {
        final String phase = "RGBA:64x48:" + GST_FRAMES;
        return "G=" + gst + "\nS=$G/gst/tests/gst-stream-test\n" +
            "export HDMABUF_RUNTIME_DIR=$A GST_PLUGIN_SYSTEM_PATH_1_0=$G/gst/tests/system-plugins\n" +
            "export GST_PLUGIN_PATH=$G/gst\n" +
            pair("gstdmabuf", "dmabuf ", phase, "gst-consumer", "gst-producer", "CONSUMER", "PRODUCER") +
            pair("gstsysmem", "", phase, "gst-sysmem", "gst-sysmem-producer", "SYSMEM", "SYSMEM-PRODUCER") +
            "GST_REGISTRY_1_0=/run/gst-c.bin $S dmabuf-refused gstro > $W/gst-refused.log 2>&1\n" +
            "echo \"GST REFUSED EXIT $?\"\n" +
            "GST_REGISTRY_1_0=/run/gst-c.bin $S dmabuf-too-big gstbig > $W/gst-too-big.log 2>&1\n" +
            "echo \"GST TOO-BIG EXIT $?\"\n" +
            "grep -h -E '^(consumer|producer)' $W/gst-consumer.log $W/gst-producer.log $W/gst-sysmem.log " +
            "$W/gst-sysmem-producer.log $W/gst-refused.log $W/gst-too-big.log | " +
            "sed 's/^/GST-LOG /'\n";
    }

    /**
     * After {@link #gstScript} (its variables): a headless Weston (pixman, a private 0700 runtime directory in /run),
     * an endless BGRA 320x240 stream ({@code gst-stream-test produce}: ARGB8888 image metadata) and
     * {@code hdmabuf-wayland --dma-buf} showing it; once Weston's maps hold one of the daemon's dma-bufs (bounded
     * wait), how many, and how many mappings of the region's memfd ({@code hyperdmabuf-ivshmem}); then the client
     * is stopped with SIGTERM (its exit as {@code WL CLIENT EXIT N}), the producer and Weston after it.
     */
    private static String waylandScript()
    {
        return "C=$G/" + GstGuestBuild.WAYLAND_CLIENT + " X=/run/xdg\n" +
            "await() { i=0; until eval \"$1\"; do\n" +
            "    i=$((i + 1)); [ $i -lt 1200 ] || { echo \"FAIL $2\"; return 1; }; sleep 0.1; done; }\n" +
            "mkdir -m 700 $X\n" +
            "XDG_RUNTIME_DIR=$X weston --backend=headless-backend.so --use-pixman --idle-time=0 --no-config " +
            "--width=320 --height=240 --socket=wl-hd --log=$W/weston.log > $W/weston.out 2>&1 &\n" +
            "weston=$!\n" +
            "await '[ -S $X/wl-hd ]' 'weston did not start'\n" +
            "GST_REGISTRY_1_0=/run/gst-p.bin $S produce wldmabuf BGRA:320x240:100000000 > $W/wl-producer.log 2>&1 &\n" +
            "wlproducer=$!\n" +
            "XDG_RUNTIME_DIR=$X WAYLAND_DISPLAY=wl-hd $C --socket $A/source.sock --dma-buf --stream wldmabuf " +
            "> $W/wl-client.log 2>&1 &\n" +
            "wlclient=$!\n" +
            "await \"grep -q /dmabuf:hdmabuf /proc/$weston/maps\" 'weston mapped no dma-buf'\n" +
            "echo \"WL WESTON MAPS dmabuf=$(grep -c /dmabuf:hdmabuf /proc/$weston/maps) " +
            "region=$(grep -c hyperdmabuf-ivshmem /proc/$weston/maps)\"\n" +
            "kill $wlclient; wait $wlclient; echo \"WL CLIENT EXIT $?\"\n" +
            "kill $wlproducer $weston; wait $wlproducer $weston\n" +
            "grep -h -E '^(STREAM|EXIT|hdmabuf-wayland)' $W/wl-client.log | sed 's/^/WL-LOG /'\n";
    }

    /** A producer of {@code stream} in the background and its consumer ({@code mode}: "dmabuf " or ""), logged. */
    private static String pair(final String stream, final String mode, final String phase, final String consumerLog,
        final String producerLog, final String consumerName, final String producerName)
    {
        return "GST_REGISTRY_1_0=/run/gst-p.bin $S produce " + stream + " " + phase + " > $W/" + producerLog +
            ".log 2>&1 &\n" +
            "producer=$!\n" +
            "GST_REGISTRY_1_0=/run/gst-c.bin GST_DEBUG=hdmabufsrc:4 $S consume " + stream + " " + mode + phase +
            " > $W/" + consumerLog + ".log 2>&1\n" +
            "echo \"GST " + consumerName + " EXIT $?\"\n" +
            "wait $producer; echo \"GST " + producerName + " EXIT $?\"\n";
    }
}
