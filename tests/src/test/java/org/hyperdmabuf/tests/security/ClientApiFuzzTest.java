package org.hyperdmabuf.tests.security;

import org.hyperdmabuf.abi.v1.BufferId;
import org.hyperdmabuf.abi.v1.BufferInfo;
import org.hyperdmabuf.abi.v1.BufferList;
import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.abi.v1.Response;
import org.hyperdmabuf.abi.v1.Usage;
import org.hyperdmabuf.client.HdmabufClient;
import org.hyperdmabuf.hv.nativeio.LibC;
import org.hyperdmabuf.hv.nativeio.MemFd;
import org.hyperdmabuf.hv.nativeio.Native;
import org.hyperdmabuf.hv.nativeio.UnixSocket;
import org.hyperdmabuf.tests.support.SystemTest;
import org.hyperdmabuf.tests.support.TwoVmSystem;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;
import java.util.function.Predicate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Fuzzes the client API of a live sink and source ({@link ClientApiFuzzer}) while a well-behaved producer and
 * consumer stream through the same daemons ({@link VictimStream}). Every attack is checked against what the ABI
 * says the daemon answers; after every batch both daemons must be alive, the victim stream must still flow
 * without loss and its control path work, the daemons' open fds, pool and quota usage must be back to their
 * baseline, and no daemon may have logged an error.
 * <p>
 * Bounded for CI: {@code -Dhdmabuf.fuzz.seconds=N} (default 40) runs longer, {@code -Dhdmabuf.fuzz.seed=S}
 * replays a run (the seed is printed at the start and in every failure).
 */
// "try": the victim stream is closed by try-with-resources, and stopping its processes may be interrupted.
@SystemTest
@SuppressWarnings("try")
class ClientApiFuzzTest
{
    private static final long SECONDS = Long.getLong("hdmabuf.fuzz.seconds", 40);
    private static final long SEED = Long.getLong("hdmabuf.fuzz.seed", System.nanoTime());
    private static final int OPS_PER_BATCH = 150;
    private static final Duration ANSWER = Duration.ofSeconds(10);

    @Test
    void hostileFramesGetTypedAnswersAndNeverDisturbOtherClients() throws Exception
    {
        System.out.println("ClientApiFuzzTest: seed " + SEED + " (replay with -Dhdmabuf.fuzz.seed=" + SEED +
            "), " + SECONDS + " s");
        final TwoVmSystem system = TwoVmSystem.startInTempDir("hdf", 32L << 20, List.of(), List.of());
        try (VictimStream victim = new VictimStream(system))
        {
            victim.assertFlowing(10, "start");
            final BufferList objects = victim.objects();
            final List<BufferId> victimIds = objects.getBuffersList().stream().map(BufferInfo::getId).toList();
            final List<Long> victimHandles = objects.getBuffersList().stream().map(BufferInfo::getHandle).toList();
            assertEquals(3, victimIds.size(), "the victim stream's exports");
            final ClientApiFuzzer sinkFuzzer = new ClientApiFuzzer(SEED, true, system.sinkVm(), system.sourceVm(),
                victimIds, victimHandles);
            final ClientApiFuzzer sourceFuzzer = new ClientApiFuzzer(SEED + 1, false, system.sourceVm(),
                system.sinkVm(), victimIds, victimHandles);
            final long pool = DaemonProbe.poolFree(system.sinkSocket());
            final List<Usage> usage = usage(system);

            // One batch first, so lazily opened files (jars, classes) are part of the baseline.
            batches(system, sinkFuzzer, sourceFuzzer, 0);
            DaemonProbe.awaitPool(system.sinkSocket(), pool, "warm-up, seed " + SEED);
            final int sinkFds = DaemonProbe.openFds(system.sink());
            final int sourceFds = DaemonProbe.openFds(system.source());
            final long rssBefore = DaemonProbe.rssKib(system.sink()) + DaemonProbe.rssKib(system.source());

            final long end = System.nanoTime() + SECONDS * 1_000_000_000L;
            int batches = 0;
            while (System.nanoTime() < end)
            {
                batches++;
                final String context = "seed " + SEED + ", batch " + batches;
                batches(system, sinkFuzzer, sourceFuzzer, batches);
                assertTrue(system.sink().isAlive() && system.source().isAlive(), context + ": a daemon died");
                victim.assertFlowing(3, context);
                victim.assertControlPathWorks(context);
                DaemonProbe.awaitPool(system.sinkSocket(), pool, context);
                assertEquals(usage, usage(system), context + ": quota usage changed");
                DaemonProbe.awaitFds(system.sink(), sinkFds, context);
                DaemonProbe.awaitFds(system.source(), sourceFds, context);
                assertEquals(List.of(), system.errorLines(), context + ": a daemon logged an error");
            }
            final long rssAfter = DaemonProbe.rssKib(system.sink()) + DaemonProbe.rssKib(system.source());
            System.out.printf("ClientApiFuzzTest: seed %d, %d batches x 2 daemons x %d attacks, victim frames %d, " +
                    "daemon fds sink %d source %d (baseline kept), RSS sink+source %d -> %d KiB%n", SEED, batches,
                OPS_PER_BATCH, victim.framesReceived(), sinkFds, sourceFds, rssBefore, rssAfter);
            assertTrue(batches >= 1, "at least one checked batch");
        }
        finally
        {
            system.closeAndVerify();
        }
    }

    private static List<Usage> usage(final TwoVmSystem system) throws Exception
    {
        try (HdmabufClient c = HdmabufClient.connect(system.sinkSocket()))
        {
            return c.stats().getUsageList();
        }
    }

    /** A batch against the sink and one against the source at the same time (connections close concurrently). */
    private static void batches(final TwoVmSystem system, final ClientApiFuzzer sinkFuzzer,
        final ClientApiFuzzer sourceFuzzer, final int batch) throws Exception
    {
        final FutureTask<Void> sink = new FutureTask<>(() ->
        {
            batch(system, sinkFuzzer, system.sinkSocket(), "sink", batch);
            return null;
        });
        final Thread t = new Thread(sink, "fuzz-sink");
        t.start();
        Throwable failure = null;
        try
        {
            batch(system, sourceFuzzer, system.sourceSocket(), "source", batch);
        }
        catch (final Exception | AssertionError e)
        {
            failure = e;
        }
        try
        {
            sink.get();
        }
        catch (final ExecutionException e)
        {
            failure = failure == null ? e.getCause() : failure;
        }
        if (failure instanceof Exception e)
        {
            throw e;
        }
        if (failure != null)
        {
            throw (Error)failure;
        }
    }

    /** One connection (reopened whenever an attack ends it) sending {@link #OPS_PER_BATCH} attacks. */
    private static void batch(final TwoVmSystem system, final ClientApiFuzzer fuzzer, final Path socket,
        final String daemon, final int batch) throws Exception
    {
        HostileConnection c = HostileConnection.open(socket);
        fuzzer.newConnection();
        // FENCE_WAITs sent on this connection whose answer was not read yet, by request id (a mutated frame can
        // parse as a wait with any id, 0 included, the id of the daemon's EBADMSG/EMSGSIZE answers).
        final Map<Long, Integer> unansweredWaits = new HashMap<>();
        try
        {
            for (int i = 0; i < OPS_PER_BATCH; i++)
            {
                final ClientApiFuzzer.Attack a = fuzzer.next();
                final String context = "seed " + SEED + ", " + daemon + " batch " + batch + " attack " + i + ": " + a;
                final int[] fds = openFds(a.fds(), socket);
                final boolean sent;
                try
                {
                    sent = c.send(a.bytes(), fds);
                }
                finally
                {
                    for (final int fd : fds)
                    {
                        Native.closeQuietly(fd);
                    }
                }
                if (!sent && a.expect() != ClientApiFuzzer.Expect.EMSGSIZE_AND_CLOSE)
                {
                    fail(context + ": the daemon closed the connection");
                }
                switch (a.expect())
                {
                    case ANSWER -> {
                        final Response r = answer(c, a.requestId(), a.exactError() == null ? any -> true :
                            x -> x.getError() == a.exactError(), unansweredWaits);
                        assertNotNull(r, context + ": no answer" + (c.isClosedByDaemon() ? " (connection closed)" : ""));
                        assertNotEquals(ErrorCode.EIO, r.getError(), context + ": internal error " + r.getMessage());
                        if (a.exactError() != null)
                        {
                            assertEquals(a.exactError(), r.getError(), context + ": " + r.getMessage());
                        }
                        fuzzer.observe(r);
                    }
                    case MAYBE_ANSWER -> // a FENCE_WAIT may park: its answer, now or later, is owed (see answer())
                        unansweredWaits.merge(a.requestId(), 1, Integer::sum);
                    case EBADMSG -> {
                        final Response r = answer(c, 0, x -> x.getError() == ErrorCode.EBADMSG, unansweredWaits);
                        assertNotNull(r, context + ": no EBADMSG");
                        assertEquals(ErrorCode.EBADMSG, r.getError(), context + ": " + r.getMessage());
                    }
                    case EMSGSIZE_AND_CLOSE -> {
                        final Response r = answer(c, 0, x -> x.getError() == ErrorCode.EMSGSIZE, unansweredWaits);
                        assertNotNull(r, context + ": no EMSGSIZE");
                        assertEquals(ErrorCode.EMSGSIZE, r.getError(), context + ": " + r.getMessage());
                        assertTrue(c.awaitClosed(ANSWER), context + ": the daemon kept an unframeable stream open");
                        c = reopen(c, socket, fuzzer);
                        unansweredWaits.clear();
                    }
                    case CLIENT_CLOSES -> {
                        c = reopen(c, socket, fuzzer);
                        unansweredWaits.clear();
                    }
                }
                assertNull(c.protocolError(), context);
                if (c.isClosedByDaemon())
                {
                    fail(context + ": the daemon closed a connection whose framing was intact");
                }
            }
        }
        finally
        {
            c.close();
        }
    }

    /**
     * The answer with {@code requestId} that {@code fits} what the attack expects, or the first answer with that id
     * if none fits. An answer that does not fit is skipped only while an earlier FENCE_WAIT with the same id is
     * unanswered (it is that wait's answer: answers are matched by request id alone, ABI.md "Framing"), so a daemon
     * that answers a malformed frame wrongly still fails the test.
     */
    private static Response answer(final HostileConnection c, final long requestId, final Predicate<Response> fits,
        final Map<Long, Integer> unansweredWaits) throws InterruptedException
    {
        while (true)
        {
            final Response r = c.responseTo(requestId, ANSWER);
            if (r == null || fits.test(r) || unansweredWaits.getOrDefault(requestId, 0) == 0)
            {
                return r;
            }
            unansweredWaits.merge(requestId, -1, Integer::sum);
        }
    }

    private static HostileConnection reopen(final HostileConnection c, final Path socket,
        final ClientApiFuzzer fuzzer) throws Exception
    {
        c.close();
        fuzzer.newConnection();
        return HostileConnection.open(socket);
    }

    /** Opens the fds an attack attaches: memfds, /dev/null, sockets, eventfds, connections to the daemon itself. */
    private static int[] openFds(final ClientApiFuzzer.FdKind[] kinds, final Path socket) throws Exception
    {
        final LibC libc = Native.libc();
        final int[] fds = new int[kinds.length];
        for (int i = 0; i < kinds.length; i++)
        {
            fds[i] = switch (kinds[i])
            {
                case MEMFD -> MemFd.create("fuzz", 4096);
                case DEV_NULL -> Native.check(libc.open("/dev/null", Native.O_RDONLY | Native.O_CLOEXEC, 0), "open");
                case SOCKET -> Native.check(libc.socket(Native.AF_UNIX, Native.SOCK_STREAM | Native.SOCK_CLOEXEC, 0),
                    "socket");
                case EVENTFD -> Native.check(libc.eventfd(0, Native.EFD_CLOEXEC), "eventfd");
                case DAEMON_SOCKET -> UnixSocket.connect(socket.toString()).fd();
            };
        }
        return fds;
    }
}
