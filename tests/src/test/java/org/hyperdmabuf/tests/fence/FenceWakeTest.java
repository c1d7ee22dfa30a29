package org.hyperdmabuf.tests.fence;

import org.hyperdmabuf.abi.FenceAbi;
import org.hyperdmabuf.abi.v1.Access;
import org.hyperdmabuf.abi.v1.BufferId;
import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.abi.v1.Exported;
import org.hyperdmabuf.abi.v1.Metadata;
import org.hyperdmabuf.cli.ChildProcess;
import org.hyperdmabuf.client.Allocation;
import org.hyperdmabuf.client.Fence;
import org.hyperdmabuf.client.HdmabufClient;
import org.hyperdmabuf.client.HdmabufException;
import org.hyperdmabuf.client.ImportedBuffer;
import org.hyperdmabuf.hv.nativeio.Native;
import org.hyperdmabuf.hv.nativeio.Poller;
import org.hyperdmabuf.tests.support.Await;
import org.hyperdmabuf.tests.support.SystemTest;
import org.hyperdmabuf.tests.support.TwoVmSystem;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Direct fence wake-ups (ABI.md "Direct fence wake-ups", FENCE_WAKE) on kvm-ivshmem host mode: a waiter
 * leases one of its VM's wake vectors and the other VM's signaller rings it, with no daemon in between;
 * leases are exclusive, limited (14 with the server's default 16 vectors), returned on release and on
 * disconnect, and a closed timeline or a dead daemon still ends the wait.
 */
// "try": imports held open by try-with-resources for the duration of a check.
@SystemTest
@SuppressWarnings("try")
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class FenceWakeTest
{
    private static final Duration TIMEOUT = Duration.ofSeconds(20);
    /** Wake vectors per VM with the embedded server's default of 16 vectors. */
    private static final int WAKE_VECTORS = 16 - FenceAbi.FIRST_WAKE_VECTOR;

    private TwoVmSystem system;
    private HdmabufClient producer;
    private HdmabufClient consumer;

    @BeforeAll
    void start() throws Exception
    {
        system = TwoVmSystem.startInTempDir("hdw", 64L << 20, List.of(), List.of());
        producer = HdmabufClient.connect(system.sinkSocket());
        consumer = HdmabufClient.connect(system.sourceSocket());
    }

    @AfterAll
    void stop() throws Exception
    {
        if (producer != null)
        {
            producer.close();
        }
        if (consumer != null)
        {
            consumer.close();
        }
        if (system != null)
        {
            system.closeAndVerify();
        }
    }

    private Exported export(final Allocation a, final int target) throws Exception
    {
        return export(a, target, Access.ACCESS_READ_WRITE);
    }

    private Exported export(final Allocation a, final int target, final Access access) throws Exception
    {
        final Exported e = producer.export(a.handle(), target, Metadata.newBuilder()
            .setContentType("application/x-fence-wake").build(), access);
        awaitImportable(consumer, e.getId());
        return e;
    }

    /** EXPORT answers once the announcement is sent: import once the source has taken it in. */
    private static void awaitImportable(final HdmabufClient c, final BufferId id) throws Exception
    {
        final long deadline = System.nanoTime() + TIMEOUT.toNanos();
        while (true)
        {
            try
            {
                c.importBuffer(id).close();
                c.release(id);
                return;
            }
            catch (final HdmabufException ex)
            {
                if (ex.code() != ErrorCode.ENOENT || System.nanoTime() > deadline)
                {
                    throw ex;
                }
                Thread.onSpinWait();
            }
        }
    }

    /** Whether {@code fd} becomes readable within {@code millis}. */
    private static boolean readable(final int fd, final int millis) throws Exception
    {
        final Poller p = new Poller();
        final int i = p.add(fd);
        p.poll(millis);
        return p.readable(i);
    }

    /** What a lease test does with one exported, imported buffer and the consumer's wake lease of it. */
    @FunctionalInterface
    private interface LeaseCheck
    {
        void run(Fence producerSide, ImportedBuffer imported, HdmabufClient.WakeLease lease) throws Exception;
    }

    /** Exports one buffer with {@code access}, imports it, leases the consumer's wake vector, runs the check. */
    private void withLease(final Access access, final LeaseCheck check) throws Exception
    {
        try (Allocation a = producer.alloc(4096))
        {
            final Exported e = export(a, system.sourceVm(), access);
            try (Fence mine = producer.fence(a, e);
                 ImportedBuffer theirs = consumer.importBuffer(e.getId()))
            {
                final HdmabufClient.WakeLease lease = consumer.openFenceWake(e.getId());
                assertNotNull(lease, "a wake vector is leased");
                try
                {
                    assertNull(consumer.openFenceWake(e.getId()), "one lease per client and buffer (EBUSY)");
                    check.run(mine, theirs, lease);
                }
                finally
                {
                    Native.closeQuietly(lease.fd());
                }
            }
            finally
            {
                consumer.release(e.getId());
                producer.unexport(e.getId());
                producer.free(a.handle());
            }
        }
    }

    /**
     * A read-only import cannot store its bit around each sleep, so the daemon holds it for the whole lease: the
     * producer's signal rings the leased eventfd itself, and nothing rings it before.
     */
    @Test
    void forAReadOnlyImportTheDaemonHoldsTheBitAndTheSignallerRingsTheLease() throws Exception
    {
        withLease(Access.ACCESS_READ_ONLY, (mine, theirs, lease) ->
        {
            assertTrue(lease.bitHeldByDaemon(), "read-only: the daemon holds the bit");
            assertTrue(lease.vector() >= FenceAbi.FIRST_WAKE_VECTOR && lease.vector() < 16,
                "vector " + lease.vector());
            assertEquals("anon_inode:[eventfd]", Files.readSymbolicLink(Path.of("/proc/self/fd/" + lease.fd()))
                .toString());
            assertFalse(readable(lease.fd(), 0), "nothing rang yet");
            mine.signal(1);
            assertTrue(readable(lease.fd(), (int)TIMEOUT.toMillis()), "the producer's signal rang the lease");
            assertEquals(1, theirs.fence().acquireValue());
        });
    }

    /**
     * A writable import sets its bit only while it sleeps: leased but not asleep, a signal does not ring it
     * (signallers do not pay a doorbell for a waiter that spins), and the bit is the client's to set.
     */
    @Test
    void aWritableWaiterIsRungOnlyWhileItsBitIsSet() throws Exception
    {
        withLease(Access.ACCESS_READ_WRITE, (mine, theirs, lease) ->
        {
            assertFalse(lease.bitHeldByDaemon(), "writable: the client sets its bit around each sleep");
            mine.signal(1);
            assertEquals(1, theirs.fence().acquireValue());
            assertFalse(readable(lease.fd(), 200), "a signal while the bit is clear rings nothing");
        });
    }

    @Test
    void blockingWaitsRunBothWaysOnLeasesAndFallBackToTheDaemonWhenAllAreTaken() throws Exception
    {
        final List<HdmabufClient> holders = new ArrayList<>();
        try (Allocation a = producer.alloc(4096))
        {
            final Exported e = export(a, system.sourceVm());
            try (Fence mine = producer.fence(a, e);
                 ImportedBuffer theirs = consumer.importBuffer(e.getId()))
            {
                // Both sides block on leases (the first BLOCK wait of each Fence takes one).
                pingPong(mine, theirs.fence(), 1, 200);
                assertNull(consumer.openFenceWake(e.getId()), "the consumer's Fence holds its lease");
                assertNull(producer.openFenceWake(e.getId()), "the producer's Fence holds its lease");
                // Take every other wake vector of the consumer's VM: one client each.
                for (int i = 1; i < WAKE_VECTORS; i++)
                {
                    final HdmabufClient c = HdmabufClient.connect(system.sourceSocket());
                    holders.add(c);
                    c.importBuffer(e.getId()).close();
                    final HdmabufClient.WakeLease l = c.openFenceWake(e.getId());
                    assertNotNull(l, "lease " + (i + 1) + " of " + WAKE_VECTORS);
                    Native.closeQuietly(l.fd()); // the lease stays until c disconnects
                }
                final HdmabufClient late = HdmabufClient.connect(system.sourceSocket());
                holders.add(late);
                try (ImportedBuffer lateImport = late.importBuffer(e.getId()))
                {
                    assertNull(late.openFenceWake(e.getId()), "all wake vectors leased (EBUSY)");
                    // Its BLOCK waits still work, through FENCE_WAIT in the daemon.
                    final CompletableFuture<Long> w = CompletableFuture.supplyAsync(() -> awaitQuietly(lateImport
                        .fence(), 201));
                    mine.signal(201);
                    assertEquals(201, w.get(TIMEOUT.toSeconds(), TimeUnit.SECONDS));
                    // A holder that disconnects gives its vector back.
                    holders.remove(0).close();
                    final long deadline = System.nanoTime() + TIMEOUT.toNanos();
                    HdmabufClient.WakeLease again;
                    while ((again = late.openFenceWake(e.getId())) == null && System.nanoTime() < deadline)
                    {
                        Thread.onSpinWait();
                    }
                    assertNotNull(again, "the disconnected holder's vector is leased again");
                    Native.closeQuietly(again.fd());
                }
            }
            finally
            {
                for (final HdmabufClient c : holders)
                {
                    c.close();
                }
                consumer.release(e.getId());
                producer.unexport(e.getId());
                producer.free(a.handle());
            }
        }
        // Every lease ended with its import or export: all vectors are free again.
        try (Allocation a = producer.alloc(4096))
        {
            final Exported e = export(a, system.sourceVm());
            final List<HdmabufClient> again = new ArrayList<>();
            try
            {
                for (int i = 0; i < WAKE_VECTORS; i++)
                {
                    final HdmabufClient c = HdmabufClient.connect(system.sourceSocket());
                    again.add(c);
                    c.importBuffer(e.getId()).close();
                    final HdmabufClient.WakeLease l = c.openFenceWake(e.getId());
                    assertNotNull(l, "lease " + (i + 1) + " after the others ended");
                    Native.closeQuietly(l.fd());
                }
            }
            finally
            {
                for (final HdmabufClient c : again)
                {
                    c.close();
                }
                producer.unexport(e.getId());
                producer.free(a.handle());
            }
        }
    }

    private static void pingPong(final Fence producerSide, final Fence consumerSide, final long from, final long to)
        throws Exception
    {
        final CompletableFuture<Long> echo = CompletableFuture.supplyAsync(() ->
        {
            for (long v = from; v <= to; v++)
            {
                awaitQuietly(consumerSide, v);
                signalQuietly(consumerSide, v);
            }
            return to;
        });
        for (long v = from; v <= to; v++)
        {
            producerSide.signal(v);
            assertEquals(v, producerSide.await(v, TIMEOUT, Fence.WaitStrategy.BLOCK));
        }
        assertEquals(to, echo.get(TIMEOUT.toSeconds(), TimeUnit.SECONDS));
    }

    @Test
    void anUnexportEndsALeasedWaitWithEnoent() throws Exception
    {
        try (Allocation a = producer.alloc(4096))
        {
            final Exported e = export(a, system.sourceVm());
            try (ImportedBuffer theirs = consumer.importBuffer(e.getId()))
            {
                takeLease(theirs.fence(), consumer, e.getId());
                final CompletableFuture<Long> w = CompletableFuture.supplyAsync(() -> awaitQuietly(theirs.fence(), 9));
                producer.unexport(e.getId());
                final ExecutionException x = assertThrows(ExecutionException.class, () -> w.get(TIMEOUT.toSeconds(),
                    TimeUnit.SECONDS));
                assertEquals(ErrorCode.ENOENT, assertInstanceOf(HdmabufException.class, x.getCause().getCause())
                    .code());
            }
            finally
            {
                consumer.release(e.getId());
                producer.free(a.handle());
            }
        }
    }

    /**
     * A lease ends with its export, not with the last release (ABI.md "Direct fence wake-ups"): wake vectors are
     * few. After UNEXPORT, while the consumer still holds its import, the vector is free again: the next lease, on
     * another buffer, is given the same (lowest free) vector.
     */
    @Test
    void anUnexportEndsTheLeaseWhileTheImportIsStillHeld() throws Exception
    {
        try (Allocation a = producer.alloc(4096);
             Allocation b = producer.alloc(4096))
        {
            final Exported gone = export(a, system.sourceVm(), Access.ACCESS_READ_ONLY);
            final Exported next = export(b, system.sourceVm(), Access.ACCESS_READ_ONLY);
            try (ImportedBuffer held = consumer.importBuffer(gone.getId()); // held through the unexport
                 ImportedBuffer other = consumer.importBuffer(next.getId()))
            {
                final HdmabufClient.WakeLease first = consumer.openFenceWake(gone.getId());
                assertNotNull(first, "a wake vector is leased");
                try
                {
                    producer.unexport(gone.getId());
                    Await.until("the source to remove the unexported buffer", TIMEOUT, () -> consumer.list()
                        .getBuffersList().stream().noneMatch(i -> i.getId().equals(gone.getId()) &&
                            !"removed".equals(i.getState())));
                    final HdmabufClient.WakeLease second = consumer.openFenceWake(next.getId());
                    assertNotNull(second, "a wake vector is leased");
                    Native.closeQuietly(second.fd());
                    assertEquals(first.vector(), second.vector(), "the unexported buffer's vector was returned " +
                        "while its import is still held");
                }
                finally
                {
                    Native.closeQuietly(first.fd());
                }
            }
            finally
            {
                consumer.release(gone.getId());
                consumer.release(next.getId());
                producer.unexport(next.getId());
                producer.free(a.handle());
                producer.free(b.handle());
            }
        }
    }

    @Test
    void aWaiterWhoseDaemonDiesGetsEpeerlost() throws Exception
    {
        final Path socket = system.dir().resolve("third.sock");
        final ChildProcess third = system.startDaemon("third", "source", socket);
        final int thirdVm = TwoVmSystem.vmOf(third);
        try (Allocation a = producer.alloc(4096);
             HdmabufClient c = HdmabufClient.connect(socket))
        {
            final Exported e = producer.export(a.handle(), thirdVm, Metadata.newBuilder()
                .setContentType("application/x-fence-wake").build(), Access.ACCESS_READ_WRITE);
            awaitImportable(c, e.getId());
            final ImportedBuffer theirs = c.importBuffer(e.getId());
            takeLease(theirs.fence(), c, e.getId());
            final CompletableFuture<Long> w = CompletableFuture.supplyAsync(() -> awaitQuietly(theirs.fence(), 9));
            third.kill();
            final ExecutionException x = assertThrows(ExecutionException.class, () -> w.get(TIMEOUT.toSeconds(),
                TimeUnit.SECONDS));
            assertEquals(ErrorCode.EPEERLOST, assertInstanceOf(HdmabufException.class, x.getCause().getCause())
                .code());
            producer.unexport(e.getId());
            producer.free(a.handle());
        }
    }

    /**
     * A BLOCK wait for a value already reached leases the Fence's wake vector and returns; asking for the lease
     * again is then EBUSY (-1), so later waits of that Fence sleep on it.
     */
    private static void takeLease(final Fence f, final HdmabufClient c, final BufferId id) throws Exception
    {
        assertEquals(0, f.await(0, TIMEOUT, Fence.WaitStrategy.BLOCK));
        assertNull(c.openFenceWake(id), "the Fence holds the lease");
    }

    private static long awaitQuietly(final Fence f, final long v)
    {
        try
        {
            return f.await(v, TIMEOUT, Fence.WaitStrategy.BLOCK);
        }
        catch (final java.io.IOException ex)
        {
            throw new java.io.UncheckedIOException(ex);
        }
    }

    private static void signalQuietly(final Fence f, final long v)
    {
        try
        {
            f.signal(v);
        }
        catch (final java.io.IOException ex)
        {
            throw new java.io.UncheckedIOException(ex);
        }
    }
}
