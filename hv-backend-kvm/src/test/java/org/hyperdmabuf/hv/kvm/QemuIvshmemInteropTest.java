package org.hyperdmabuf.hv.kvm;

import org.hyperdmabuf.hv.nativeio.MappedMemory;
import org.hyperdmabuf.hv.nativeio.Native;
import org.hyperdmabuf.hv.nativeio.NativeIoException;
import org.hyperdmabuf.hv.nativeio.Poller;
import org.hyperdmabuf.hv.nativeio.UnixSocket;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.File;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Real QEMU as an ivshmem peer of our embedded server: an {@code ivshmem-doorbell} device, driven through
 * qtest. QEMU runs with TCG and {@code -S} (no guest code); with {@code -qtest unix:PATH} (no ",server") QEMU
 * is the client, so the test listens on PATH before starting it. {@code -qtest-log /dev/null} keeps QEMU from
 * blocking on a full stdout pipe. Without qemu-system-x86_64 the test fails unless HDMABUF_SKIP_QEMU=1
 * (environment or system property).
 */
class QemuIvshmemInteropTest
{
    private static final String SKIP = "HDMABUF_SKIP_QEMU";
    private static final long SIZE = 1L << 20;
    private static final int VECTORS = 2;
    private static final long BAR0 = 0xfebf_0000L;
    private static final long BAR2 = 0xe000_0000L;
    private static final int IVPOSITION = 0x08;
    private static final int DOORBELL = 0x0c;
    private static final long START_TIMEOUT_MS = 30_000;
    private static final long REPLY_TIMEOUT_MS = 10_000;
    private static final long DOORBELL_TIMEOUT_MS = 10_000;

    private TestServer fixture;
    private IvshmemPeerConnection daemonPeer;
    private int qtestListenFd = -1;
    private Process qemu;
    private Path qemuLog;
    private QtestClient qtest;
    private MappedMemory mapping;

    @BeforeEach
    void startQemu() throws Exception
    {
        final String qemuBinary = findQemu();
        fixture = new TestServer(SIZE, VECTORS, 1, IvshmemServer.MAX_ID);
        daemonPeer = IvshmemPeerConnection.connect(fixture.socketPath(), VECTORS, 5000, null);
        final Path qtestPath = fixture.dir().resolve("qtest.sock");
        qtestListenFd = UnixSocket.listen(qtestPath.toString(), 1);
        qemuLog = fixture.dir().resolve("qemu.log");
        qemu = new ProcessBuilder(qemuBinary, "-machine", "pc", "-accel", "tcg", "-nographic", "-nodefaults", "-S",
            "-qtest", "unix:" + qtestPath, "-qtest-log", "/dev/null",
            "-chardev", "socket,path=" + fixture.socketPath() + ",id=ivs",
            "-device", "ivshmem-doorbell,chardev=ivs,vectors=" + VECTORS)
            .redirectErrorStream(true).redirectOutput(qemuLog.toFile()).start();
        qtest = new QtestClient(acceptQtest(), REPLY_TIMEOUT_MS);
    }

    @AfterEach
    void stopQemu() throws Exception
    {
        if (qtest != null)
        {
            qtest.close();
        }
        if (qemu != null)
        {
            qemu.destroy();
            if (!qemu.waitFor(5, TimeUnit.SECONDS))
            {
                qemu.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
            }
        }
        if (mapping != null)
        {
            mapping.close();
        }
        Native.closeQuietly(qtestListenFd);
        if (daemonPeer != null)
        {
            daemonPeer.close();
        }
        if (fixture != null)
        {
            fixture.close();
        }
    }

    @Test
    void qemuIsARealPeerOfOurServer() throws Exception
    {
        // The device must be on bus 0; find it by its ids through the 0xcf8/0xcfc config ports.
        final int device = findIvshmem();

        // Program BAR0 (32-bit registers) and BAR2 (64-bit prefetchable memory), then enable memory decoding
        // and bus mastering (MSI-X delivery).
        qtest.configWrite(device, 0x10, BAR0);
        qtest.configWrite(device, 0x18, BAR2);
        qtest.configWrite(device, 0x1c, 0);
        final long command = qtest.configRead(device, 0x04) & 0xffff;
        qtest.configWrite(device, 0x04, command | 0x6);
        assertEquals(BAR0, qtest.configRead(device, 0x10) & ~0xfL, "BAR0 programmed");
        assertEquals(BAR2, qtest.configRead(device, 0x18) & ~0xfL, "BAR2 programmed");

        // (i) QEMU accepted the protocol: its IVPosition is the id our server gave it.
        final List<Integer> ids = fixture.server().peerIds();
        assertEquals(2, ids.size(), "our peer and QEMU are connected: " + ids);
        final int qemuId = ids.get(1);
        assertEquals(daemonPeer.ownId(), (int)ids.get(0));
        assertEquals(qemuId, qtest.readl(BAR0 + IVPOSITION), "IVPosition is the id our server assigned");

        // (ii) BAR2 is our region, both ways.
        mapping = MappedMemory.map(daemonPeer.shmFd(), 0, daemonPeer.shmSize(), false);
        final ByteBuffer region = mapping.buffer().duplicate().order(ByteOrder.LITTLE_ENDIAN);
        region.putInt(0x100, 0xdeadbeef);
        final byte[] text = "hyperdmabuf".getBytes(StandardCharsets.US_ASCII);
        region.put(0x2000, text);
        assertEquals(0xdeadbeefL, qtest.readl(BAR2 + 0x100), "QEMU reads what we wrote");
        for (int i = 0; i < text.length; i++)
        {
            assertEquals(text[i], (byte)qtest.readb(BAR2 + 0x2000 + i), "byte " + i + " through BAR2");
        }
        qtest.writel(BAR2 + 0x200, 0x12345678L);
        qtest.writeb(BAR2 + SIZE - 1, 0xa5);
        assertEquals(0x12345678, region.getInt(0x200), "we read what QEMU wrote");
        assertEquals((byte)0xa5, region.get((int)SIZE - 1), "the last byte of the region is shared");

        // (iii) A doorbell (ourId << 16 | 1) from QEMU rings our vector-1 eventfd and not vector 0. QEMU handles
        // our vectors in its main loop, so an early doorbell may be dropped (as the spec says): retry until the
        // deadline.
        final int vector0 = daemonPeer.ownVectorFd(0);
        final int vector1 = daemonPeer.ownVectorFd(1);
        assertTrue(vector0 >= 0 && vector1 >= 0, "our peer has both vectors");
        final Poller poller = new Poller();
        poller.add(vector1);
        final long deadline = System.nanoTime() + DOORBELL_TIMEOUT_MS * 1_000_000L;
        boolean rang = false;
        while (!rang && System.nanoTime() - deadline < 0)
        {
            qtest.writel(BAR0 + DOORBELL, ((long)daemonPeer.ownId() << 16) | 1);
            rang = poller.poll(200) > 0 && poller.readable(0);
        }
        assertTrue(rang, "QEMU's doorbell reached our vector-1 eventfd within " + DOORBELL_TIMEOUT_MS + " ms");
        assertTrue(daemonPeer.drain(1) >= 1, "vector 1 counted the doorbell");
        final Poller quiet = new Poller();
        quiet.add(vector0);
        assertEquals(0, quiet.poll(0), "vector 0 stayed quiet");
        assertEquals(0, daemonPeer.drain(0));
    }

    private int findIvshmem() throws NativeIoException
    {
        for (int device = 0; device < 32; device++)
        {
            final long id = qtest.configRead(device, 0x00);
            if (id == 0x1110_1af4L)
            {
                return device;
            }
        }
        return fail("no 1af4:1110 device on PCI bus 0");
    }

    private UnixSocket acceptQtest() throws IOException, InterruptedException
    {
        final Poller poller = new Poller();
        poller.add(qtestListenFd);
        final long deadline = System.nanoTime() + START_TIMEOUT_MS * 1_000_000L;
        while (System.nanoTime() - deadline < 0)
        {
            if (poller.poll(100) > 0)
            {
                return UnixSocket.accept(qtestListenFd);
            }
            if (!qemu.isAlive())
            {
                fail("QEMU exited with " + qemu.waitFor() + " before connecting to qtest: " + log());
            }
        }
        return fail("QEMU did not connect to the qtest socket within " + START_TIMEOUT_MS + " ms: " + log());
    }

    private String log() throws IOException
    {
        return Files.exists(qemuLog) ? Files.readString(qemuLog) : "(no output)";
    }

    private static String findQemu()
    {
        final boolean skip = "1".equals(System.getenv(SKIP)) || "1".equals(System.getProperty(SKIP));
        final String path = System.getenv().getOrDefault("PATH", "/usr/bin");
        for (final String dir : (path + File.pathSeparator + "/usr/bin").split(File.pathSeparator))
        {
            final File candidate = new File(dir, "qemu-system-x86_64");
            if (candidate.canExecute())
            {
                return candidate.getPath();
            }
        }
        final String message = "qemu-system-x86_64 not found (install Debian's qemu-system-x86); set " + SKIP +
            "=1 to skip the QEMU interop test";
        Assumptions.assumeFalse(skip, message);
        return fail(message);
    }
}
