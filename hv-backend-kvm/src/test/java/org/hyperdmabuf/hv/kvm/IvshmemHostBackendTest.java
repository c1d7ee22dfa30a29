package org.hyperdmabuf.hv.kvm;

import org.hyperdmabuf.hv.conformance.Await;
import org.hyperdmabuf.hv.conformance.RecordingListener;
import org.hyperdmabuf.hv.nativeio.MappedMemory;
import org.hyperdmabuf.hv.shm.MemoryWindow;
import org.hyperdmabuf.hv.shm.PeerSlotDescriptor;
import org.hyperdmabuf.hv.shm.RegionHeaderDescriptor;
import org.hyperdmabuf.hv.shm.RegionLayout;
import org.hyperdmabuf.hv.shm.RingDescriptor;
import org.hyperdmabuf.hv.shm.SharedRegion;
import org.hyperdmabuf.hv.spi.BackendException;
import org.hyperdmabuf.hv.spi.BackendListener;
import org.hyperdmabuf.hv.spi.BackendProvider;
import org.hyperdmabuf.hv.spi.HypervisorBackend;
import org.hyperdmabuf.hv.spi.PeerInfo;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Host-mode behaviour beyond the conformance kit: server death, restarts, hostile peers, options. */
class IvshmemHostBackendTest
{
    private static final Duration TIMEOUT = Duration.ofSeconds(10);

    private TestServer fixture;
    private MappedMemory region;

    @AfterEach
    void stop() throws Exception
    {
        if (region != null)
        {
            region.close();
        }
        if (fixture != null)
        {
            fixture.close();
        }
    }

    private record Node(IvshmemHostBackend backend, RecordingListener listener)
    {
        int vm()
        {
            return backend.localVm();
        }
    }

    private Node node() throws BackendException
    {
        final RecordingListener listener = new RecordingListener();
        return new Node(fixture.startBackend(listener), listener);
    }

    private static void awaitUp(final Node observer, final Node peer)
    {
        observer.listener().await(l -> l.sawPeerUp(peer.vm(), peer.backend().sessionId()), TIMEOUT,
            observer.vm() + " to see " + peer.vm() + " up");
    }

    /** The test's own view of the region, as a hostile peer would have it. */
    private MemoryWindow mapRegion() throws Exception
    {
        region = MappedMemory.map(fixture.server().regionFd(), 0, fixture.server().size(), false);
        return new MemoryWindow(region.buffer());
    }

    private static void sendAndExpect(final Node from, final Node to, final int tag) throws Exception
    {
        final ByteBuffer msg = ByteBuffer.allocate(4);
        msg.putInt(0, tag);
        Await.until(() ->
        {
            try
            {
                return from.backend().send(to.vm(), msg, 0, 4);
            }
            catch (final BackendException e)
            {
                throw new AssertionError(e);
            }
        }, TIMEOUT, () -> "room to send");
        to.listener().await(l -> l.messagesFrom(from.vm()).stream()
            .anyMatch(m -> ByteBuffer.wrap(m.bytes()).getInt(0) == tag), TIMEOUT, "message " + tag);
    }

    private static long heartbeat(final MemoryWindow regionWindow, final RegionLayout layout, final int vm)
    {
        return regionWindow.getLongVolatile((int)(layout.peerTableOffset() + PeerSlotDescriptor.slotOffset(vm) +
            PeerSlotDescriptor.HEARTBEAT_OFFSET));
    }

    @Test
    void freedPagesReadAsZeroForEveryMapping() throws Exception
    {
        fixture = TestServer.forBackends();
        final Node a = node();
        final org.hyperdmabuf.hv.spi.BackendBuffer buffer = a.backend().allocate(3 * 4096);
        final org.hyperdmabuf.hv.spi.ClientMapping m = a.backend().mapAllocation(buffer);
        try (org.hyperdmabuf.hv.nativeio.MappedMemory mine =
                 org.hyperdmabuf.hv.nativeio.MappedMemory.map(m.fd(), m.offset(), m.length(), false))
        {
            org.hyperdmabuf.hv.nativeio.Native.closeQuietly(m.fd());
            for (int i = 0; i < m.length(); i++)
            {
                mine.buffer().put(i, (byte)0x5a);
            }
            a.backend().free(buffer);
            for (int i = 0; i < m.length(); i++)
            {
                assertEquals(0, mine.buffer().get(i), "byte " + i + " of a freed buffer still holds data");
            }
        }
    }

    @Test
    void peersKeepWorkingWhenTheServerDies() throws Exception
    {
        fixture = TestServer.forBackends();
        final Node a = node();
        final Node b = node();
        awaitUp(a, b);
        awaitUp(b, a);
        fixture.server().close();
        Await.until(() -> !a.backend().connection().isServerAlive() && !b.backend().connection().isServerAlive(),
            TIMEOUT, () -> "both backends to notice the server's death");
        sendAndExpect(a, b, 1);
        sendAndExpect(b, a, 2);
        assertNull(a.listener().peerDown(b.vm(), b.backend().sessionId()), "no peer lost with the server");
        assertEquals(1, a.backend().peers().size());

        // Without a server, a graceful leave is still seen through the peer slot.
        final int bVm = b.vm();
        final long bSession = b.backend().sessionId();
        b.backend().close();
        a.listener().await(l -> l.peerDown(bVm, bSession) != null, TIMEOUT, "B down without a server");
        assertEquals("gone", a.listener().peerDown(bVm, bSession).reason());
    }

    @Test
    void aChangedSessionIdIsARestart() throws Exception
    {
        fixture = TestServer.forBackends();
        final Node a = node();
        final Node b = node();
        awaitUp(a, b);
        final MemoryWindow window = mapRegion();
        final RegionLayout layout = SharedRegion.validate(window, fixture.server().size());
        final long oldSession = b.backend().sessionId();
        final long newSession = oldSession ^ 0x5555_5555L;
        window.putLongVolatile((int)(layout.peerTableOffset() + PeerSlotDescriptor.slotOffset(b.vm()) +
            PeerSlotDescriptor.SESSION_ID_OFFSET), newSession);
        a.listener().await(l -> l.sawPeerUp(b.vm(), newSession), TIMEOUT, "B up with its new session");
        assertEquals("restarted", a.listener().peerDown(b.vm(), oldSession).reason());
        final int downIndex = a.listener().peerEvents().indexOf(
            new RecordingListener.PeerEvent(false, b.vm(), oldSession, "restarted"));
        final int upIndex = a.listener().peerEvents().indexOf(
            new RecordingListener.PeerEvent(true, b.vm(), newSession, null));
        assertTrue(downIndex < upIndex, "down for the old session comes before up for the new one");
        assertTrue(a.backend().peers().stream().anyMatch(p -> p.vm() == b.vm() && p.sessionId() == newSession));
    }

    @Test
    void aCorruptRingClosesOnlyThatPeersChannel() throws Exception
    {
        fixture = TestServer.forBackends();
        final Node a = node();
        final Node b = node();
        final Node c = node();
        awaitUp(a, b);
        awaitUp(a, c);
        awaitUp(c, a);
        sendAndExpect(b, a, 10);

        final MemoryWindow window = mapRegion();
        final RegionLayout layout = SharedRegion.validate(window, fixture.server().size());
        final int tail = (int)(layout.ringOffset(b.vm(), a.vm()) + layout.ringCapacity() + RingDescriptor.TAIL_OFFSET);
        window.putLongVolatile(tail, window.getLongVolatile(tail) + layout.ringCapacity() + 64);
        final long bSession = b.backend().sessionId();
        a.listener().await(l -> l.peerDown(b.vm(), bSession) != null, TIMEOUT, "A to drop B's corrupt ring");
        assertEquals("corrupt", a.listener().peerDown(b.vm(), bSession).reason());

        sendAndExpect(a, c, 11);
        sendAndExpect(c, a, 12);
        // The same session is not brought back up: wait several receive-loop rounds, then check.
        final long beat = heartbeat(window, layout, a.vm());
        Await.until(() -> heartbeat(window, layout, a.vm()) > beat + 3, TIMEOUT, () -> "A's heartbeat to advance");
        assertFalse(a.backend().peers().stream().anyMatch(p -> p.vm() == b.vm()), "B stays down");
        final ByteBuffer msg = ByteBuffer.allocate(4);
        assertError("ENOPEER", () -> a.backend().send(b.vm(), msg, 0, 4));
        assertEquals(1, a.listener().peerEvents().stream().filter(e -> e.vm() == b.vm() && !e.up()).count(),
            "reported once");
    }

    @Test
    void theHeartbeatAdvancesWhileIdle() throws Exception
    {
        fixture = TestServer.forBackends();
        final Node a = node();
        final MemoryWindow window = mapRegion();
        final RegionLayout layout = SharedRegion.validate(window, fixture.server().size());
        assertEquals(RegionHeaderDescriptor.MAGIC, window.getLongAcquire(RegionHeaderDescriptor.MAGIC_OFFSET));
        assertEquals(TestServer.MAX_PEERS, layout.maxPeers());
        final long beat = heartbeat(window, layout, a.vm());
        Await.until(() -> heartbeat(window, layout, a.vm()) >= beat + 2, TIMEOUT, () -> "heartbeat to advance");
        assertEquals(PeerSlotDescriptor.STATE_ACTIVE, window.getIntVolatile((int)(layout.peerTableOffset() +
            PeerSlotDescriptor.slotOffset(a.vm()) + PeerSlotDescriptor.STATE_OFFSET)));
        a.backend().close();
        assertEquals(PeerSlotDescriptor.STATE_GONE, window.getIntVolatile((int)(layout.peerTableOffset() +
            PeerSlotDescriptor.slotOffset(a.vm()) + PeerSlotDescriptor.STATE_OFFSET)), "close leaves the slot");
    }

    @Test
    void closingFromAListenerCallbackIsSafe() throws Exception
    {
        fixture = TestServer.forBackends();
        final Node a = node();
        final IvshmemHostBackend[] self = new IvshmemHostBackend[1];
        final RecordingListener recorder = new RecordingListener();
        final BackendListener closing = new BackendListener()
        {
            @Override
            public void onPeerUp(final PeerInfo peer)
            {
                recorder.onPeerUp(peer);
            }

            @Override
            public void onPeerDown(final int vm, final long sessionId, final String reason)
            {
                recorder.onPeerDown(vm, sessionId, reason);
            }

            @Override
            public void onMessage(final int vm, final ByteBuffer payload, final int length)
            {
                self[0].close();
            }
        };
        self[0] = new IvshmemHostBackend(fixture.options());
        self[0].start(closing);
        final int vm = self[0].localVm();
        final long session = self[0].sessionId();
        a.listener().await(l -> l.sawPeerUp(vm, session), TIMEOUT, "the self-closing backend up");
        recorder.await(l -> l.sawPeerUp(a.vm(), a.backend().sessionId()), TIMEOUT, "it sees A");
        assertTrue(a.backend().send(vm, ByteBuffer.allocate(8), 0, 8));
        a.listener().await(l -> l.peerDown(vm, session) != null, TIMEOUT, "A to see it leave");
        assertError("EIO", () -> self[0].allocate(4096));
    }

    @Test
    void anIdBeyondTheRegionsPeerSlotsIsRejected() throws Exception
    {
        fixture = new TestServer(4L << 20, 2, 1, IvshmemServer.MAX_ID);
        final Map<String, String> options = fixture.options();
        options.put(IvshmemHostBackend.OPTION_MAX_PEERS, "2");
        final IvshmemHostBackend first = new IvshmemHostBackend(options);
        first.start(new RecordingListener());
        try
        {
            assertEquals(1, first.localVm());
            final IvshmemHostBackend second = new IvshmemHostBackend(fixture.options());
            final BackendException e = assertThrows(BackendException.class, () -> second.start(new RecordingListener()));
            assertEquals("EINVAL", e.error(), e.getMessage());
            assertTrue(e.getMessage().contains("id 2"), e.getMessage());
            Await.until(() -> fixture.server().peerCount() == 1, TIMEOUT, () -> "the rejected peer to disconnect");
        }
        finally
        {
            first.close();
        }
    }

    @Test
    void optionsAreValidated() throws Exception
    {
        fixture = TestServer.forBackends();
        assertError("EINVAL", () -> new IvshmemHostBackend(Map.of()));
        final Map<String, String> options = new HashMap<>(fixture.options());
        options.put("bogus", "1");
        assertError("EINVAL", () -> new IvshmemHostBackend(options));
        for (final String[] bad : new String[][] {{IvshmemHostBackend.OPTION_RING_CAPACITY, "5000"},
            {IvshmemHostBackend.OPTION_RING_CAPACITY, "1024"}, {IvshmemHostBackend.OPTION_MAX_PEERS, "1"},
            {IvshmemHostBackend.OPTION_MAX_PEERS, "x"}, {IvshmemHostBackend.OPTION_CONNECT_TIMEOUT_MS, "0"},
            {IvshmemHostBackend.OPTION_ROLES, "producer"}})
        {
            final Map<String, String> o = new HashMap<>(fixture.options());
            o.put(bad[0], bad[1]);
            assertError("EINVAL", () -> new IvshmemHostBackend(o));
        }
        final Map<String, String> missing = new HashMap<>(fixture.options());
        missing.put(IvshmemHostBackend.OPTION_SOCKET, fixture.dir().resolve("nobody.sock").toString());
        final IvshmemHostBackend backend = new IvshmemHostBackend(missing);
        assertError("EIO", () -> backend.start(new RecordingListener()));
        backend.close();
    }

    @Test
    void theProviderIsFoundByName() throws Exception
    {
        fixture = TestServer.forBackends();
        final BackendProvider provider = BackendProvider.find(IvshmemHostBackend.NAME);
        assertInstanceOf(IvshmemBackendProvider.class, provider);
        assertTrue(provider.isAvailable(), provider.unavailabilityCause());
        final HypervisorBackend backend = provider.create(fixture.options());
        try
        {
            final RecordingListener listener = new RecordingListener();
            backend.start(listener);
            assertEquals("kvm-ivshmem", backend.capabilities().backend());
            assertEquals("daemon", backend.capabilities().readOnlyEnforcement());
            assertEquals("shared-region", backend.capabilities().isolation());
            assertTrue(backend.capabilities().guestToGuest() && backend.capabilities().doorbell());
        }
        finally
        {
            backend.close();
        }
    }

    private static void assertError(final String error, final Executable call)
    {
        final BackendException e = assertThrows(BackendException.class, call, "expected " + error);
        assertEquals(error, e.error(), e.getMessage());
    }
}
