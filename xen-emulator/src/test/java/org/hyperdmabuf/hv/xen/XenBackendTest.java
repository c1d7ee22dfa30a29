package org.hyperdmabuf.hv.xen;

import org.hyperdmabuf.hv.conformance.Await;
import org.hyperdmabuf.hv.conformance.RecordingListener;
import org.hyperdmabuf.hv.nativeio.Errno;
import org.hyperdmabuf.hv.nativeio.MappedMemory;
import org.hyperdmabuf.hv.nativeio.Native;
import org.hyperdmabuf.hv.nativeio.NativeIoException;
import org.hyperdmabuf.hv.shm.MemoryWindow;
import org.hyperdmabuf.hv.spi.AllocIntent;
import org.hyperdmabuf.hv.spi.BackendBuffer;
import org.hyperdmabuf.hv.spi.BackendException;
import org.hyperdmabuf.hv.spi.BackendProvider;
import org.hyperdmabuf.hv.spi.ClientMapping;
import org.hyperdmabuf.hv.spi.DmaBufExports;
import org.hyperdmabuf.hv.spi.FenceRef;
import org.hyperdmabuf.hv.spi.HypervisorBackend;
import org.hyperdmabuf.hv.spi.ShareRef;
import org.hyperdmabuf.hv.xen.emu.EmulatedXenDevices;
import org.hyperdmabuf.hv.xen.emu.FakeXenstored;
import org.hyperdmabuf.hv.xen.emu.XenHypervisorEmulator;
import org.hyperdmabuf.hv.xen.store.XenStoreClient;
import org.hyperdmabuf.hv.xen.store.XenStoreException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The Xen backend through the SPI, two domains on the EMULATED hypervisor and the fake xenstored: rendezvous,
 * control channel, grants through page directories, read-only enforcement, limits and liveness.
 */
class XenBackendTest
{
    private static final Duration TIMEOUT = Duration.ofSeconds(15);
    private static final int PAGE = 4096;

    @TempDir
    Path dir;

    private FakeXenstored xenstored;
    private XenHypervisorEmulator emulator;
    private final List<HypervisorBackend> started = new ArrayList<>();

    @BeforeEach
    void start() throws Exception
    {
        xenstored = new FakeXenstored(dir.resolve("xs.sock").toString());
        emulator = new XenHypervisorEmulator(dir.resolve("hv.sock").toString(), xenstored, 1024);
    }

    @AfterEach
    void stop()
    {
        started.forEach(HypervisorBackend::close);
        emulator.close();
        xenstored.close();
    }

    private HypervisorBackend backend(final int domid, final String peers, final RecordingListener listener,
        final String... extra) throws Exception
    {
        final Map<String, String> options = new HashMap<>();
        options.put("domid", Integer.toString(domid));
        options.put("peers", peers);
        options.put("emulator", emulator.socketPath());
        options.put("xenstore", xenstored.socketPath());
        for (int i = 0; i < extra.length; i += 2)
        {
            options.put(extra[i], extra[i + 1]);
        }
        final HypervisorBackend b = BackendProvider.find("xen").create(options);
        started.add(b);
        b.start(listener);
        return b;
    }

    private HypervisorBackend[] pair(final RecordingListener l1, final RecordingListener l2) throws Exception
    {
        final HypervisorBackend a = backend(1, "2", l1);
        final HypervisorBackend b = backend(2, "1", l2);
        l1.await(l -> l.sawPeerUp(2, b.sessionId()), TIMEOUT, "dom1 sees dom2 up");
        l2.await(l -> l.sawPeerUp(1, a.sessionId()), TIMEOUT, "dom2 sees dom1 up");
        return new HypervisorBackend[] {a, b};
    }

    @Test
    void theProviderIsUnavailableWithoutXenAndNamesTheMissingDevices()
    {
        final BackendProvider p = new XenBackendProvider();
        assertEquals("xen", p.name());
        assertFalse(p.isAvailable(), "no /dev/xen here");
        assertTrue(p.unavailabilityCause().contains("/dev/xen/gntalloc"), p.unavailabilityCause());
        assertEquals("EINVAL", assertThrows(BackendException.class, () -> p.create(Map.of())).code().name());
        assertEquals("ENOTSUP", assertThrows(BackendException.class,
            () -> p.create(Map.of("domid", "1", "peers", "2"))).code().name());
    }

    @Test
    void peersMeetThroughXenstoreAndMessagesFlowInOrderBothWays() throws Exception
    {
        final RecordingListener l1 = new RecordingListener();
        final RecordingListener l2 = new RecordingListener();
        final HypervisorBackend[] p = pair(l1, l2);
        assertEquals(1, p[0].peers().size());
        assertEquals(2, p[0].peers().get(0).vm());
        // A domain's toolstack name is readable by dom0 and itself only: each daemon publishes its own for peers.
        assertEquals("domain-2", p[0].peers().get(0).name());
        assertEquals("domain-1", p[1].peers().get(0).name());
        final int n = 2000;
        final ByteBuffer msg = ByteBuffer.allocateDirect(64);
        for (int i = 0; i < n; i++)
        {
            msg.putInt(0, i);
            while (!p[0].send(2, msg, 0, 64))
            {
                Thread.onSpinWait(); // the ring is full: the peer drains it
            }
            msg.putInt(0, -i);
            while (!p[1].send(1, msg, 0, 8))
            {
                Thread.onSpinWait();
            }
        }
        l2.await(l -> l.messageCount(1) == n, TIMEOUT, "dom2 gets every message");
        l1.await(l -> l.messageCount(2) == n, TIMEOUT, "dom1 gets every message");
        final List<RecordingListener.Message> got = l2.messagesFrom(1);
        for (int i = 0; i < n; i++)
        {
            assertEquals(i, ByteBuffer.wrap(got.get(i).bytes()).getInt(0), "message " + i + " in order");
        }
        assertEquals("EINVAL", assertThrows(BackendException.class,
            () -> p[0].send(2, ByteBuffer.allocateDirect(1 << 20), 0, p[0].maxMessageLength() + 1)).code().name());
    }

    @Test
    void aSharedBufferIsZeroCopyAndItsFdHoldsOnlyItsPages() throws Exception
    {
        final HypervisorBackend[] p = pair(new RecordingListener(), new RecordingListener());
        final long size = 5L * PAGE + 1;
        final BackendBuffer buffer = p[0].allocate(size);
        final ShareRef ref = p[0].share(buffer, 2, false);
        final ClientMapping exported = p[0].mapAllocation(buffer);
        final ClientMapping imported = p[1].mapImport(1, ref, false);
        try (MappedMemory e = MappedMemory.map(exported.fd(), exported.offset(), exported.length(), false);
             MappedMemory i = MappedMemory.map(imported.fd(), imported.offset(), imported.length(), false))
        {
            assertEquals(6L * PAGE, imported.length());
            e.buffer().putLong(5 * PAGE, 0xABCDL);
            assertEquals(0xABCDL, i.buffer().getLong(5 * PAGE));
            i.buffer().put(0, (byte)3);
            assertEquals(3, e.buffer().get(0));
            assertEquals(7L * PAGE, fileSize(exported.fd()), "the exporter's fd holds this buffer's fence and data only");
            assertEquals(7L * PAGE, fileSize(imported.fd()), "so does the importer's");
            assertEquals(PAGE, exported.offset(), "the data follows the fence page");
            assertEquals(PAGE, imported.offset());
        }
        finally
        {
            Native.closeQuietly(exported.fd());
            Native.closeQuietly(imported.fd());
        }
        assertEquals("EINVAL", assertThrows(BackendException.class,
            () -> p[1].mapImport(2, ref, false)).code().name(), "not dom2's grant");
        p[0].free(buffer);
        assertEquals("EINVAL", assertThrows(BackendException.class, () -> p[1].mapImport(1, ref, false)).code().name(),
            "a freed buffer's grants are gone");
        assertEquals("EINVAL", assertThrows(BackendException.class, () -> p[0].free(buffer)).code().name());
    }

    @Test
    void noDmaBufOfAGrantAndTheRefusalSaysWhy() throws Exception
    {
        final HypervisorBackend[] p = pair(new RecordingListener(), new RecordingListener());
        final DmaBufExports exports = DmaBufExports.of(p[1]);
        assertTrue(exports.dmaBufUnavailable().contains("CONFIG_XEN_GNTDEV_DMABUF"), exports.dmaBufUnavailable());
        final BackendException e = assertThrows(BackendException.class, () -> exports.exportDmaBuf(0, PAGE, "x"));
        assertEquals("ENOTSUP", e.code().name());
        assertTrue(e.getMessage().contains("IOCTL_GNTDEV_DMABUF_EXP_FROM_REFS"), e.getMessage());
    }

    @Test
    void readOnlyIsEnforcedByTheGrantAndAccessIsFixedOnceGranted() throws Exception
    {
        final HypervisorBackend[] p = pair(new RecordingListener(), new RecordingListener());
        final BackendBuffer buffer = p[0].allocate(PAGE);
        final ShareRef ref = p[0].share(buffer, 2, true);
        final ClientMapping imported = p[1].mapImport(1, ref, false); // even if the importer asks for write
        try
        {
            final NativeIoException e = assertThrows(NativeIoException.class,
                () -> MappedMemory.map(imported.fd(), imported.offset(), imported.length(), false));
            assertEquals(Errno.EACCES, e.errno());
            MappedMemory.map(imported.fd(), imported.offset(), imported.length(), true).close();
        }
        finally
        {
            Native.closeQuietly(imported.fd());
        }
        assertEquals("EINVAL", assertThrows(BackendException.class, () -> p[0].share(buffer, 2, false)).code().name(),
            "a read-only grant cannot become writable");
        p[0].free(buffer);
    }

    @Test
    void anAllocationGrantsToTheDeclaredTargetWithTheDeclaredAccess() throws Exception
    {
        final HypervisorBackend[] p = pair(new RecordingListener(), new RecordingListener());
        final BackendBuffer declared = p[0].allocate(PAGE, new AllocIntent(2, AllocIntent.Access.READ_ONLY));
        Native.closeQuietly(p[0].mapAllocation(declared).fd()); // ALLOC: the pages are granted now
        assertEquals("EINVAL", assertThrows(BackendException.class, () -> p[0].share(declared, 2, false)).code().name(),
            "declared read-only: a read-write export is refused");
        final ShareRef ref = p[0].share(declared, 2, true);
        final ClientMapping imported = p[1].mapImport(1, ref, true);
        try
        {
            assertEquals(Errno.EACCES, assertThrows(NativeIoException.class,
                () -> MappedMemory.map(imported.fd(), imported.offset(), imported.length(), false)).errno(),
                "a read-only grant cannot be mapped writable");
        }
        finally
        {
            Native.closeQuietly(imported.fd());
        }
        final BackendBuffer undeclared = p[0].allocate(PAGE);
        Native.closeQuietly(p[0].mapAllocation(undeclared).fd());
        assertEquals("EINVAL",
            assertThrows(BackendException.class, () -> p[0].share(undeclared, 2, true)).code().name(),
            "undeclared: alloc-access=rw as before");
        assertEquals("ENOPEER", assertThrows(BackendException.class,
            () -> p[0].allocate(PAGE, new AllocIntent(3, AllocIntent.Access.READ_WRITE))).code().name(), "not a peer");
        p[0].free(declared);
        p[0].free(undeclared);
    }

    @Test
    void anImportersFencePageIsUnmappedWhenItsLastTimelineLetsGo() throws Exception
    {
        final HypervisorBackend[] p = pair(new RecordingListener(), new RecordingListener());
        final XenBackend exporter = (XenBackend)p[0];
        final XenBackend importer = (XenBackend)p[1];
        final int baseline = emulator.mappedPages(2);
        final int grants = emulator.grantCount(1);
        for (int cycle = 0; cycle < 50; cycle++)
        {
            final BackendBuffer buffer = p[0].allocate(PAGE);
            p[0].share(buffer, 2, false);
            final FenceRef fence = exporter.allocateFence(buffer);
            assertTrue(importer.validateFence(1, fence.index()));
            final MemoryWindow first = importer.fenceWindow(1, fence.index());
            assertTrue(importer.validateFence(1, fence.index()), "a re-announcement reuses the mapping");
            final MemoryWindow second = importer.fenceWindow(1, fence.index());
            assertEquals(1, importer.importedFencePages());
            assertEquals(baseline + 1, emulator.mappedPages(2), "one page per fence, however many users");
            importer.releaseFenceWindow(1, first);
            assertEquals(baseline + 1, emulator.mappedPages(2), "still read by the second user");
            importer.releaseFenceWindow(1, second);
            assertEquals(0, importer.importedFencePages());
            assertEquals(baseline, emulator.mappedPages(2), "unmapped after the last user, cycle " + cycle);
            exporter.freeFence(fence);
            p[0].free(buffer);
        }
        assertEquals(grants, emulator.grantCount(1), "the exporter's grants ended too");
    }

    @Test
    void theDaemonsNodesCarryThePermissionsARealXenstoredNeeds() throws Exception
    {
        pair(new RecordingListener(), new RecordingListener()); // meeting at all needs each to read the other
        xenstored.introduceDomain(3);
        try (XenStoreClient dom3 = XenStoreClient.over(FakeXenstored.connectAsDomain(xenstored.socketPath(), 3),
                 null, "dom3");
             XenStoreClient dom0 = XenStoreClient.connectSocket(xenstored.socketPath(), null))
        {
            final String base = "/local/domain/1/data/hyperdmabuf";
            assertEquals(List.of("n1", "r2"), dom0.permissions(base));
            assertEquals(List.of("n1", "r2"), dom0.permissions(base + "/session"), "created under the list");
            assertEquals(List.of("n1", "r2"), dom0.permissions(base + "/channel/2"), "the pair's node: dom2 only");
            assertEquals(List.of("n1", "r2"), dom0.permissions(base + "/channel/2/dir-ref"));
            assertEquals(List.of("n2", "r1"), dom0.permissions("/local/domain/2/data/hyperdmabuf/channel/1/connected"));
            assertEquals("EACCES", assertThrows(XenStoreException.class, () -> dom3.read(0, base + "/session"))
                .error(), "a domain that is no peer reads nothing");
            assertEquals("EACCES", assertThrows(XenStoreException.class,
                () -> dom3.write(0, base + "/session", "0")).error());
        }
    }

    @Test
    void theGntallocLimitIsEnospcWithTheWayToRaiseIt() throws Exception
    {
        final HypervisorBackend a = backend(1, "2", new RecordingListener(), "gntalloc-limit", "64");
        assertEquals(64L * PAGE, a.totalBytes());
        final BackendBuffer b = a.allocate(60L * PAGE);
        final BackendException e = assertThrows(BackendException.class, () -> a.allocate(4L * PAGE));
        assertEquals("ENOSPC", e.code().name());
        assertTrue(e.getMessage().contains("/sys/module/xen_gntalloc/parameters/limit"), e.getMessage());
        assertEquals(2L * PAGE, a.freeBytes(), "60 data pages, 1 directory page and the fence page are claimed");
        a.free(b);
        assertEquals(64L * PAGE, a.freeBytes());
    }

    @Test
    void closingADaemonIsPeerDownGoneAndARestartComesBackWithANewSession() throws Exception
    {
        final RecordingListener l1 = new RecordingListener();
        final RecordingListener l2 = new RecordingListener();
        final HypervisorBackend[] p = pair(l1, l2);
        final long old = p[1].sessionId();
        p[1].close();
        l1.await(l -> l.peerDown(2, old) != null, TIMEOUT, "dom1 sees dom2 down");
        assertNotNull(l1.peerDown(2, old).reason());
        assertEquals("ENOPEER", assertThrows(BackendException.class,
            () -> p[0].send(2, ByteBuffer.allocateDirect(8), 0, 8)).code().name());
        // dom1 can see dom2 down (its xenstore nodes gone) before the hypervisor has reaped the domain, which
        // refuses the same domid (EEXIST) until then, as Xen does.
        Await.until(() -> !emulator.isAlive(2), TIMEOUT, () -> "the emulator to reap dom2");
        final HypervisorBackend again = backend(2, "1", new RecordingListener());
        l1.await(l -> l.sawPeerUp(2, again.sessionId()), TIMEOUT, "dom1 sees dom2's new session");
        assertTrue(again.sessionId() != old);
    }

    @Test
    void aDomainThatDiesIsSeenThroughReleaseDomain() throws Exception
    {
        final RecordingListener l1 = new RecordingListener();
        final HypervisorBackend a = backend(1, "2", l1);
        // dom2 here is the channel protocol run by hand, then its domain dies without any goodbye.
        final RecordingListener l2 = new RecordingListener();
        final EmulatedXenDevices dom2 = new EmulatedXenDevices(emulator.socketPath(), 2);
        final XenBackend b = new XenBackend(Map.of("peers", "1", "xenstore", xenstored.socketPath(),
            "liveness-timeout-ms", "60000", "heartbeat-ms", "100"), dom2);
        b.start(l2);
        l1.await(l -> l.sawPeerUp(2, b.sessionId()), TIMEOUT, "dom1 sees dom2 up");
        dom2.close(); // the emulated domain is destroyed (as kill -9 of its only process would)
        l1.await(l -> l.peerDown(2, b.sessionId()) != null, TIMEOUT, "dom1 sees dom2 gone");
        assertEquals("gone", l1.peerDown(2, b.sessionId()).reason(), "through @releaseDomain, not a timeout");
        try (XenStoreClient xs = XenStoreClient.connectSocket(xenstored.socketPath(), null))
        {
            assertEquals(null, xs.readOrNull(0, "/local/domain/2/data/hyperdmabuf/session"));
        }
        b.close();
        assertTrue(a.peers().isEmpty());
    }

    private static long fileSize(final int fd) throws Exception
    {
        return org.hyperdmabuf.hv.nativeio.MemFd.size(fd);
    }
}
