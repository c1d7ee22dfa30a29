package org.hyperdmabuf.tests.lifecycle;

import org.hyperdmabuf.abi.BufferIds;
import org.hyperdmabuf.abi.v1.Access;
import org.hyperdmabuf.abi.v1.BufferId;
import org.hyperdmabuf.abi.v1.BufferInfo;
import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.abi.v1.Exported;
import org.hyperdmabuf.abi.v1.Metadata;
import org.hyperdmabuf.cli.ChildProcess;
import org.hyperdmabuf.client.Allocation;
import org.hyperdmabuf.client.HdmabufClient;
import org.hyperdmabuf.client.HdmabufException;
import org.hyperdmabuf.client.ImportedBuffer;
import org.hyperdmabuf.tests.lifecycle.Lifecycle.EventLog;
import org.hyperdmabuf.tests.support.Await;
import org.hyperdmabuf.tests.support.CheckedStream;
import org.hyperdmabuf.tests.support.SystemTest;
import org.hyperdmabuf.tests.support.TwoVmSystem;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.stream.Stream;

import static org.hyperdmabuf.tests.lifecycle.Lifecycle.TIMEOUT;
import static org.hyperdmabuf.tests.lifecycle.Lifecycle.is;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A daemon that stops (SIGSTOP: a paused, migrated or starved VM) for longer than its peer's liveness timeout
 * and then continues is declared down by the peer meanwhile; when it runs again it learns so from the peer's
 * ring to it, starts a new session by itself, drops everything of the old one and rejoins (ABI.md "Resync"). A
 * checked frame stream runs before, during and after the stall and must go on by itself, every byte checked,
 * within {@link #RESUME_BOUND} of the continue; and an id the stalled source still held must never map pages that
 * the sink has meanwhile given to another buffer. {@code GuestResyncTest} runs the same in kvm-ivshmem guest mode,
 * {@code XenResyncTest} on the xen backend.
 */
@SystemTest
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class ResyncTest
{
    /** From SIGCONT to frames flowing again: resync within a scan, the peer's rejoin, the stream reopened. */
    static final Duration RESUME_BOUND = Duration.ofSeconds(15);
    /** The stimulus: a stall of more than three times the default 1.5 s liveness timeout. */
    private static final Duration STALL = Duration.ofSeconds(5);
    private static final String STREAM = "resync";
    private static final long BYTES = 64 * 1024;

    private TwoVmSystem system;
    private final List<AutoCloseable> cleanup = new ArrayList<>();

    protected boolean xen()
    {
        return false;
    }

    /** kvm-ivshmem host mode on the embedded ivshmem server; subclasses run guest mode and xen. */
    protected TwoVmSystem startSystem() throws Exception
    {
        return TwoVmSystem.startInTempDir("hdr", 64L << 20, List.of(), List.of());
    }

    @BeforeEach
    void start() throws Exception
    {
        system = startSystem();
    }

    @AfterEach
    void stop() throws Exception
    {
        for (int i = cleanup.size() - 1; i >= 0; i--)
        {
            try
            {
                cleanup.get(i).close();
            }
            catch (final Exception | Error e)
            {
                // clients of a resynced daemon may have lost what they close
            }
        }
        final Path dir = system.dir();
        try
        {
            system.close();
        }
        finally
        {
            try (Stream<Path> files = Files.walk(dir))
            {
                files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    @ParameterizedTest(name = "{0} daemon stalled")
    @ValueSource(strings = {"source", "sink"})
    void aStalledDaemonRejoinsAndTheStreamResumes(final String stalled) throws Exception
    {
        final ChildProcess consumer = stream("consumer", "resuming-consumer", system.sourceSocket().toString(), STREAM);
        final ChildProcess producer = stream("producer", "resuming-producer", system.sinkSocket().toString(),
            Integer.toString(system.sourceVm()), STREAM, Long.toString(BYTES), "3", "500");
        consumer.awaitLine("READY", TIMEOUT);
        producer.awaitLine("READY", TIMEOUT);
        Await.until("frames before the stall", TIMEOUT, () -> consumer.linesStartingWith("PROGRESS").size() >= 2);

        final ChildProcess daemon = stalled.equals("source") ? system.source() : system.sink();
        final ChildProcess peer = stalled.equals("source") ? system.sink() : system.source();
        Lifecycle.stall(daemon, STALL);
        final long resumed = System.nanoTime();

        Await.until(daemon.name() + " to start a new session", RESUME_BOUND, () -> daemon.output().stream()
            .anyMatch(l -> l.contains("declared this session down")));
        Await.until("the stream to open again on the consumer", RESUME_BOUND, () ->
            consumer.linesStartingWith("SEGMENT").size() >= 2);
        final long segmentMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - resumed);
        final long segmentStart = Long.parseLong(consumer.linesStartingWith("SEGMENT").get(1).split(" ")[1]);
        Await.until("frames after the stall", RESUME_BOUND, () -> progress(consumer) >= segmentStart + 500);
        Lifecycle.report("resync after a " + STALL.toMillis() + " ms stall of the " + stalled + " daemon: the stream " +
            "reopened " + segmentMillis + " ms after SIGCONT at frame " + segmentStart);

        assertTrue(peer.output().stream().anyMatch(l -> l.contains("declaring it down")),
            () -> peer.name() + " did not declare the stalled daemon down: " + peer.output());
        assertTrue(producer.output().stream().anyMatch(l -> l.startsWith("LOST EPEERLOST")),
            () -> "the producer heard of the loss: " + producer.output());
        producer.send("STOP");
        final long sent = Long.parseLong(producer.awaitLine("SENT", TIMEOUT).split(" ")[1]);
        assertEquals("VERIFIED " + sent, consumer.awaitLine("VERIFIED", TIMEOUT));
        assertTrue(consumer.linesStartingWith("FAILED").isEmpty(), () -> consumer.output().toString());
        producer.awaitSuccess(TIMEOUT);
        consumer.awaitSuccess(TIMEOUT);
        // No ghosts: the stream's old buffers are gone from the source, and nothing else was left behind.
        try (HdmabufClient c = HdmabufClient.connect(system.sourceSocket()).timeout(TIMEOUT))
        {
            Await.until("the source to list no buffer of the ended stream", TIMEOUT, () ->
                c.list().getBuffersList().isEmpty());
        }
        try (HdmabufClient c = HdmabufClient.connect(system.sinkSocket()).timeout(TIMEOUT))
        {
            Await.until("the sink to list no export", TIMEOUT, () -> c.list().getBuffersList().isEmpty());
        }
        assertEquals(List.of(), system.errorLines(), "daemons logged errors");
    }

    /**
     * The stale import of the outside report: while the source is stopped, the sink declares it down, the producer
     * unexports and frees its buffer and the same pages go to another buffer with other bytes. An IMPORT of the old
     * id, sent while the source is stopped and answered once it runs (whether before or after it resyncs), must
     * fail: never a mapping of the other buffer's bytes. Afterwards the consumer has heard remove REASON=peer-lost,
     * the id stays unknown, and the new buffer arrives and imports with its own bytes.
     */
    @Test
    void anIdHeldAcrossAStallNeverMapsReusedPages() throws Exception
    {
        final HdmabufClient producer = connect(system.sinkSocket());
        producer.subscribe(List.of(), false);
        final EventLog sinkEvents = new EventLog(producer);
        final HdmabufClient consumer = connect(system.sourceSocket());
        consumer.subscribe(List.of(), false);
        final EventLog sourceEvents = new EventLog(consumer);
        final Allocation old = producer.alloc(BYTES);
        cleanup.add(old);
        fill(old.buffer().bytes(), (byte)0xAA);
        final Exported was = export(producer, old);
        sourceEvents.await("add", 0, TIMEOUT, is("add", was.getId(), null, null));
        final int sinkMark = sinkEvents.mark();

        final ChildProcess source = system.source();
        Lifecycle.signal("STOP", source.pid());
        final CompletableFuture<String> staleImport;
        final Allocation reused;
        try
        {
            sinkEvents.await("STATE=peer-lost", sinkMark, TIMEOUT, is("change", was.getId(), "STATE", "peer-lost"));
            producer.unexport(was.getId());
            producer.free(old.handle());
            // All free pool memory in one buffer: the old buffer's pages are among them. (On xen every allocation
            // is new pages granted to a live domain, and none is up: there the stale id alone is tried.)
            reused = xen() ? null : producer.alloc(producer.caps().getPoolFreeBytes());
            if (reused != null)
            {
                fill(reused.buffer().bytes(), (byte)0xBB);
            }
            // Asked while the source is stopped: answered after it runs again, in whatever order it then works.
            staleImport = CompletableFuture.supplyAsync(() -> importOutcome(consumer, was.getId()));
            LockSupport.parkNanos(Duration.ofMillis(200).toNanos()); // the stimulus: the request queues meanwhile
        }
        finally
        {
            Lifecycle.signal("CONT", source.pid());
        }
        final String outcome = staleImport.get(TIMEOUT.toSeconds(), TimeUnit.SECONDS);
        assertTrue(outcome.startsWith("refused"), "IMPORT of the stale id: " + outcome);
        if (reused != null)
        {
            producer.free(reused.handle());
            reused.close();
        }
        sourceEvents.await("remove REASON=peer-lost", 0, TIMEOUT, is("remove", was.getId(), "REASON", "peer-lost"));
        assertEquals("refused ENOENT", importOutcome(consumer, was.getId()), "the stale id after the resync");
        assertTrue(consumer.list().getBuffersList().stream().map(BufferInfo::getId).noneMatch(was.getId()::equals),
            "the source no longer lists the stale id");

        // The system works again without a restart: a new export arrives and maps its own bytes.
        Await.until("the source to be a target again", RESUME_BOUND, () -> producer.targets().getTargetsList()
            .stream().anyMatch(t -> t.getVm() == system.sourceVm()));
        final Allocation fresh = producer.alloc(BYTES);
        cleanup.add(fresh);
        fill(fresh.buffer().bytes(), (byte)0xCC);
        final Exported now = awaitExport(producer, fresh);
        sourceEvents.await("add of the new buffer", 0, TIMEOUT, is("add", now.getId(), null, null));
        try (ImportedBuffer b = consumer.importBuffer(now.getId()))
        {
            assertEquals((byte)0xCC, b.buffer().bytes().get(0));
            assertEquals((byte)0xCC, b.buffer().bytes().get((int)BYTES - 1));
        }
        assertNotEquals(was.getId(), now.getId());
    }

    // ---- steps ----

    private ChildProcess stream(final String name, final String... args) throws IOException
    {
        return system.track(ChildProcess.java(name, List.of("-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"),
            CheckedStream.class.getName(), List.of(args), System.out));
    }

    private static long progress(final ChildProcess consumer)
    {
        final List<String> lines = consumer.linesStartingWith("PROGRESS");
        return lines.isEmpty() ? 0 : Long.parseLong(lines.get(lines.size() - 1).split(" ")[1]);
    }

    private HdmabufClient connect(final Path socket) throws IOException
    {
        final HdmabufClient c = HdmabufClient.connect(socket).timeout(TIMEOUT);
        cleanup.add(c);
        return c;
    }

    private Exported export(final HdmabufClient producer, final Allocation a) throws IOException
    {
        return producer.export(a.handle(), system.sourceVm(), Metadata.newBuilder().setVersion(1)
            .setContentType("application/x-resync").setSize(BYTES).build(), Access.ACCESS_READ_WRITE);
    }

    /** Exports once the sink lists the source as a target again (it rejoined with a new session). */
    private Exported awaitExport(final HdmabufClient producer, final Allocation a) throws Exception
    {
        final long deadline = System.nanoTime() + RESUME_BOUND.toNanos();
        while (true)
        {
            try
            {
                return export(producer, a);
            }
            catch (final HdmabufException e)
            {
                if (e.code() != ErrorCode.ENOPEER || System.nanoTime() - deadline > 0)
                {
                    throw e;
                }
                Await.until("the source to be a target again", RESUME_BOUND, () -> producer.targets()
                    .getTargetsList().stream().anyMatch(t -> t.getVm() == system.sourceVm()));
            }
        }
    }

    /** "refused CODE", or what an accepted import maps: "mapped 0xNN" (the first byte). */
    private static String importOutcome(final HdmabufClient consumer, final BufferId id)
    {
        try (ImportedBuffer b = consumer.importBuffer(id))
        {
            return String.format("mapped 0x%02X of %s", b.buffer().bytes().get(0), BufferIds.format(id));
        }
        catch (final HdmabufException e)
        {
            return "refused " + e.code();
        }
        catch (final IOException e)
        {
            return "failed " + e;
        }
    }

    private static void fill(final ByteBuffer bytes, final byte value)
    {
        for (int i = 0; i < bytes.capacity(); i++)
        {
            bytes.put(i, value);
        }
    }
}
