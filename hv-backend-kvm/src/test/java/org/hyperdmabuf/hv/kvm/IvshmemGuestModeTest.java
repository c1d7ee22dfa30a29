package org.hyperdmabuf.hv.kvm;

import org.hyperdmabuf.abi.FenceAbi;
import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.hv.conformance.RecordingListener;
import org.hyperdmabuf.hv.nativeio.MappedMemory;
import org.hyperdmabuf.hv.nativeio.Native;
import org.hyperdmabuf.hv.pci.EmulatedIvshmemSysfs;
import org.hyperdmabuf.hv.pci.IvshmemRegisters;
import org.hyperdmabuf.hv.spi.BackendBuffer;
import org.hyperdmabuf.hv.spi.BackendException;
import org.hyperdmabuf.hv.spi.Capabilities;
import org.hyperdmabuf.hv.spi.ClientMapping;
import org.hyperdmabuf.hv.spi.FenceRef;
import org.hyperdmabuf.hv.spi.ShareRef;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** What guest mode adds to the conformance kit: device choice, options, doorbell writes, peers in other processes. */
class IvshmemGuestModeTest
{
    private static final Duration TIMEOUT = Duration.ofSeconds(10);

    private final List<AutoCloseable> resources = new ArrayList<>();
    private final List<Process> children = new ArrayList<>();

    @AfterEach
    void cleanUp() throws Exception
    {
        for (final Process child : children)
        {
            child.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
        for (int i = resources.size() - 1; i >= 0; i--)
        {
            resources.get(i).close();
        }
    }

    private GuestFabric fabric(final boolean doorbell) throws IOException
    {
        final GuestFabric fabric = new GuestFabric(doorbell);
        resources.add(fabric);
        return fabric;
    }

    @Test
    void capabilitiesReportPollingAndWhetherTheDeviceHasADoorbell() throws Exception
    {
        final IvshmemBackend withDoorbell = fabric(true).start(2, new RecordingListener(), Map.of());
        final Capabilities c = withDoorbell.capabilities();
        assertEquals(2, c.localVm(), "IVPosition is the local id");
        assertEquals(Capabilities.NOTIFY_POLLING, c.notification());
        assertTrue(c.doorbell());
        assertEquals("shared-region", c.isolation());
        assertNull(withDoorbell.connection(), "no server in guest mode");

        final IvshmemBackend plain = fabric(false).start(0, new RecordingListener(),
            Map.of(IvshmemBackend.OPTION_PEER_ID, "3"));
        assertEquals(3, plain.localVm(), "peer-id overrides IVPosition");
        assertFalse(plain.capabilities().doorbell(), "ivshmem-plain cannot ring anyone");
        assertEquals(Capabilities.NOTIFY_POLLING, plain.capabilities().notification());
    }

    @Test
    void aPlainDeviceNeedsAnExplicitPeerId() throws Exception
    {
        final GuestFabric fabric = fabric(false);
        final IvshmemBackend backend = new IvshmemBackend(GuestFabric.options(fabric.addGuest(0)));
        resources.add(backend);
        final BackendException e = assertThrows(BackendException.class, () -> backend.start(new RecordingListener()));
        assertEquals("EINVAL", e.code().name());
        assertTrue(e.getMessage().contains(IvshmemBackend.OPTION_PEER_ID), e.getMessage());
    }

    @Test
    void badOptionsAndMissingDevicesAreTypedErrors() throws Exception
    {
        final Path sysfs = fabric(true).addGuest(1);
        final Map<String, String> base = GuestFabric.options(sysfs);
        assertError("EINVAL", () -> new IvshmemBackend(with(base, IvshmemBackend.OPTION_SOCKET, "/x.sock")));
        assertError("EINVAL", () -> new IvshmemBackend(with(base, IvshmemBackend.OPTION_MODE, "hypervisor")));
        assertError("EINVAL", () -> new IvshmemBackend(with(base, IvshmemBackend.OPTION_SUBSYSTEM_ID, "zz")));
        assertError("EINVAL", () -> new IvshmemBackend(with(base, IvshmemBackend.OPTION_REGION_SIZE, "0")));
        assertError("EINVAL", () -> new IvshmemBackend(with(base, IvshmemBackend.OPTION_DEVICE, "4.0")));
        assertError("EINVAL", () -> new IvshmemBackend(with(base, IvshmemBackend.OPTION_ENABLE, "yes")));
        assertError("EINVAL", () -> new IvshmemBackend(Map.of(IvshmemBackend.OPTION_SOCKET, "/x.sock",
            IvshmemBackend.OPTION_DEVICE, GuestFabric.DEVICE)));

        final IvshmemBackend wrongSize = new IvshmemBackend(with(base, IvshmemBackend.OPTION_REGION_SIZE, "8M"));
        resources.add(wrongSize);
        assertError("ENODEV", () -> wrongSize.start(new RecordingListener()));
        final IvshmemBackend byAll = new IvshmemBackend(with(with(with(base, IvshmemBackend.OPTION_REGION_SIZE, "4M"),
            IvshmemBackend.OPTION_DEVICE, "00:04.0"), IvshmemBackend.OPTION_SUBSYSTEM_ID, "0x1100"));
        resources.add(byAll);
        byAll.start(new RecordingListener());
        assertEquals(1, byAll.localVm());
    }

    @Test
    void withoutAnIommuGroupInterruptsAreRefusedAndAutoPolls() throws Exception
    {
        final Path sysfs = fabric(true).addGuest(1);
        final Map<String, String> base = GuestFabric.options(sysfs);
        assertError("EINVAL", () -> new IvshmemBackend(with(base, IvshmemBackend.OPTION_NOTIFICATION, "irq")));
        final IvshmemBackend interrupt = new IvshmemBackend(with(base, IvshmemBackend.OPTION_NOTIFICATION,
            "interrupt"));
        resources.add(interrupt);
        final BackendException e = assertThrows(BackendException.class,
            () -> interrupt.start(new RecordingListener()));
        assertEquals("ENOTSUP", e.code().name());
        assertTrue(e.getMessage().contains("no IOMMU group") && e.getMessage().contains("intel_iommu=on"),
            e.getMessage());
        final IvshmemBackend auto = new IvshmemBackend(base);
        resources.add(auto);
        auto.start(new RecordingListener());
        assertEquals("polling", auto.capabilities().notification());
        assertEquals(0, auto.notificationFds().length);
        // Only interrupts slow the scan down (a quarter of the timeout, 375 ms here): polling keeps 10 ms.
        assertEquals(ReceivePasses.TICK_NS, auto.passIntervalNanos());
    }

    @Test
    void messagesAndFenceSignalsRingThePeersDoorbellRegister() throws Exception
    {
        final GuestFabric fabric = fabric(true);
        final Path sysfsA = fabric.addGuest(1);
        final RecordingListener la = new RecordingListener();
        final RecordingListener lb = new RecordingListener();
        final IvshmemBackend a = fabric.start(sysfsA, la, Map.of());
        final IvshmemBackend b = fabric.start(2, lb, Map.of());
        la.await(l -> l.sawPeerUp(2, b.sessionId()), TIMEOUT, "A to see B");
        lb.await(l -> l.sawPeerUp(1, a.sessionId()), TIMEOUT, "B to see A");
        final Path deviceA = sysfsA.resolve(GuestFabric.DEVICE);

        assertTrue(a.send(2, ByteBuffer.wrap(new byte[] {1, 2, 3}), 0, 3));
        lb.await(l -> l.messageCount(1) == 1, TIMEOUT, "B to poll A's message");
        assertEquals(2 << 16 | FenceAbi.MESSAGE_VECTOR, EmulatedIvshmemSysfs.lastDoorbell(deviceA));

        final long doorbellsBefore = lb.fenceDoorbells();
        final FenceRef fence = a.allocateFence();
        assertTrue(a.ringFence(2));
        assertEquals(2 << 16 | FenceAbi.FENCE_VECTOR, EmulatedIvshmemSysfs.lastDoorbell(deviceA));
        lb.await(l -> l.fenceDoorbells() > doorbellsBefore, TIMEOUT, "B to see its fence bell move");
        assertFalse(a.ringFence(a.localVm()), "no doorbell to ourselves");
        // No fd a client could hold: ENOTSUP (kick through FENCE_SIGNAL) for the fence doorbell and the wake
        // vectors alike; EINVAL would tell a client to skip the wake vector.
        for (final int vector : new int[] {FenceAbi.FENCE_VECTOR, FenceAbi.FIRST_WAKE_VECTOR})
        {
            assertEquals(ErrorCode.ENOTSUP, assertThrows(BackendException.class,
                () -> a.openFenceDoorbell(2, vector)).code(), "vector " + vector);
        }
        a.freeFence(fence);
        assertEquals(1, EmulatedIvshmemSysfs.register(deviceA, IvshmemRegisters.IV_POSITION_OFFSET), "IVPosition is read-only");
    }

    @Test
    void freedPagesReadAsZerosThroughAnotherGuestsMapping() throws Exception
    {
        final GuestFabric fabric = fabric(true);
        final RecordingListener la = new RecordingListener();
        final IvshmemBackend a = fabric.start(1, la, Map.of());
        final IvshmemBackend b = fabric.start(2, new RecordingListener(), Map.of());
        la.await(l -> l.sawPeerUp(2, b.sessionId()), TIMEOUT, "A to see B");
        final BackendBuffer buffer = a.allocate(3 * 4096);
        final ClientMapping client = a.mapAllocation(buffer);
        try (MappedMemory written = MappedMemory.map(client.fd(), client.offset(), client.length(), false))
        {
            for (int i = 0; i < client.length(); i += 8)
            {
                written.buffer().putLong(i, 0x5A5A5A5A5A5A5A5AL);
            }
        }
        finally
        {
            Native.closeQuietly(client.fd());
        }
        final ShareRef ref = a.share(buffer, 2, true);
        final ClientMapping imported = b.mapImport(1, ref, true);
        try (MappedMemory view = MappedMemory.map(imported.fd(), imported.offset(), imported.length(), true))
        {
            assertEquals(0x5A5A5A5A5A5A5A5AL, view.buffer().getLong((int)imported.length() - 8));
            a.free(buffer);
            // No hole can be punched in a PCI BAR: guest mode stores zeros, seen by every mapping at once.
            for (int i = 0; i < imported.length(); i += 8)
            {
                assertEquals(0L, view.buffer().getLong(i), "byte " + i + " of a freed buffer");
            }
        }
        finally
        {
            Native.closeQuietly(imported.fd());
        }
    }

    @Test
    void aGuestPeerInAnotherProcessComesUpAndGoesDownCleanlyOrByTimeout() throws Exception
    {
        final GuestFabric fabric = fabric(true);
        final RecordingListener la = new RecordingListener();
        final Map<String, String> liveness = Map.of(IvshmemBackend.OPTION_HEARTBEAT_MS, "50",
            IvshmemBackend.OPTION_LIVENESS_TIMEOUT_MS, "500");
        final IvshmemBackend a = fabric.start(1, la, liveness);

        final Path sysfsB = fabric.addGuest(2);
        final PeerProcess.Child clean = spawn(sysfsB, liveness);
        final long cleanSession = clean.session();
        la.await(l -> l.sawPeerUp(2, cleanSession), TIMEOUT, "A to see B's process up");
        clean.process().getOutputStream().close(); // B leaves the region cleanly
        la.await(l -> l.peerDown(2, cleanSession) != null, TIMEOUT, "A to see B leave");
        assertEquals("gone", la.peerDown(2, cleanSession).reason());
        assertTrue(clean.process().waitFor(10, TimeUnit.SECONDS));

        final PeerProcess.Child killed = spawn(sysfsB, liveness);
        final long killedSession = killed.session();
        la.await(l -> l.sawPeerUp(2, killedSession), TIMEOUT, "A to see B's second process up");
        killed.process().destroyForcibly();
        final long t0 = System.nanoTime();
        la.await(l -> l.peerDown(2, killedSession) != null, TIMEOUT, "A to see the killed B time out");
        final long tookMs = (System.nanoTime() - t0) / 1_000_000;
        assertEquals("timeout", la.peerDown(2, killedSession).reason());
        assertTrue(tookMs < 500 + 50 + IvshmemBackend.POLL_INTERVAL_MS + 1000, "detection took " + tookMs + " ms");
        assertTrue(a.peers().isEmpty());
    }

    @Test
    void aHostModeDaemonAndAGuestModeDaemonShareTheServersRegion() throws Exception
    {
        final TestServer server = TestServer.forBackends();
        resources.add(server);
        final RecordingListener lh = new RecordingListener();
        final IvshmemBackend host = server.startBackend(lh);
        // The guest's QEMU is a client of the same server: its id is the guest's IVPosition, its memfd the BAR2.
        final IvshmemPeerConnection qemu = IvshmemPeerConnection.connect(server.socketPath(), IvshmemBackend.VECTORS,
            5000, new IvshmemPeerConnection.Listener()
            {
            });
        resources.add(qemu);
        final GuestFabric fabric = fabric(true);
        final Path sysfs = fabric.addGuest(qemu.ownId(), Path.of("/proc/self/fd/" + qemu.shmFd()));
        final RecordingListener lg = new RecordingListener();
        final IvshmemBackend guest = fabric.start(sysfs, lg, Map.of());
        assertEquals(qemu.ownId(), guest.localVm());
        lh.await(l -> l.sawPeerUp(guest.localVm(), guest.sessionId()), TIMEOUT, "host daemon to see the guest");
        lg.await(l -> l.sawPeerUp(host.localVm(), host.sessionId()), TIMEOUT, "guest daemon to see the host");

        assertTrue(host.send(guest.localVm(), ByteBuffer.wrap(new byte[] {7}), 0, 1));
        assertTrue(guest.send(host.localVm(), ByteBuffer.wrap(new byte[] {8, 9}), 0, 2));
        lg.await(l -> l.messageCount(host.localVm()) == 1, TIMEOUT, "guest to poll the host's message");
        lh.await(l -> l.messageCount(guest.localVm()) == 1, TIMEOUT, "host to get the guest's message");
        final long bells = lg.fenceDoorbells();
        assertTrue(host.ringFence(guest.localVm()));
        lg.await(l -> l.fenceDoorbells() > bells, TIMEOUT, "the guest to see the host's fence bell");

        final long guestSession = guest.sessionId();
        guest.close();
        lh.await(l -> l.peerDown(qemu.ownId(), guestSession) != null, TIMEOUT, "host to see the guest daemon leave");
    }

    private PeerProcess.Child spawn(final Path sysfs, final Map<String, String> extra) throws Exception
    {
        final Map<String, String> options = GuestFabric.options(sysfs);
        options.putAll(extra);
        final PeerProcess.Child child = PeerProcess.spawn(options);
        children.add(child.process());
        assertEquals(2, child.vm(), "IVPosition of the second guest");
        return child;
    }

    private static Map<String, String> with(final Map<String, String> base, final String key, final String value)
    {
        final Map<String, String> copy = new java.util.HashMap<>(base);
        copy.put(key, value);
        return copy;
    }

    private static void assertError(final String error, final Executable call)
    {
        final BackendException e = assertThrows(BackendException.class, call, "expected " + error);
        assertEquals(error, e.code().name(), e.getMessage());
    }
}
