package org.hyperdmabuf.tests.e2e;

import org.hyperdmabuf.abi.BufferIds;
import org.hyperdmabuf.abi.v1.Access;
import org.hyperdmabuf.abi.v1.BufferId;
import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.abi.v1.FenceState;
import org.hyperdmabuf.abi.v1.Metadata;
import org.hyperdmabuf.abi.v1.Timeline;
import org.hyperdmabuf.client.Allocation;
import org.hyperdmabuf.client.HdmabufClient;
import org.hyperdmabuf.client.HdmabufException;
import org.hyperdmabuf.client.ImportedBuffer;
import org.hyperdmabuf.tests.support.Await;
import org.hyperdmabuf.tests.support.SystemTest;
import org.hyperdmabuf.tests.support.TwoVmSystem;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Map;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.stream.Stream;

import static org.hyperdmabuf.tests.e2e.E2e.TIMEOUT;
import static org.hyperdmabuf.tests.e2e.E2e.fill;
import static org.hyperdmabuf.tests.e2e.E2e.firstMismatch;
import static org.hyperdmabuf.tests.e2e.E2e.nextEvent;
import static org.hyperdmabuf.tests.e2e.E2e.rule;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * One client connection used by many threads at once, against real daemons: the threads that wait read the
 * socket themselves (leader/follower, no reader thread), so these tests check that every thread gets its own
 * response and fds, that nobody is stuck behind a thread blocked in a long FENCE_WAIT, that an event waiter
 * alone reads its events, that a dying daemon or close() releases every waiter with a typed error, and how
 * many wakeups a call costs.
 */
// "try": an import held open by try-with-resources for the duration of a check.
@SystemTest
@SuppressWarnings("try")
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ClientConcurrencyE2eTest
{
    private static final long REGION = 64L << 20;
    private static final int PAGE = 4096;
    private static final int THREADS = 8;
    private static final Metadata META = Metadata.newBuilder().setVersion(1)
        .setContentType("application/octet-stream").putTags("test", "concurrency").build();

    private TwoVmSystem system;
    private final ExecutorService pool = Executors.newCachedThreadPool();

    @BeforeAll
    void start() throws Exception
    {
        system = TwoVmSystem.startInTempDir("hdcc", REGION, List.of(), List.of());
    }

    @AfterAll
    void stop() throws Exception
    {
        pool.shutdownNow();
        if (system != null)
        {
            system.closeAndVerify();
        }
    }

    /**
     * 8 threads on one consumer connection import, check and release 8 buffers of distinct content over and
     * over while 8 threads on one producer connection allocate buffers of distinct sizes: replies with fds
     * interleave, each thread must map exactly its own buffer, and no fd is left behind.
     */
    @Test
    void concurrentCallsEachGetTheirOwnReplyAndFds() throws Exception
    {
        try (HdmabufClient producer = HdmabufClient.connect(system.sinkSocket());
             HdmabufClient consumer = HdmabufClient.connect(system.sourceSocket()))
        {
            consumer.subscribe(List.of(rule("TAG_TEST=concurrency")), false);
            final List<Allocation> allocations = new ArrayList<>();
            final List<BufferId> ids = new ArrayList<>();
            for (int i = 0; i < THREADS; i++)
            {
                final Allocation a = producer.alloc((i + 1) * PAGE);
                fill(a.buffer().bytes(), 100 + i);
                allocations.add(a);
                ids.add(producer.export(a.handle(), system.sourceVm(), META, Access.ACCESS_READ_ONLY).getId());
                E2e.awaitEvent(consumer, "add", BufferIds.format(ids.get(i)), null);
            }
            consumer.caps(); // the page size is cached before counting fds
            final long fdsBefore = openFds();
            final int rounds = 25;
            final List<Future<?>> work = new ArrayList<>();
            final CountDownLatch go = new CountDownLatch(1);
            for (int t = 0; t < THREADS; t++)
            {
                final int i = t;
                work.add(pool.submit(() ->
                {
                    go.await();
                    for (int r = 0; r < rounds; r++)
                    {
                        try (ImportedBuffer b = consumer.importBuffer(ids.get(i)))
                        {
                            assertEquals((i + 1) * PAGE, b.buffer().length(), "thread " + i + " got the size of " +
                                "another thread's import");
                            assertEquals(-1, firstMismatch(b.buffer().bytes(), 100 + i), "thread " + i +
                                " mapped another thread's buffer");
                        }
                        consumer.release(ids.get(i));
                    }
                    return null;
                }));
                work.add(pool.submit(() ->
                {
                    go.await();
                    for (int r = 0; r < rounds; r++)
                    {
                        try (Allocation a = producer.alloc((i + 20) * PAGE))
                        {
                            assertEquals((i + 20) * PAGE, a.buffer().length(), "thread " + i +
                                " got another thread's ALLOC response");
                            producer.free(a.handle());
                        }
                    }
                    return null;
                }));
            }
            go.countDown();
            for (final Future<?> f : work)
            {
                f.get(TIMEOUT.toMillis() * 3, TimeUnit.MILLISECONDS);
            }
            assertEquals(fdsBefore, openFds(), "fds received for the imports and allocations were all closed");
            for (int i = 0; i < THREADS; i++)
            {
                producer.unexport(ids.get(i));
                producer.free(allocations.get(i).handle());
                allocations.get(i).close();
            }
        }
    }

    /**
     * A thread blocked in a FENCE_WAIT that nobody signals for a while is the one reading the socket; other
     * threads' calls on the same connection still complete promptly (the reader hands each its response and
     * wakes it), and the wait completes when the fence is finally signalled.
     */
    @Test
    void callsCompleteWhileTheReadingThreadBlocksInALongFenceWait() throws Exception
    {
        try (HdmabufClient producer = HdmabufClient.connect(system.sinkSocket());
             HdmabufClient consumer = HdmabufClient.connect(system.sourceSocket());
             Allocation a = producer.alloc(PAGE))
        {
            consumer.subscribe(List.of(rule("TAG_TEST=concurrency")), false);
            final BufferId id = producer.export(a.handle(), system.sourceVm(), META, Access.ACCESS_READ_WRITE).getId();
            E2e.awaitEvent(consumer, "add", BufferIds.format(id), null);
            try (ImportedBuffer imported = consumer.importBuffer(id))
            {
                final Thread[] waiter = new Thread[1];
                final Future<FenceState> blocked = pool.submit(() ->
                {
                    waiter[0] = Thread.currentThread();
                    return consumer.fenceWait(id, Timeline.TIMELINE_ACQUIRE, 1, TIMEOUT.toMillis() * 3);
                });
                Await.until("the fence waiter to read the socket", TIMEOUT, () -> waiter[0] != null &&
                    inMethod(waiter[0], "lead"));

                final List<Future<Integer>> calls = new ArrayList<>();
                for (int t = 0; t < 4; t++)
                {
                    calls.add(pool.submit(() ->
                    {
                        int n = 0;
                        for (int r = 0; r < 20; r++)
                        {
                            n += consumer.caps().getPageSize() > 0 ? 1 : 0;
                            assertNotNull(consumer.query(id));
                        }
                        return n;
                    }));
                }
                for (final Future<Integer> c : calls)
                {
                    assertEquals(20, c.get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS),
                        "calls behind a blocked FENCE_WAIT complete");
                }
                assertFalse(blocked.isDone(), "nothing signalled acquire 1 yet: the FENCE_WAIT still blocks");
                producer.fenceSignal(id, Timeline.TIMELINE_ACQUIRE, 1, 0);
                assertEquals(1, blocked.get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS).getValue());
                consumer.release(id);
            }
            producer.unexport(id);
            producer.free(a.handle());
        }
    }

    /** A thread waiting for events with no other activity on its connection reads them itself. */
    @Test
    void anEventWaiterAloneReceivesEvents() throws Exception
    {
        try (HdmabufClient producer = HdmabufClient.connect(system.sinkSocket());
             HdmabufClient consumer = HdmabufClient.connect(system.sourceSocket());
             Allocation a = producer.alloc(PAGE))
        {
            consumer.subscribe(List.of(rule("TAG_TEST=alone")), false);
            final Metadata meta = META.toBuilder().putTags("test", "alone").build();
            final Future<String> first = pool.submit(() -> nextEvent(consumer).get("BUFFER"));
            final BufferId id = producer.export(a.handle(), system.sourceVm(), meta, Access.ACCESS_READ_ONLY).getId();
            assertEquals(BufferIds.format(id), first.get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS));

            // Events that arrive while nobody waits stay in the socket until somebody asks.
            producer.unexport(id);
            final BufferId again = producer.export(a.handle(), system.sourceVm(), meta, Access.ACCESS_READ_ONLY)
                .getId();
            assertEquals("remove", nextEvent(consumer).action());
            assertEquals(BufferIds.format(again), nextEvent(consumer).get("BUFFER"));
            producer.unexport(again);
            assertEquals("remove", nextEvent(consumer).action());
            producer.free(a.handle());
        }
    }

    /** close() while threads wait in calls and for events: each fails with EBADF, nobody stays blocked. */
    @Test
    void closeReleasesEveryWaiter() throws Exception
    {
        {
            final long fdsBefore = openFds();
            final HdmabufClient client = HdmabufClient.connect(system.sinkSocket());
            final Allocation a = client.alloc(PAGE);
            final BufferId id = client.export(a.handle(), system.sourceVm(), META, Access.ACCESS_READ_WRITE).getId();
            client.subscribe(List.of(rule("TAG_TEST=nothing-matches-this")), false);
            final List<Thread> threads = new ArrayList<>();
            final List<Future<Object>> waits = new ArrayList<>();
            for (int t = 0; t < 3; t++)
            {
                waits.add(submitRecordingThread(threads, () ->
                    client.fenceWait(id, Timeline.TIMELINE_RELEASE, 1, TIMEOUT.toMillis() * 3)));
            }
            waits.add(submitRecordingThread(threads, () -> client.nextEvent(TIMEOUT.multipliedBy(3))));
            Await.until("4 threads waiting on the connection", TIMEOUT, () -> threads.size() == 4 &&
                threads.stream().filter(t -> inMethod(t, "awaitReply") || inMethod(t, "nextEvent")).count() == 4);

            client.close();
            for (final Future<Object> w : waits)
            {
                assertEquals(ErrorCode.EBADF, failure(w).code());
            }
            assertEquals(ErrorCode.EBADF, E2e.errorOf(client::caps), "calls after close");
            a.close();
            assertEquals(fdsBefore, openFds(), "the connection's fd is closed");
        }
    }

    /**
     * The sink daemon is killed while threads wait on its connection (one of them reading the socket, the
     * others parked): every waiter fails with EPEERLOST, and so does the next call.
     */
    @Test
    void aKilledDaemonFailsEveryWaiter() throws Exception
    {
        final TwoVmSystem own = TwoVmSystem.startInTempDir("hdck", REGION, List.of(), List.of());
        try
        {
            final HdmabufClient producer = HdmabufClient.connect(own.sinkSocket());
            final Allocation a = producer.alloc(PAGE);
            final BufferId id = producer.export(a.handle(), own.sourceVm(), META, Access.ACCESS_READ_WRITE).getId();
            producer.subscribe(List.of(rule("TAG_TEST=nothing-matches-this")), false);
            final List<Thread> threads = new ArrayList<>();
            final List<Future<Object>> waits = new ArrayList<>();
            for (int t = 0; t < 3; t++)
            {
                waits.add(submitRecordingThread(threads, () ->
                    producer.fenceWait(id, Timeline.TIMELINE_RELEASE, 1, TIMEOUT.toMillis() * 3)));
            }
            waits.add(submitRecordingThread(threads, () -> producer.nextEvent(TIMEOUT.multipliedBy(3))));
            Await.until("4 threads waiting on the connection", TIMEOUT, () -> threads.size() == 4 &&
                threads.stream().filter(t -> inMethod(t, "awaitReply") || inMethod(t, "nextEvent")).count() == 4);

            own.sink().kill();
            for (final Future<Object> w : waits)
            {
                assertEquals(ErrorCode.EPEERLOST, failure(w).code());
            }
            assertEquals(ErrorCode.EPEERLOST, E2e.errorOf(producer::caps), "calls after the daemon died");
            assertTrue(producer.isBroken());
            producer.close();
            a.close();
        }
        finally
        {
            own.close();
            E2e.deleteTree(own.dir());
        }
    }

    /**
     * Voluntary context switches of this process per call, for sequential EXPORT + UNEXPORT pairs on one
     * connection: a thread that reads its own reply blocks once per round trip; a separate reader thread
     * would add its own block and the caller's wakeup (about 2 per call). Counted by the kernel, so the figure
     * does not depend on the machine's load. Printed for bench/README.md ("Client wakeups").
     */
    @Test
    void aCallCostsOneWakeup() throws Exception
    {
        try (HdmabufClient producer = HdmabufClient.connect(system.sinkSocket());
             Allocation a = producer.alloc(PAGE))
        {
            final int warmup = 500;
            final int pairs = 2000;
            for (int i = 0; i < warmup; i++)
            {
                producer.unexport(producer.export(a.handle(), system.sourceVm(), META, Access.ACCESS_READ_ONLY)
                    .getId());
            }
            final Map<String, Long> processBefore = voluntarySwitchesByThread();
            final long threadBefore = voluntarySwitches(Path.of("/proc/thread-self/status"));
            for (int i = 0; i < pairs; i++)
            {
                producer.unexport(producer.export(a.handle(), system.sourceVm(), META, Access.ACCESS_READ_ONLY)
                    .getId());
            }
            final Map<String, Long> processAfter = voluntarySwitchesByThread();
            long process = 0;
            for (final Map.Entry<String, Long> t : processAfter.entrySet())
            {
                process += t.getValue() - processBefore.getOrDefault(t.getKey(), 0L);
            }
            final double perCall = process / (2.0 * pairs);
            final double callerPerCall = (voluntarySwitches(Path.of("/proc/thread-self/status")) - threadBefore) /
                (2.0 * pairs);
            System.out.printf("client wakeups: %d EXPORT+UNEXPORT pairs: %.2f voluntary context switches per call " +
                "(process), %.2f (calling thread)%n", pairs, perCall, callerPerCall);
            // The events queue of the source drains them; 1 per call is the floor when the reply is not yet
            // there, below it when it already is. A reader thread makes it about 2.
            assertTrue(perCall < 1.5, "voluntary context switches per call: " + perCall);
            producer.free(a.handle());
        }
    }

    /**
     * Interrupting a thread that reads the socket itself ends its wait as the old blocking queue did:
     * {@code nextEvent} throws InterruptedException, a call fails with EIO; the connection stays usable.
     */
    @Test
    void anInterruptEndsAReadingThreadsWait() throws Exception
    {
        try (HdmabufClient client = HdmabufClient.connect(system.sinkSocket()))
        {
            client.subscribe(List.of(rule("TAG_TEST=nothing-matches-this")), false);
            final List<Thread> threads = new ArrayList<>();
            final Future<Object> waiting = submitRecordingThread(threads, () ->
                client.nextEvent(TIMEOUT.multipliedBy(3)));
            Await.until("the event waiter to read the socket", TIMEOUT, () -> inMethod(threads.get(0), "lead"));
            threads.get(0).interrupt();
            try
            {
                waiting.get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
                throw new AssertionError("nextEvent returned instead of throwing");
            }
            catch (final ExecutionException e)
            {
                assertInstanceOf(InterruptedException.class, e.getCause());
            }
            assertTrue(client.caps().getPageSize() > 0, "the connection is still usable");
        }
    }

    /**
     * A call answered on the calling thread leaves no unpark permit behind: the application's own
     * {@code LockSupport.parkNanos} (a pacing loop, say) must still wait. The bench's producer paces exports
     * this way, and a stray permit made it run at twice its rate.
     */
    @Test
    void aCallLeavesNoParkPermit() throws Exception
    {
        try (HdmabufClient client = HdmabufClient.connect(system.sinkSocket()))
        {
            for (int i = 0; i < 20; i++)
            {
                client.caps();
                final long start = System.nanoTime();
                LockSupport.parkNanos(5_000_000L);
                final long parked = System.nanoTime() - start;
                assertTrue(parked >= 4_000_000L, "parkNanos(5 ms) after a call returned after " + parked + " ns");
            }
        }
    }

    private Future<Object> submitRecordingThread(final List<Thread> threads, final Callable<Object> call)
    {
        final CompletableFuture<Object> result = new CompletableFuture<>();
        final Thread t = new Thread(() ->
        {
            try
            {
                result.complete(call.call());
            }
            catch (final Throwable e)
            {
                result.completeExceptionally(e);
            }
        }, "cc-waiter-" + threads.size());
        t.setDaemon(true);
        synchronized (threads)
        {
            threads.add(t);
        }
        t.start();
        return result;
    }

    private static HdmabufException failure(final Future<Object> wait) throws Exception
    {
        try
        {
            final Object r = wait.get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            throw new AssertionError("the wait returned " + r + " instead of failing");
        }
        catch (final ExecutionException e)
        {
            return assertInstanceOf(HdmabufException.class, e.getCause());
        }
    }

    private static boolean inMethod(final Thread thread, final String method)
    {
        for (final StackTraceElement f : thread.getStackTrace())
        {
            if (f.getMethodName().equals(method) && f.getClassName().startsWith("org.hyperdmabuf.client."))
            {
                return true;
            }
        }
        return false;
    }

    private static long openFds() throws IOException
    {
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd")))
        {
            return fds.count();
        }
    }

    /** Per thread id, so that a thread ending between two samples does not lower the sum. */
    private static Map<String, Long> voluntarySwitchesByThread() throws IOException
    {
        final Map<String, Long> byThread = new HashMap<>();
        try (Stream<Path> tasks = Files.list(Path.of("/proc/self/task")))
        {
            for (final Path t : tasks.toList())
            {
                try
                {
                    byThread.put(t.getFileName().toString(), voluntarySwitches(t.resolve("status")));
                }
                catch (final IOException e)
                {
                    // the thread ended while we listed
                }
            }
        }
        return byThread;
    }

    private static long voluntarySwitches(final Path status) throws IOException
    {
        for (final String line : Files.readAllLines(status))
        {
            if (line.startsWith("voluntary_ctxt_switches:"))
            {
                return Long.parseLong(line.substring(line.indexOf(':') + 1).trim());
            }
        }
        throw new IOException("no voluntary_ctxt_switches in " + status);
    }
}
