package org.hyperdmabuf.hv.kvm;

import org.hyperdmabuf.hv.conformance.Await;
import org.hyperdmabuf.hv.conformance.RecordingListener;
import org.hyperdmabuf.hv.nativeio.MappedMemory;
import org.hyperdmabuf.hv.nativeio.Native;
import org.hyperdmabuf.hv.shm.MemoryWindow;
import org.hyperdmabuf.hv.shm.PageTableDescriptor;
import org.hyperdmabuf.hv.shm.PeerSlotDescriptor;
import org.hyperdmabuf.hv.shm.RecordDescriptor;
import org.hyperdmabuf.hv.shm.RegionHeaderDescriptor;
import org.hyperdmabuf.hv.shm.RegionLayout;
import org.hyperdmabuf.hv.shm.RingDescriptor;
import org.hyperdmabuf.hv.shm.RingWriter;
import org.hyperdmabuf.hv.shm.SharedRegion;
import org.hyperdmabuf.hv.spi.BackendBuffer;
import org.hyperdmabuf.hv.spi.BackendException;
import org.hyperdmabuf.hv.spi.BackendListener;
import org.hyperdmabuf.hv.spi.BackendProvider;
import org.hyperdmabuf.hv.spi.ClientMapping;
import org.hyperdmabuf.hv.spi.HypervisorBackend;
import org.hyperdmabuf.hv.spi.PeerInfo;
import org.hyperdmabuf.hv.spi.ShareRef;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Host-mode behaviour beyond the conformance kit: server death, restarts, liveness, hostile peers, options. */
class IvshmemHostBackendTest
{
    private static final Duration TIMEOUT = Duration.ofSeconds(10);
    private static final long HEARTBEAT_MS = 50;
    private static final long LIVENESS_MS = 400;
    /** Scheduling slack on a loaded 2-core machine, on top of the documented detection bound. */
    private static final long MARGIN_MS = 1000;
    /** Short liveness settings for the tests that measure detection. */
    private static final Map<String, String> FAST_LIVENESS = Map.of(
        IvshmemBackend.OPTION_HEARTBEAT_MS, Long.toString(HEARTBEAT_MS),
        IvshmemBackend.OPTION_LIVENESS_TIMEOUT_MS, Long.toString(LIVENESS_MS));
    /** For tests that park a receive thread on purpose: nobody may time anybody out meanwhile. */
    private static final Map<String, String> PATIENT = Map.of(
        IvshmemBackend.OPTION_LIVENESS_TIMEOUT_MS, "60000");

    private TestServer fixture;
    private MappedMemory region;
    private final List<Process> children = new ArrayList<>();

    @AfterEach
    void stop() throws Exception
    {
        for (final Process p : children)
        {
            p.destroyForcibly();
            p.waitFor(10, TimeUnit.SECONDS);
        }
        if (region != null)
        {
            region.close();
        }
        if (fixture != null)
        {
            fixture.close();
        }
    }

    private record Node(IvshmemBackend backend, RecordingListener listener)
    {
        int vm()
        {
            return backend.localVm();
        }
    }

    private Node node() throws BackendException
    {
        return node(Map.of());
    }

    private Node node(final Map<String, String> options) throws BackendException
    {
        final RecordingListener listener = new RecordingListener();
        return new Node(fixture.startBackend(listener, options), listener);
    }

    /** A backend in a separate JVM (a whole "VM" the test can stop or kill). */
    private PeerProcess.Child spawnPeer(final Map<String, String> extra) throws Exception
    {
        final Map<String, String> options = fixture.options();
        options.putAll(extra);
        final PeerProcess.Child child = PeerProcess.spawn(options);
        children.add(child.process());
        return child;
    }

    private static void signal(final PeerProcess.Child child, final String signal) throws Exception
    {
        final Process kill = new ProcessBuilder("kill", "-" + signal, Long.toString(child.process().pid()))
            .inheritIO().start();
        assertTrue(kill.waitFor(10, TimeUnit.SECONDS) && kill.exitValue() == 0, "kill -" + signal);
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

    /**
     * Regression: a peer that overwrote one page-table entry of our allocation used to make free() fail with
     * EINVAL (the shared table was asked who owns the run), leaking every other page of the run for good.
     */
    @Test
    void freeingARunWithAPageStolenInThePageTableReleasesTheRestAndLeavesTheStolenPage() throws Exception
    {
        fixture = TestServer.forBackends();
        final Node a = node();
        final long freeBefore = a.backend().freeBytes();
        final org.hyperdmabuf.hv.spi.BackendBuffer buffer = a.backend().allocate(3 * 4096);
        final MemoryWindow regionWindow = mapRegion();
        final RegionLayout layout = SharedRegion.validate(regionWindow.slice(0, 4096), fixture.server().size());
        final int middle = (int)(layout.pageTableOffset() +
            ((buffer.offset() - layout.poolOffset()) / 4096 + 1) * PageTableDescriptor.ENTRY_LENGTH);
        final long stolen = PageTableDescriptor.ownerWord(5, 0x5afe);
        regionWindow.putLongVolatile(middle, stolen);
        a.backend().free(buffer);
        assertEquals(stolen, regionWindow.getLongVolatile(middle), "the overwritten entry is left alone");
        assertEquals(freeBefore - 4096, a.backend().freeBytes(), "the two pages still ours are free again");
        assertThrows(BackendException.class, () -> a.backend().free(buffer), "a double free stays EINVAL");
    }

    @Test
    void peersKeepWorkingWhenTheServerDies() throws Exception
    {
        fixture = TestServer.forBackends();
        final Node a = node();
        final Node b = node();
        awaitUp(a, b);
        awaitUp(b, a);
        // Host mode learns of peers from the server too, and scans every 10 ms whatever the liveness timeout.
        assertEquals(ReceivePasses.TICK_NS, a.backend().passIntervalNanos());
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
        awaitUp(b, a);
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
        // The broken session is never brought back up. B, still running, is told so (dropped_session) and
        // rejoins with a new session of its own (ABI.md "Resync"); its new ring to A works.
        a.listener().await(l -> l.peerEvents().stream().anyMatch(e -> e.vm() == b.vm() && e.up() &&
            e.sessionId() != bSession), TIMEOUT, "B back with a new session");
        assertEquals(1, a.listener().peerEvents().stream().filter(e -> e.vm() == b.vm() && e.up() &&
            e.sessionId() == bSession).count(), "the broken session came up once, before it broke");
        assertEquals(1, a.listener().peerEvents().stream().filter(e -> e.vm() == b.vm() && !e.up()).count(),
            "reported once");
        assertNotEquals(bSession, b.backend().sessionId(), "B resynced");
        // B saw A up before it resynced, so "A up" alone proves nothing: wait for A up again after the resync's
        // down (up, down, up), so the message goes out in B's new session.
        b.listener().await(l -> l.peerEvents().stream().filter(e -> e.vm() == a.vm()).count() >= 3 &&
            l.peerEvents().stream().filter(e -> e.vm() == a.vm()).reduce((x, y) -> y).orElseThrow().up(), TIMEOUT,
            "B to see A up again in its new session");
        sendAndExpect(b, a, 13);
    }

    /**
     * Regression: a session that published a bad record with consistent counters left it between the consumer's
     * head and the tail; the next daemon given the same peer id continues the ring at that tail, so the consumer
     * read the old garbage first and closed the newcomer's channel as corrupt too, for every later session.
     */
    @Test
    void garbageLeftByABrokenSessionDoesNotPoisonTheNextSessionOfThatId() throws Exception
    {
        fixture = TestServer.forBackends();
        final Node a = node();
        final Node b = node();
        awaitUp(a, b);
        awaitUp(b, a);
        final MemoryWindow window = mapRegion();
        final RegionLayout layout = SharedRegion.validate(window, fixture.server().size());
        final int ring = (int)layout.ringOffset(b.vm(), a.vm());
        final int tail = ring + layout.ringCapacity() + RingDescriptor.TAIL_OFFSET;
        final long t = window.getLongVolatile(tail);
        final int index = ring + (int)(t & (layout.ringCapacity() - 1));
        window.putInt(index + RecordDescriptor.LENGTH_OFFSET, 4000); // longer than what is published
        window.putInt(index + RecordDescriptor.TYPE_OFFSET, RecordDescriptor.PEER_MESSAGE_TYPE);
        window.putLongVolatile(tail, t + 16);
        final long bSession = b.backend().sessionId();
        a.listener().await(l -> l.peerDown(b.vm(), bSession) != null, TIMEOUT, "A to drop B's corrupt ring");
        final int bVm = b.vm();
        b.backend().close();
        final Node successor = node(); // the lowest free id: B's
        final Node c = node();
        assertEquals(bVm, successor.vm(), "the server hands B's id out again");
        awaitUp(a, successor);
        awaitUp(successor, a);
        awaitUp(c, a);
        sendAndExpect(successor, a, 21);
        assertNull(a.listener().peerDown(successor.vm(), successor.backend().sessionId()), "the successor stays up");
        sendAndExpect(c, a, 22);
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
        final IvshmemBackend[] self = new IvshmemBackend[1];
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
        self[0] = new IvshmemBackend(fixture.options());
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
    void anIdBeyondTheRegionsPeerSlotsClaimsAFreeSlotUntilNoneIsLeft() throws Exception
    {
        fixture = new TestServer(4L << 20, 2, 1, IvshmemServer.MAX_ID);
        final Map<String, String> twoSlots = Map.of(IvshmemBackend.OPTION_MAX_PEERS, "2");
        final Node first = node(twoSlots);
        assertEquals(1, first.vm(), "ivshmem id 1 joins its own slot");
        final Node second = node();
        assertEquals(0, second.vm(), "ivshmem id 2, beyond the 2 slots, claims the free slot 0");
        final MemoryWindow window = mapRegion();
        final RegionLayout layout = SharedRegion.validate(window, fixture.server().size());
        assertEquals(PeerSlotDescriptor.claimWord(2, second.backend().sessionId()), window.getLongVolatile(
            (int)(layout.peerTableOffset() + PeerSlotDescriptor.slotOffset(0) + PeerSlotDescriptor.CLAIM_OFFSET)),
            "slot 0 names its holder's ivshmem id");
        awaitUp(first, second);
        awaitUp(second, first);
        sendAndExpect(first, second, 31);
        sendAndExpect(second, first, 32);

        final IvshmemBackend third = new IvshmemBackend(fixture.options());
        final BackendException e = assertThrows(BackendException.class, () -> third.start(new RecordingListener()));
        assertEquals("EINVAL", e.code().name(), e.getMessage());
        assertTrue(e.getMessage().contains("no peer slot for ivshmem id 3: all 2 slots"), e.getMessage());
        Await.until(() -> fixture.server().peerCount() == 2, TIMEOUT, () -> "the rejected peer to disconnect");

        // The claimer's server disconnect reaches the slot it holds: it is declared gone, and the slot is free.
        final int secondVm = second.vm();
        final long secondSession = second.backend().sessionId();
        second.backend().close();
        first.listener().await(l -> l.peerDown(secondVm, secondSession) != null, TIMEOUT, "the claimer gone");
        final Node successor = node();
        assertEquals(0, successor.vm(), "the next peer beyond the slots claims the freed slot");
        awaitUp(first, successor);
        awaitUp(successor, first);
        sendAndExpect(successor, first, 33);
    }

    // ---- liveness ----

    /** Detection bound documented in IvshmemBackend and ABI.md: timeout + heartbeat + receive-loop interval. */
    private static long detectionBoundMs()
    {
        return LIVENESS_MS + HEARTBEAT_MS + IvshmemBackend.POLL_INTERVAL_MS;
    }

    @Test
    void aStoppedPeerIsDeclaredDownByTimeoutAndRejoinsWithANewSessionWhenItResumes() throws Exception
    {
        fixture = TestServer.forBackends();
        final Node a = node(FAST_LIVENESS);
        final PeerProcess.Child b = spawnPeer(FAST_LIVENESS);
        a.listener().await(l -> l.sawPeerUp(b.vm(), b.session()), TIMEOUT, "A to see the peer process up");
        final MemoryWindow window = mapRegion();
        final RegionLayout layout = SharedRegion.validate(window, fixture.server().size());

        signal(b, "STOP");
        final long stoppedAt = System.nanoTime();
        a.listener().await(l -> l.peerDown(b.vm(), b.session()) != null, TIMEOUT, "A to declare the stopped peer down");
        final long tookMs = (System.nanoTime() - stoppedAt) / 1_000_000L;
        assertEquals("timeout", a.listener().peerDown(b.vm(), b.session()).reason());
        assertTrue(tookMs <= detectionBoundMs() + MARGIN_MS, "detected in " + tookMs + " ms; bound " +
            detectionBoundMs() + " ms");
        assertTrue(tookMs >= LIVENESS_MS / 2, "not declared down before its timeout: " + tookMs + " ms");
        assertTrue(a.backend().peers().stream().noneMatch(p -> p.vm() == b.vm()), "a timed-out peer is not listed");
        assertError("ENOPEER", () -> a.backend().send(b.vm(), ByteBuffer.allocate(8), 0, 8));

        // SIGCONT: its heartbeat moves again, but the daemons have cleaned up after that session. It finds its
        // session in A's dropped_session and rejoins with a new one (ABI.md "Resync"); the old one never returns.
        signal(b, "CONT");
        a.listener().await(l -> l.peerEvents().stream().anyMatch(e -> e.vm() == b.vm() && e.up() &&
            e.sessionId() != b.session()), TIMEOUT, "the resumed peer to rejoin with a new session");
        assertEquals(1, a.listener().peerEvents().stream().filter(e -> e.vm() == b.vm() && e.up() &&
            e.sessionId() == b.session()).count(), "the same session is not brought back up: " +
            a.listener().peerEvents());
        assertTrue(a.backend().peers().stream().anyMatch(p -> p.vm() == b.vm() && p.sessionId() != b.session()));

        // It leaves for good: its new session is reported down, the old one only once, as before.
        b.process().getOutputStream().close();
        assertTrue(b.process().waitFor(30, TimeUnit.SECONDS), "the peer process exits when its stdin ends");
        a.listener().await(l -> l.peerEvents().stream().filter(e -> e.vm() == b.vm() && !e.up()).count() == 2,
            TIMEOUT, "A to notice the exit");
        assertEquals(1, a.listener().peerEvents().stream().filter(e -> e.vm() == b.vm() && !e.up() &&
            e.sessionId() == b.session()).count(), "the old session reported down once: " + a.listener().peerEvents());
    }

    @Test
    void aKilledPeerIsDeclaredDownByTimeoutWhenTheServerIsDead() throws Exception
    {
        fixture = TestServer.forBackends();
        final Node a = node(FAST_LIVENESS);
        final Node c = node(FAST_LIVENESS);
        final PeerProcess.Child b = spawnPeer(FAST_LIVENESS);
        a.listener().await(l -> l.sawPeerUp(b.vm(), b.session()), TIMEOUT, "A to see the peer process up");
        awaitUp(a, c);
        awaitUp(c, a);
        fixture.server().close();
        Await.until(() -> !a.backend().connection().isServerAlive(), TIMEOUT, () -> "A to notice the server's death");

        // No server: no disconnect message will come, only the heartbeat tells.
        b.process().destroyForcibly();
        final long killedAt = System.nanoTime();
        a.listener().await(l -> l.peerDown(b.vm(), b.session()) != null, TIMEOUT, "A to declare the killed peer down");
        final long tookMs = (System.nanoTime() - killedAt) / 1_000_000L;
        assertEquals("timeout", a.listener().peerDown(b.vm(), b.session()).reason());
        assertTrue(tookMs <= detectionBoundMs() + MARGIN_MS, "detected in " + tookMs + " ms; bound " +
            detectionBoundMs() + " ms");
        assertNull(a.listener().peerDown(c.vm(), c.backend().sessionId()), "a live peer stays up");
        sendAndExpect(a, c, 7);
        sendAndExpect(c, a, 8);
    }

    @Test
    void livePeersAreNotTimedOut() throws Exception
    {
        fixture = TestServer.forBackends();
        final Node a = node(FAST_LIVENESS);
        final Node b = node(FAST_LIVENESS);
        awaitUp(a, b);
        awaitUp(b, a);
        final MemoryWindow window = mapRegion();
        final RegionLayout layout = SharedRegion.validate(window, fixture.server().size());
        // Five timeouts' worth of heartbeats.
        final long beat = heartbeat(window, layout, a.vm());
        Await.until(() -> heartbeat(window, layout, a.vm()) >= beat + 5 * LIVENESS_MS / HEARTBEAT_MS, TIMEOUT,
            () -> "heartbeats to accumulate");
        assertNull(a.listener().peerDown(b.vm(), b.backend().sessionId()), a.listener().peerEvents().toString());
        assertNull(b.listener().peerDown(a.vm(), a.backend().sessionId()), b.listener().peerEvents().toString());
    }

    // ---- sessions on the rings ----

    private static ByteBuffer tagged(final int tag)
    {
        final ByteBuffer msg = ByteBuffer.allocate(4);
        msg.putInt(0, tag);
        return msg;
    }

    private static int tagOf(final Object event)
    {
        return event instanceof RecordingListener.Message m ? ByteBuffer.wrap(m.bytes()).getInt(0) : -1;
    }

    private static void sendNow(final Node from, final int to, final int tag) throws Exception
    {
        Await.until(() ->
        {
            try
            {
                return from.backend().send(to, tagged(tag), 0, 4);
            }
            catch (final BackendException e)
            {
                throw new AssertionError(e);
            }
        }, TIMEOUT, () -> "room to send " + tag);
    }

    /**
     * P restarts (same peer id, new session) while S has not read what the old P sent: S never delivers those
     * records, neither as the old session (already reported down) nor as the new one, and delivers everything
     * the new session sends.
     */
    @Test
    void recordsOfARestartedPeersOldSessionAreNeverDeliveredAfterTheRestart() throws Exception
    {
        fixture = new TestServer(4L << 20, 2, 1, 2); // two ids: the restarted peer gets its id back
        final Node s = node(PATIENT);
        final Node p = node(PATIENT);
        awaitUp(s, p);
        awaitUp(p, s);
        sendAndExpect(p, s, 1000);

        // Park S's receive thread between two rounds: nothing of what follows is read until it resumes.
        s.listener().closeTickGate();
        Await.until(() -> s.listener().tickBlocked(), TIMEOUT, () -> "S's receive thread to park");
        for (int i = 1; i <= 10; i++)
        {
            sendNow(p, s.vm(), i);
        }
        final int pVm = p.vm();
        final long oldSession = p.backend().sessionId();
        p.backend().close();
        Await.until(() -> fixture.server().peerCount() == 1, TIMEOUT, () -> "the server to drop the old P");
        final Node restarted = node(PATIENT);
        assertEquals(pVm, restarted.vm(), "the restarted peer has the same id");
        final long newSession = restarted.backend().sessionId();
        awaitUp(restarted, s);
        for (int i = 101; i <= 105; i++)
        {
            sendNow(restarted, s.vm(), i);
        }

        s.listener().openTickGate();
        s.listener().await(l -> l.sawPeerUp(pVm, newSession) && l.messagesFrom(pVm).size() >= 6, TIMEOUT,
            "S to see the new session and its 5 messages");
        final List<Object> sequence = s.listener().sequence();
        final int down = sequence.indexOf(s.listener().peerDown(pVm, oldSession));
        final int up = sequence.indexOf(new RecordingListener.PeerEvent(true, pVm, newSession, null));
        assertTrue(down >= 0 && down < up, "the old session is down before the new one is up: " + sequence);
        final List<Integer> received = new ArrayList<>();
        for (final Object e : sequence)
        {
            if (e instanceof RecordingListener.Message m && m.vm() == pVm)
            {
                received.add(tagOf(m));
            }
        }
        assertEquals(List.of(1000, 101, 102, 103, 104, 105), received, "old records are discarded, new ones kept");
        for (int k = up + 1; k < sequence.size(); k++)
        {
            final int tag = tagOf(sequence.get(k));
            assertTrue(tag < 0 || tag > 100, "after the restart only new-session records: " + sequence);
        }
        assertEquals(10, s.backend().discardedRecords(pVm), "the old session's unread records were counted");
        sendAndExpect(s, restarted, 2000);
    }

    /**
     * A test-driven peer writes the ring by hand: records addressed to an old session of S are discarded; a
     * SESSION_START of a newer incarnation of the producer ends the batch, so its records wait until that
     * incarnation is up instead of being dropped with the old one's.
     */
    @Test
    void aSessionStartOfANewIncarnationEndsTheBatch() throws Exception
    {
        fixture = TestServer.forBackends();
        final RecordingListener recorder = new RecordingListener();
        final Runnable[] onTag3 = new Runnable[1]; // set once the test is ready to restart the producer
        final BackendListener listener = new BackendListener()
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
                recorder.onMessage(vm, payload, length);
                if (length >= 4 && payload.duplicate().order(ByteOrder.BIG_ENDIAN).getInt(0) == 3 && onTag3[0] != null)
                {
                    onTag3[0].run(); // the producer's restart becomes visible in the middle of S's batch
                }
            }

            @Override
            public void onFenceTick()
            {
                recorder.onFenceTick();
            }
        };
        final IvshmemBackend s = fixture.startBackend(listener, PATIENT);
        final long sSession = s.sessionId();

        // The hand-made peer: a real ivshmem connection, a real slot, a real ring writer.
        final IvshmemPeerConnection connection = IvshmemPeerConnection.connect(fixture.socketPath(),
            IvshmemBackend.VECTORS, 5000, null);
        try
        {
            final int p = connection.ownId();
            final MemoryWindow window = mapRegion();
            final SharedRegion shared = SharedRegion.formatOrAttach(fixture.server().size(),
                (offset, length) -> window.slice(offset, (int)length), SharedRegion.FormatParams.defaults(), 1, 5000);
            final long session1 = 0x1111_0000_0000_0001L;
            final long session2 = 0x2222_0000_0000_0002L;
            final RingWriter writer = new RingWriter(shared.ring(p, s.localVm()), shared.layout().ringCapacity());
            assertTrue(writer.attach(session1));
            shared.join(p, session1, PeerSlotDescriptor.ROLE_SINK, 1);
            recorder.await(l -> l.sawPeerUp(p, session1), TIMEOUT, "S to see the hand-made peer");

            recorder.closeTickGate();
            Await.until(recorder::tickBlocked, TIMEOUT, () -> "S's receive thread to park");
            final ByteBuffer start = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN);
            start.putLong(0, session1).putLong(8, sSession ^ 1); // addressed to an earlier S
            assertTrue(writer.offer(RecordDescriptor.SESSION_START_TYPE, start, 0, 16));
            assertTrue(writer.offer(RecordDescriptor.PEER_MESSAGE_TYPE, tagged(99), 0, 4));
            start.putLong(0, session1).putLong(8, sSession);
            assertTrue(writer.offer(RecordDescriptor.SESSION_START_TYPE, start, 0, 16));
            for (int i = 1; i <= 3; i++)
            {
                assertTrue(writer.offer(RecordDescriptor.PEER_MESSAGE_TYPE, tagged(i), 0, 4));
            }
            assertTrue(writer.offer(RecordDescriptor.PEER_MESSAGE_TYPE, tagged(0), 0, 0), "an empty message");
            start.putLong(0, session2).putLong(8, sSession);
            assertTrue(writer.offer(RecordDescriptor.SESSION_START_TYPE, start, 0, 16));
            assertTrue(writer.offer(7, tagged(77), 0, 4), "a record of a type from the future");
            for (int i = 11; i <= 13; i++)
            {
                assertTrue(writer.offer(RecordDescriptor.PEER_MESSAGE_TYPE, tagged(i), 0, 4));
            }
            final MemoryWindow slot = shared.peerSlot(p);
            onTag3[0] = () -> slot.putLongVolatile(PeerSlotDescriptor.SESSION_ID_OFFSET, session2);
            recorder.openTickGate();

            recorder.await(l -> l.sawPeerUp(p, session2) && l.messagesFrom(p).size() >= 7, TIMEOUT,
                "S to deliver the second incarnation's records");
            final List<Integer> received = new ArrayList<>();
            for (final Object e : recorder.sequence())
            {
                if (e instanceof RecordingListener.Message m)
                {
                    received.add(m.bytes().length == 0 ? 0 : tagOf(m));
                }
                else if (e instanceof RecordingListener.PeerEvent ev && ev.vm() == p && ev.sessionId() == session2)
                {
                    received.add(-2);
                }
            }
            assertEquals(List.of(1, 2, 3, 0, -2, 11, 12, 13), received, "old-S record dropped, batch ended at " +
                "the new incarnation, its records delivered after it came up: " + recorder.sequence());
            assertEquals("restarted", recorder.peerDown(p, session1).reason());
            assertEquals(1, s.discardedRecords(p), "the record addressed to an earlier S");
        }
        finally
        {
            s.close();
            connection.close();
        }
    }

    // ---- reclaiming ----

    @Test
    void reclaimZeroesOnlyTheDeadSessionsPagesNotThoseOfItsSuccessor() throws Exception
    {
        fixture = new TestServer(4L << 20, 2, 1, 2);
        final Node s = node();
        final Node p = node();
        awaitUp(s, p);
        final int pVm = p.vm();
        final long oldSession = p.backend().sessionId();
        final BackendBuffer old = p.backend().allocate(2 * 4096);
        final BackendBuffer kept = p.backend().allocate(4096);
        p.backend().free(kept); // freed by its owner: not part of what is reclaimed
        final MemoryWindow window = mapRegion();
        for (int i = 0; i < old.length(); i += 8)
        {
            window.putLong((int)(old.offset() + i), 0x5A5A_5A5A_5A5A_5A5AL);
        }
        final long free0 = s.backend().freeBytes();
        p.backend().close();
        s.listener().await(l -> l.peerDown(pVm, oldSession) != null, TIMEOUT, "S to see P leave");
        Await.until(() -> fixture.server().peerCount() == 1, TIMEOUT, () -> "the server to drop P");
        final Node restarted = node();
        assertEquals(pVm, restarted.vm());
        final BackendBuffer fresh = restarted.backend().allocate(4096);
        awaitUp(s, restarted);
        assertError("EBUSY", () -> s.backend().reclaimPeerMemory(pVm, restarted.backend().sessionId()));

        assertEquals(2, s.backend().reclaimPeerMemory(pVm, oldSession), "the two pages of the old session");
        assertEquals(free0 - 4096 + 2 * 4096, s.backend().freeBytes(), "the old pages are free, the new one not");
        for (int i = 0; i < old.length(); i += 8)
        {
            assertEquals(0, window.getLong((int)(old.offset() + i)), "reclaimed byte " + i + " is zero");
        }
        final ClientMapping m = s.backend().mapImport(pVm, new ShareRef(fresh.offset(), fresh.length()), true);
        Native.closeQuietly(m.fd());
        restarted.backend().free(fresh); // its own bookkeeping and page-table entry are intact
        assertEquals(free0 + 2 * 4096, s.backend().freeBytes());
    }

    @Test
    void optionsAreValidated() throws Exception
    {
        fixture = TestServer.forBackends();
        assertError("EINVAL", () -> new IvshmemBackend(Map.of()));
        final Map<String, String> options = new HashMap<>(fixture.options());
        options.put("bogus", "1");
        assertError("EINVAL", () -> new IvshmemBackend(options));
        for (final String[] bad : new String[][] {{IvshmemBackend.OPTION_RING_CAPACITY, "5000"},
            {IvshmemBackend.OPTION_RING_CAPACITY, "1024"}, {IvshmemBackend.OPTION_MAX_PEERS, "1"},
            {IvshmemBackend.OPTION_MAX_PEERS, "x"}, {IvshmemBackend.OPTION_CONNECT_TIMEOUT_MS, "0"},
            {IvshmemBackend.OPTION_ROLES, "producer"}, {IvshmemBackend.OPTION_HEARTBEAT_MS, "0"},
            {IvshmemBackend.OPTION_HEARTBEAT_MS, "fast"}, {IvshmemBackend.OPTION_LIVENESS_TIMEOUT_MS, "200"},
            {IvshmemBackend.OPTION_LIVENESS_TIMEOUT_MS, "-1"}})
        {
            final Map<String, String> o = new HashMap<>(fixture.options());
            o.put(bad[0], bad[1]);
            assertError("EINVAL", () -> new IvshmemBackend(o));
        }
        final Map<String, String> missing = new HashMap<>(fixture.options());
        missing.put(IvshmemBackend.OPTION_SOCKET, fixture.dir().resolve("nobody.sock").toString());
        final IvshmemBackend backend = new IvshmemBackend(missing);
        assertError("EIO", () -> backend.start(new RecordingListener()));
        backend.close();
    }

    @Test
    void theProviderIsFoundByName() throws Exception
    {
        fixture = TestServer.forBackends();
        final BackendProvider provider = BackendProvider.find(IvshmemBackend.NAME);
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
        assertEquals(error, e.code().name(), e.getMessage());
    }
}
