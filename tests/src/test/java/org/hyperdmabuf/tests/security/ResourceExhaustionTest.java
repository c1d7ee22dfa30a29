package org.hyperdmabuf.tests.security;

import org.hyperdmabuf.abi.v1.Access;
import org.hyperdmabuf.abi.v1.BufferId;
import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.abi.v1.Exported;
import org.hyperdmabuf.abi.v1.FenceWait;
import org.hyperdmabuf.abi.v1.Import;
import org.hyperdmabuf.abi.v1.Match;
import org.hyperdmabuf.abi.v1.MatchRule;
import org.hyperdmabuf.abi.v1.Metadata;
import org.hyperdmabuf.abi.v1.QueryCaps;
import org.hyperdmabuf.abi.v1.Request;
import org.hyperdmabuf.abi.v1.Response;
import org.hyperdmabuf.abi.v1.ServerFrame;
import org.hyperdmabuf.abi.v1.Subscribe;
import org.hyperdmabuf.abi.v1.Timeline;
import org.hyperdmabuf.cli.ChildProcess;
import org.hyperdmabuf.client.Allocation;
import org.hyperdmabuf.client.HdmabufClient;
import org.hyperdmabuf.client.HdmabufException;
import org.hyperdmabuf.client.ReceivedEvent;
import org.hyperdmabuf.abi.Limits;
import org.hyperdmabuf.tests.support.Await;
import org.hyperdmabuf.tests.support.SystemTest;
import org.hyperdmabuf.tests.support.TwoVmSystem;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;

import java.io.ByteArrayOutputStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.UnaryOperator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Resource exhaustion by local clients against real daemons: a full pool, too many clients, too many
 * subscriptions or parked fence waits on one connection, a subscriber that never reads, and a client that
 * floods requests without reading their fd-carrying answers. Each limit answers with a typed error, nothing
 * leaks (fds, pool), and other clients keep being served. (Quota exhaustion, EDQUOT, is covered by
 * {@code PolicyEnforcementTest.quotasRefuseWithEdquotAndChangeNothing}.)
 */
// "try": hostile connections are closed by try-with-resources, and closing one may be interrupted.
@SystemTest
@SuppressWarnings("try")
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ResourceExhaustionTest
{
    private static final Duration TIMEOUT = Duration.ofSeconds(20);
    private static final long REGION = 32L << 20;

    private TwoVmSystem system;
    private HdmabufClient bystander;
    private long pool;
    private int sinkFds;
    private int sourceFds;

    @BeforeAll
    void start() throws Exception
    {
        system = TwoVmSystem.startInTempDir("hdx", REGION, List.of(), List.of());
        bystander = HdmabufClient.connect(system.sourceSocket());
        pool = DaemonProbe.poolFree(system.sinkSocket());
        sinkFds = DaemonProbe.openFds(system.sink());
        sourceFds = DaemonProbe.openFds(system.source());
    }

    /** Every test leaves the daemons as it found them, and a client of the source was served throughout. */
    @AfterEach
    void nothingLeaked() throws Exception
    {
        assertEquals(system.sourceVm(), bystander.caps().getLocalVm());
        DaemonProbe.awaitPool(system.sinkSocket(), pool, "after the test");
        DaemonProbe.awaitFds(system.sink(), sinkFds, "after the test");
        DaemonProbe.awaitFds(system.source(), sourceFds, "after the test");
    }

    @AfterAll
    void stop() throws Exception
    {
        if (bystander != null)
        {
            bystander.close();
        }
        system.closeAndVerify();
    }

    @Test
    void aFullPoolAnswersEnospcAndRecoversCompletely() throws Exception
    {
        try (HdmabufClient producer = HdmabufClient.connect(system.sinkSocket()))
        {
            final List<Allocation> held = new ArrayList<>();
            final long chunk = 1L << 20;
            while (true)
            {
                try
                {
                    held.add(producer.alloc(chunk));
                }
                catch (final HdmabufException e)
                {
                    assertEquals(ErrorCode.ENOSPC, e.code(), e.getMessage());
                    break;
                }
            }
            assertTrue(held.size() >= 16, "a 32 MiB region holds at least 16 MiB of pool: " + held.size());
            // What is left may be fragmented: fill it page by page until nothing is free.
            while (true)
            {
                try
                {
                    held.add(producer.alloc(4096));
                }
                catch (final HdmabufException e)
                {
                    assertEquals(ErrorCode.ENOSPC, e.code(), e.getMessage());
                    break;
                }
            }
            assertEquals(0, producer.caps().getPoolFreeBytes(), "ENOSPC only when the pool is full");
            assertEquals(ErrorCode.ENOSPC, assertThrows(HdmabufException.class, () -> producer.alloc(4096)).code());
            assertEquals(0, producer.caps().getPoolFreeBytes(), "a refused ALLOC changed the pool");
            // A client of another daemon does not notice; the full pool is freed by disconnecting.
            assertEquals(system.sourceVm(), bystander.caps().getLocalVm());
            held.forEach(Allocation::close);
        }
    }

    /**
     * Regression: a LIST whose answer exceeds the 16 MiB daemon-to-client frame limit (about 2100 buffers with
     * 8 KiB of metadata each) was sent anyway, so the client had to drop the connection. Now it is answered
     * EMSGSIZE, on the sink (the owner's exports) and on the source (every buffer of the VM).
     */
    @Test
    void aListOverTheFrameLimitIsAnsweredEmsgsize() throws Exception
    {
        final Metadata m = Metadata.newBuilder().setVersion(1).setContentType("application/x-test")
            .putTags("test", "big-list").putTags("pad1", "p".repeat(1000)).putTags("pad2", "p".repeat(1000))
            .putTags("pad3", "p".repeat(1000))
            .setPrivateData(com.google.protobuf.ByteString.copyFrom(new byte[Limits.MAX_PRIVATE_BYTES])).build();
        final int n = Limits.MAX_SERVER_FRAME_BYTES / m.getSerializedSize() + 100;
        try (HdmabufClient producer = HdmabufClient.connect(system.sinkSocket()))
        {
            BufferId last = null;
            for (int i = 0; i < n; i++)
            {
                final Allocation a = producer.alloc(4096);
                last = producer.export(a.handle(), system.sourceVm(), m, Access.ACCESS_READ_WRITE).getId();
                a.close();
            }
            awaitKnown(last);
            for (final HdmabufClient c : List.of(producer, bystander))
            {
                final HdmabufException e = assertThrows(HdmabufException.class, c::list);
                assertEquals(ErrorCode.EMSGSIZE, e.code(), e.getMessage());
                assertEquals(system.sourceVm(), bystander.query(last).getTargetVm(), "the connection still works");
            }
        }
    }

    @Test
    void connectionsPastMaxClientsAreRefusedWithEagainAndServedAgainOnceOneCloses() throws Exception
    {
        final Path socket = system.dir().resolve("small.sock");
        final ChildProcess small = system.startDaemon("small", "sink", socket, "--max-clients", "3");
        try
        {
            final List<HdmabufClient> clients = new ArrayList<>();
            for (int i = 0; i < 3; i++)
            {
                clients.add(HdmabufClient.connect(socket));
                assertEquals("kvm-ivshmem", clients.get(i).caps().getBackend());
            }
            final int fds = DaemonProbe.openFds(small);
            for (int i = 0; i < 20; i++)
            {
                try (HostileConnection extra = HostileConnection.open(socket))
                {
                    final ServerFrame f = extra.next(TIMEOUT);
                    assertNotNull(f, "the refusal");
                    assertEquals(0, f.getResponse().getRequestId());
                    assertEquals(ErrorCode.EAGAIN, f.getResponse().getError(), f.getResponse().getMessage());
                    assertTrue(f.getResponse().getMessage().contains("at most 3"), f.getResponse().getMessage());
                    assertTrue(extra.awaitClosed(TIMEOUT), "a refused connection is closed");
                }
            }
            DaemonProbe.awaitFds(small, fds, "after 20 refused connections");
            for (final HdmabufClient c : clients)
            {
                assertEquals("kvm-ivshmem", c.caps().getBackend(), "the admitted clients are still served");
            }
            clients.remove(0).close();
            Await.until("a new client is admitted once one closed", TIMEOUT, () ->
            {
                try (HdmabufClient c = HdmabufClient.connect(socket))
                {
                    return c.caps().getLocalVm() > 0;
                }
                catch (final HdmabufException e)
                {
                    return false; // the close was not processed yet: still refused
                }
            });
            for (final HdmabufClient c : clients)
            {
                c.close();
            }
        }
        finally
        {
            small.close();
        }
    }

    /**
     * Regression: the daemon closed a refused connection right after writing EAGAIN, so a client that sent its first
     * request after that got EPIPE (or ECONNRESET) and never read why. Now every refused client can still send,
     * reads the answer, then the end of the stream; and the daemon lets go of refused connections their clients
     * keep open.
     */
    @Test
    @Timeout(120)
    void everyRefusedClientReadsTheEagainEvenIfItSendsAfterIt() throws Exception
    {
        final Path socket = system.dir().resolve("one.sock");
        final ChildProcess one = system.startDaemon("one", "sink", socket, "--max-clients", "1");
        final List<HostileConnection> refused = new ArrayList<>();
        try (HdmabufClient admitted = HdmabufClient.connect(socket))
        {
            assertEquals("kvm-ivshmem", admitted.caps().getBackend());
            final int fds = DaemonProbe.openFds(one);
            for (int i = 0; i < 16; i++)
            {
                refused.add(HostileConnection.openNotReading(socket));
            }
            final byte[] request = HostileConnection.frame(Request.newBuilder().setRequestId(1)
                .setQueryCaps(QueryCaps.getDefaultInstance()).build());
            for (int i = 0; i < refused.size(); i++)
            {
                final HostileConnection c = refused.get(i);
                assertTrue(c.awaitReadable(TIMEOUT), "client " + i + ": the daemon answers");
                assertTrue(c.send(request), "client " + i + ": sending after the answer fails (EPIPE)");
                final ServerFrame f = c.readOneFrame(TIMEOUT);
                assertNotNull(f, "client " + i + ": the refusal");
                assertEquals(0, f.getResponse().getRequestId());
                assertEquals(ErrorCode.EAGAIN, f.getResponse().getError(), f.getResponse().getMessage());
                c.startReading();
                assertTrue(c.awaitClosed(TIMEOUT), "client " + i + ": the stream ends after the refusal");
                assertNull(c.next(Duration.ZERO), "client " + i + ": its request is not answered");
            }
            DaemonProbe.awaitFds(one, fds, "refused connections their clients keep open");
            assertEquals("kvm-ivshmem", admitted.caps().getBackend(), "the admitted client is still served");
        }
        finally
        {
            for (final HostileConnection c : refused)
            {
                c.close();
            }
            one.close();
        }
    }

    @Test
    void subscriptionsPerConnectionAreBoundedWithEnospc() throws Exception
    {
        try (HdmabufClient hoarder = HdmabufClient.connect(system.sourceSocket()))
        {
            final List<Long> ids = new ArrayList<>();
            for (int i = 0; i < Limits.MAX_SUBSCRIPTIONS_PER_CLIENT; i++)
            {
                ids.add(hoarder.subscribe(List.of(), false));
            }
            final HdmabufException full = assertThrows(HdmabufException.class, () -> hoarder.subscribe(List.of(), false));
            assertEquals(ErrorCode.ENOSPC, full.code(), full.getMessage());
            final long other = bystander.subscribe(List.of(), false); // another connection is not limited by it
            bystander.unsubscribe(other);
            hoarder.unsubscribe(ids.get(0));
            hoarder.subscribe(List.of(), false); // room again
        }
    }

    @Test
    void parkedFenceWaitsPerConnectionAreBoundedWithEagain() throws Exception
    {
        try (HdmabufClient producer = HdmabufClient.connect(system.sinkSocket());
             Allocation a = producer.alloc(4096);
             HostileConnection waiter = HostileConnection.open(system.sourceSocket()))
        {
            final Exported e = export(producer, a, "fence-waits");
            awaitKnown(e.getId());
            final int n = Limits.MAX_FENCE_WAITS_PER_CLIENT + 1;
            assertTrue(waiter.send(frames(n, r -> r.setFenceWait(FenceWait.newBuilder().setId(e.getId())
                .setTimeline(Timeline.TIMELINE_ACQUIRE).setValue(1L << 40).setTimeoutMs(600_000)))));
            final Response over = waiter.responseTo(n, TIMEOUT);
            assertNotNull(over, "the wait past the limit is answered at once");
            assertEquals(ErrorCode.EAGAIN, over.getError(), over.getMessage());
            // Another client's wait on the same timeline is still parked and answered.
            assertEquals(ErrorCode.ETIMEDOUT, assertThrows(HdmabufException.class, () -> bystander.fenceWait(e.getId(),
                Timeline.TIMELINE_ACQUIRE, 1, 50)).code());
            producer.free(a.handle());
            // The parked waits end with the export: each answered once with ENOENT (in any order, ABI "Framing").
            final java.util.Set<Long> answered = new java.util.HashSet<>();
            while (answered.size() < n - 1)
            {
                final ServerFrame f = waiter.next(TIMEOUT);
                assertNotNull(f, answered.size() + " of " + (n - 1) + " parked waits answered");
                final Response r = f.getResponse();
                assertEquals(ErrorCode.ENOENT, r.getError(), r.getMessage());
                assertTrue(r.getRequestId() >= 1 && r.getRequestId() < n && answered.add(r.getRequestId()),
                    "one answer per wait: " + r.getRequestId());
            }
        }
    }

    /**
     * A subscriber that stops reading: the daemon queues at most {@link Limits#EVENT_QUEUE_PER_CLIENT} events for
     * it, counts the rest, and once it reads again sends an overflow marker; events received plus events
     * reported dropped equal events published (no silent loss). A reading subscriber gets every event.
     */
    @Test
    void aSubscriberThatNeverReadsGetsAnOverflowMarkerAndNothingIsLostSilently() throws Exception
    {
        // Small events: the count bound applies (plus what fits in the socket and netty's outbound buffer).
        stalledSubscriber("overflow", 0, Limits.EVENT_QUEUE_PER_CLIENT + 3000, Limits.EVENT_QUEUE_PER_CLIENT + 2000);
    }

    /** Large events (7 KiB of tags each): the byte bound, {@link Limits#EVENT_QUEUE_BYTES_PER_CLIENT}, applies. */
    @Test
    void aStalledSubscriberOfLargeEventsIsBoundedInBytes() throws Exception
    {
        final int tagBytes = 7 * 1024;
        stalledSubscriber("overflow-large", tagBytes, 1500, Limits.EVENT_QUEUE_BYTES_PER_CLIENT / tagBytes + 200);
    }

    private void stalledSubscriber(final String test, final int tagBytes, final int published, final int maxReceived)
        throws Exception
    {
        final MatchRule mine = MatchRule.newBuilder().addMatches(Match.newBuilder().setKey("TAG_TEST")
            .setGlob(test)).build();
        try (HdmabufClient producer = HdmabufClient.connect(system.sinkSocket());
             Allocation a = producer.alloc(4096);
             HostileConnection stalled = HostileConnection.openNotReading(system.sourceSocket()))
        {
            assertTrue(stalled.send(HostileConnection.frame(Request.newBuilder().setRequestId(1).setSubscribe(
                Subscribe.newBuilder().addRules(mine)).build())));
            // Its subscription must exist before the first event: a busy daemon may read a new connection's first
            // frame after serving others, and events published before it are not this subscriber's (that race
            // made the count below come out short, looking like silent loss).
            final ServerFrame subscribed = stalled.readOneFrame(TIMEOUT);
            assertNotNull(subscribed, "the stalled subscriber's SUBSCRIBE is answered");
            assertTrue(subscribed.getResponse().hasSubscribed(), subscribed.toString());
            final long sub = bystander.subscribe(List.of(mine), false);
            final Metadata.Builder m = Metadata.newBuilder().setVersion(1).setContentType("application/x-test")
                .putTags("test", test);
            for (int i = 0; i < tagBytes / 1000; i++)
            {
                m.putTags("pad" + i, "p".repeat(1000));
            }
            Exported e = null;
            for (int i = 0; i < published; i++)
            {
                e = producer.export(a.handle(), system.sourceVm(), m.build(), Access.ACCESS_READ_WRITE);
            }
            final long rssKib = DaemonProbe.rssKib(system.source());
            // The reading subscriber sees every event, in order (add, then changes), or, if it fell behind on a
            // loaded machine, a marker counting exactly what it missed.
            long seen = 0;
            long missed = 0;
            while (seen + missed < published)
            {
                final ReceivedEvent r = nextEventOf(sub);
                if (r.isOverflow())
                {
                    missed += r.overflowDropped();
                    continue;
                }
                assertEquals(seen + missed == 0 ? "add" : "change", r.event().action());
                seen++;
            }
            assertEquals(published, seen + missed, "the reading subscriber's events + reported drops");
            stalled.startReading();
            long events = 0;
            long dropped = 0;
            while (events + dropped < published)
            {
                final ServerFrame f = stalled.next(TIMEOUT);
                assertNotNull(f, "after " + events + " events and " + dropped + " reported dropped of " + published +
                    (stalled.isClosedByDaemon() ? ": the daemon closed the connection" : ""));
                if (f.hasEvent())
                {
                    if (f.getEvent().getOverflowDropped() > 0)
                    {
                        assertTrue(f.getEvent().getUevent().isEmpty(), "a marker carries no uevent");
                        dropped += f.getEvent().getOverflowDropped();
                    }
                    else
                    {
                        events++;
                    }
                }
            }
            assertEquals(null, stalled.protocolError(), "every frame the daemon sent parses");
            assertEquals(published, events + dropped, "received + reported dropped = published");
            assertTrue(dropped > 0, "the stalled subscriber overflowed");
            assertTrue(events <= maxReceived, "queued at most the bound: " + events + " > " + maxReceived);
            System.out.printf("%s: %d published, stalled subscriber got %d and markers for %d, reading subscriber " +
                "got %d and markers for %d; source RSS %d KiB%n", test, published, events, dropped, seen, missed, rssKib);
            bystander.unsubscribe(sub);
            producer.unexport(e.getId());
        }
    }

    /** Matching costs O(glob x value): the glob characters of one connection's subscriptions are bounded. */
    @Test
    void theMatchingCostOfOneConnectionsSubscriptionsIsBounded() throws Exception
    {
        try (HdmabufClient hoarder = HdmabufClient.connect(system.sourceSocket()))
        {
            final String glob = "*" + "a".repeat(254) + "b"; // the worst case of the matcher against "aaa..."
            // Rules that each fail only after the matcher's worst case: all are tried for every event.
            final List<MatchRule> big = new ArrayList<>();
            final int rules = Limits.MAX_GLOB_CHARS_PER_CLIENT / (glob.length() + 1);
            for (int i = 0; i < rules; i++)
            {
                big.add(MatchRule.newBuilder().addMatches(Match.newBuilder().setKey("TAG_X").setGlob(glob)).build());
            }
            final long first = hoarder.subscribe(big, false);
            hoarder.subscribe(List.of(MatchRule.newBuilder().addMatches(Match.newBuilder().setKey("A").setGlob("x"))
                .build()), false); // + 2
            final int left = Limits.MAX_GLOB_CHARS_PER_CLIENT - rules * (glob.length() + 1) - 2;
            final HdmabufException over = assertThrows(HdmabufException.class, () -> hoarder.subscribe(List.of(
                MatchRule.newBuilder().addMatches(Match.newBuilder().setKey("A").setGlob("y".repeat(left))).build()),
                false)); // one character over the bound
            assertEquals(ErrorCode.ENOSPC, over.code(), over.getMessage());
            // What the bound costs: an event with a 1 KiB value still reaches another subscriber promptly.
            final long sub = bystander.subscribe(List.of(MatchRule.newBuilder().addMatches(Match.newBuilder()
                .setKey("TAG_TEST").setGlob("glob-cost")).build()), false);
            try (HdmabufClient producer = HdmabufClient.connect(system.sinkSocket());
                 Allocation a = producer.alloc(4096))
            {
                final long t0 = System.nanoTime();
                final Exported e = producer.export(a.handle(), system.sourceVm(), Metadata.newBuilder().setVersion(1)
                    .setContentType("application/x-test").putTags("test", "glob-cost").putTags("x", "a".repeat(1024))
                    .build(), Access.ACCESS_READ_WRITE);
                final ReceivedEvent r = nextEventOf(sub);
                final double ms = (System.nanoTime() - t0) / 1e6;
                assertEquals("add", r.event().action());
                System.out.printf("glob cost: export -> add with a maximal-cost subscriber present: %.1f ms%n", ms);
                producer.unexport(e.getId());
                assertEquals("remove", nextEventOf(sub).event().action());
            }
            bystander.unsubscribe(sub);
            hoarder.unsubscribe(first);
            hoarder.subscribe(big, false); // room again
        }
    }

    /**
     * Regression: a client that sends many IMPORTs and never reads the fd-carrying answers made the daemon
     * queue one open fd per request (a daemon-wide fd exhaustion in reach of one local client). Now the daemon
     * stops serving a connection whose answers back up: its fd count stays flat, and every request is still
     * answered exactly once when the client reads.
     */
    @Test
    void aClientThatDoesNotReadItsAnswersIsNotServedFurtherAndGetsEveryAnswerLater() throws Exception
    {
        try (HdmabufClient producer = HdmabufClient.connect(system.sinkSocket());
             Allocation a = producer.alloc(4096);
             HostileConnection flood = HostileConnection.openNotReading(system.sourceSocket()))
        {
            final Exported e = export(producer, a, "flood");
            awaitKnown(e.getId());
            final int n = 5000;
            assertTrue(flood.send(frames(n, r -> r.setImport(Import.newBuilder().setId(e.getId())))));
            int most = 0;
            for (int i = 0; i < 100; i++)
            {
                assertEquals(system.sourceVm(), bystander.caps().getLocalVm(), "another client is served meanwhile");
                most = Math.max(most, DaemonProbe.openFds(system.source()) - sourceFds);
            }
            assertTrue(most <= 16, "the daemon held " + most + " extra fds for a client that does not read");
            flood.startReading();
            for (int i = 1; i <= n; i++)
            {
                final Response r = flood.responseTo(i, TIMEOUT);
                assertNotNull(r, "answer " + i);
                assertEquals(ErrorCode.OK, r.getError(), r.getMessage());
            }
            Await.until("every answer brought its fd", TIMEOUT, () -> flood.fdsReceived() == n);
            assertEquals(n, bystander.query(e.getId()).getImportCount(), "imports held by the flooding client");
        }
        Await.until("imports released on disconnect", TIMEOUT, () -> queryImportCount() == 0);
    }

    private long queryImportCount() throws Exception
    {
        return bystander.list().getBuffersList().stream().mapToLong(b -> b.getImportCount()).sum();
    }

    /** {@code n} requests with ids 1..n, one after the other in one byte array. */
    private static byte[] frames(final int n, final UnaryOperator<Request.Builder> op)
    {
        final ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int i = 1; i <= n; i++)
        {
            out.writeBytes(HostileConnection.frame(op.apply(Request.newBuilder().setRequestId(i)).build()));
        }
        return out.toByteArray();
    }

    /** The bystander's next event of subscription {@code sub} (events of earlier subscriptions skipped). */
    private ReceivedEvent nextEventOf(final long sub) throws Exception
    {
        while (true)
        {
            final ReceivedEvent r = bystander.nextEvent(TIMEOUT);
            assertNotNull(r, "no event of subscription " + sub + " within " + TIMEOUT);
            if (r.subscriptionId() == sub)
            {
                return r;
            }
        }
    }

    private Exported export(final HdmabufClient producer, final Allocation a, final String test) throws Exception
    {
        return producer.export(a.handle(), system.sourceVm(), Metadata.newBuilder().setVersion(1)
            .setContentType("application/x-test").putTags("test", test).build(), Access.ACCESS_READ_WRITE);
    }

    private void awaitKnown(final BufferId id) throws Exception
    {
        Await.until("the source knows " + id, TIMEOUT, () ->
        {
            try
            {
                return bystander.query(id).getExporterVm() == system.sinkVm();
            }
            catch (final HdmabufException e)
            {
                return false;
            }
        });
    }
}
