package org.hyperdmabuf.tests.lifecycle;

import org.hyperdmabuf.abi.BufferIds;
import org.hyperdmabuf.abi.UEvent;
import org.hyperdmabuf.abi.v1.Access;
import org.hyperdmabuf.abi.v1.BufferId;
import org.hyperdmabuf.abi.v1.BufferInfo;
import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.abi.v1.Exported;
import org.hyperdmabuf.abi.v1.Metadata;
import org.hyperdmabuf.abi.v1.Timeline;
import org.hyperdmabuf.cli.ChildProcess;
import org.hyperdmabuf.client.Allocation;
import org.hyperdmabuf.client.Fence;
import org.hyperdmabuf.client.FrameProducer;
import org.hyperdmabuf.client.HdmabufClient;
import org.hyperdmabuf.client.HdmabufException;
import org.hyperdmabuf.client.ImportedBuffer;
import org.hyperdmabuf.tests.lifecycle.Lifecycle.EventLog;
import org.hyperdmabuf.tests.lifecycle.Lifecycle.PendingWait;
import org.hyperdmabuf.tests.lifecycle.Lifecycle.WaitResult;
import org.hyperdmabuf.tests.support.Await;
import org.hyperdmabuf.tests.support.SystemTest;
import org.hyperdmabuf.tests.support.TwoVmSystem;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.hyperdmabuf.tests.lifecycle.Lifecycle.DEATH_BOUND;
import static org.hyperdmabuf.tests.lifecycle.Lifecycle.TIMEOUT;
import static org.hyperdmabuf.tests.lifecycle.Lifecycle.assertFrame;
import static org.hyperdmabuf.tests.lifecycle.Lifecycle.assertPoisoned;
import static org.hyperdmabuf.tests.lifecycle.Lifecycle.content;
import static org.hyperdmabuf.tests.lifecycle.Lifecycle.fill;
import static org.hyperdmabuf.tests.lifecycle.Lifecycle.is;
import static org.hyperdmabuf.tests.lifecycle.Lifecycle.report;
import static org.hyperdmabuf.tests.lifecycle.Lifecycle.signal;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Lifecycle and failure semantics (ABI.md "Fences", "Lifecycle" and "Failure cases"): each
 * failure case with real processes killed with SIGKILL (or stopped with SIGSTOP), asserting the events and
 * their REASON/STATE, how and when pending fence waits end, when memory comes back, and what the
 * survivors can still do. One system per test: every test kills part of it. {@code XenLifecycleTest} runs the
 * same cases on the xen backend.
 */
@SystemTest
class LifecycleTest
{
    private static final long FRAME_BYTES = 64 * 64 * 4;
    private static final long FRAME_PAGES = FRAME_BYTES / 4096;
    private static final String STREAM = "demo"; // the stream name of the stream-producer/consumer CLI

    private Path dir;
    private TwoVmSystem system;
    private final List<AutoCloseable> cleanup = new ArrayList<>();
    private final List<PendingWait> waits = new ArrayList<>();

    /** Whether this class runs on the xen backend over the Xen emulation instead of kvm-ivshmem. */
    protected boolean xen()
    {
        return false;
    }

    @BeforeEach
    void start() throws Exception
    {
        if (xen())
        {
            system = TwoVmSystem.startXenInTempDir("hdlx", (32 << 20) / 4096, List.of(), List.of());
            dir = system.dir();
        }
        else
        {
            dir = Files.createTempDirectory(Path.of("/tmp"), "hdl");
            system = TwoVmSystem.start(dir, 32L << 20);
        }
    }

    /**
     * Starts a daemon again after its predecessor was killed, with a new session. On kvm-ivshmem the server hands
     * it the lowest free id (usually its predecessor's); on xen the VM id is the domid, so it is the same domain
     * (same peers).
     */
    private ChildProcess restart(final String name, final String role, final Path socket, final int oldVm)
        throws Exception
    {
        final ChildProcess restarted = xen() ?
            system.startDaemon(name, role, socket, system.xenDaemonArgs(oldVm,
                Integer.toString(oldVm == system.sinkVm() ? system.sourceVm() : system.sinkVm()))
                .toArray(new String[0])) :
            system.startDaemon(name, role, socket);
        if (xen())
        {
            assertEquals(oldVm, TwoVmSystem.vmOf(restarted), "on xen a restarted daemon is the same domain");
        }
        return restarted;
    }

    /**
     * On xen, what the Xen emulation reports of a killed domain's teardown: {pages of other domains it still maps
     * (its files are closed: must be 0), pages of its own grants live domains still map (their end deferred)}.
     */
    private long[] xenTeardown(final int domid) throws Exception
    {
        final String prefix = "domain " + domid + " destroyed: ";
        final ChildProcess emu = system.server();
        Await.until("the Xen emulation to destroy domain " + domid, TIMEOUT,
            () -> emu.output().stream().anyMatch(l -> l.contains(prefix)));
        final String line = emu.output().stream().filter(l -> l.contains(prefix)).reduce((a, b) -> b).orElseThrow();
        final java.util.regex.Matcher m = java.util.regex.Pattern.compile(
            "(\\d+) pages of other domains still mapped by it; (\\d+) of its granted pages still mapped").matcher(line);
        assertTrue(m.find(), line);
        report("xen teardown of dom" + domid + ": " + line.substring(line.indexOf(prefix)));
        return new long[]{Long.parseLong(m.group(1)), Long.parseLong(m.group(2))};
    }

    @AfterEach
    void stop() throws Exception
    {
        try
        {
            for (int i = cleanup.size() - 1; i >= 0; i--)
            {
                try
                {
                    cleanup.get(i).close();
                }
                catch (final Exception | Error e)
                {
                    // clients of dead daemons fail to close cleanly; the processes go below
                }
            }
            waits.forEach(PendingWait::abandon);
        }
        finally
        {
            try
            {
                if (system != null)
                {
                    system.close();
                }
            }
            finally
            {
                try (Stream<Path> files = Files.walk(dir))
                {
                    files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
                }
            }
        }
    }

    // ---- 1 ----

    /**
     * A consumer process dies while importing: its source daemon drops the imports as on close of a device
     * file, the producer hears STATE=released, the exports stay, a new consumer imports them and the stream
     * goes on. Nothing is removed.
     */
    @Test
    void consumerProcessDiesWhileImporting() throws Exception
    {
        final HdmabufClient producer = connect(system.sinkSocket());
        final EventLog sinkEvents = subscribed(producer);
        final HdmabufClient monitor = connect(system.sourceSocket());
        final EventLog sourceEvents = subscribed(monitor);
        final long poolBefore = poolFree(producer);

        final ChildProcess consumer = system.spawn("consumer-1", "stream-consumer", "--socket",
            system.sourceSocket().toString(), "--frames", "1000000", "--wait", "ADAPTIVE");
        consumer.awaitLine("READY", TIMEOUT);
        final FrameProducer stream = FrameProducer.create(producer, system.sourceVm(), STREAM, 3, FRAME_BYTES,
            Metadata.newBuilder().setVersion(1).setContentType("video/raw").build(), Access.ACCESS_READ_WRITE,
            Fence.WaitStrategy.ADAPTIVE);
        final BufferId[] ids = streamIds(producer.list().getBuffersList(), 3);
        for (final BufferId id : ids)
        {
            sinkEvents.await("STATE=imported of " + BufferIds.format(id), 0, TIMEOUT,
                is("change", id, "STATE", "imported"));
        }
        produce(stream, 0, 30);
        stream.drain(TIMEOUT); // the consumer process has read and released frames 0..29
        assertTrue(consumer.isAlive(), () -> "consumer exited: " + consumer.output());

        final int mark = sinkEvents.mark();
        consumer.kill();
        for (final BufferId id : ids)
        {
            sinkEvents.await("STATE=released of " + BufferIds.format(id) + " after the consumer died", mark, TIMEOUT,
                is("change", id, "STATE", "released"));
        }
        for (final BufferId id : ids)
        {
            final BufferInfo sink = producer.query(id);
            assertEquals("exported", sink.getState(), "the export stays live on the sink");
            assertEquals(0, sink.getImportCount());
            final BufferInfo source = monitor.query(id);
            assertEquals("exported", source.getState(), "the buffer stays on the source");
            assertEquals(0, source.getImportCount(), "the dead process's imports are dropped");
        }

        // A new consumer imports the same buffers and the stream continues where the dead one stopped.
        final HdmabufClient next = connect(system.sourceSocket());
        final ImportedBuffer[] slots = new ImportedBuffer[3];
        final int reimport = sinkEvents.mark();
        for (int s = 0; s < 3; s++)
        {
            slots[s] = next.importBuffer(ids[s]);
            cleanup.add(slots[s]);
        }
        for (final BufferId id : ids)
        {
            sinkEvents.await("STATE=imported of " + BufferIds.format(id) + " by the new consumer", reimport, TIMEOUT,
                is("change", id, "STATE", "imported"));
        }
        final CompletableFuture<Void> producing = CompletableFuture.runAsync(() ->
        {
            try
            {
                produce(stream, 30, 230);
                stream.drain(TIMEOUT);
            }
            catch (final IOException e)
            {
                throw new IllegalStateException(e);
            }
        });
        for (long seq = 30; seq < 230; seq++)
        {
            final ImportedBuffer b = slots[(int)(seq % 3)];
            final long round = seq / 3;
            b.fence().await(round + 1, TIMEOUT, Fence.WaitStrategy.ADAPTIVE);
            assertEquals(0, b.fence().error(), "frame " + seq);
            assertFrame(content(b), seq, "frame " + seq + " read by the new consumer");
            b.fence().signal(round + 1);
        }
        producing.get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        assertEquals(230, stream.frames());

        assertEquals(List.of(), sourceEvents.all().stream().filter(e -> "remove".equals(e.action()))
            .map(UEvent::properties).toList(), "a consumer's death removes nothing");
        for (final ImportedBuffer b : slots)
        {
            next.release(b.id());
        }
        stream.close();
        awaitPoolFree(producer, poolBefore);
        assertEquals(List.of(), system.errorLines(), "daemons logged errors");
    }

    // ---- 2 ----

    /**
     * A producer process dies with its buffers exported and imported: the sink frees its allocations, so the
     * consumer gets remove REASON=unexported and its acquire waits end with ENOENT; the mapping stays
     * readable, and the sink reclaims the pages only after the consumer released.
     */
    @Test
    void producerProcessDiesWithBuffersExportedAndImported() throws Exception
    {
        final HdmabufClient sinkObserver = connect(system.sinkSocket());
        final long poolBefore = poolFree(sinkObserver);
        final HdmabufClient consumer = connect(system.sourceSocket());
        final EventLog events = subscribed(consumer);
        final ChildProcess producer = spawnProducer("producer", system.sinkSocket(), system.sourceVm(), 1_000_000, "BLOCK");
        final ImportedBuffer[] slots = importStream(consumer, events);
        for (int s = 0; s < 3; s++)
        {
            // The producer wrote frames 0, 1, 2 and now waits for slot 0's release, which never comes.
            assertTrue(slots[s].fence().await(1, TIMEOUT, Fence.WaitStrategy.SPIN) >= 1);
            assertEquals(0, slots[s].fence().error());
            assertFrame(content(slots[s]), s, "slot " + s);
        }
        assertTrue(poolFree(sinkObserver) < poolBefore, "the stream's buffers come from the pool");

        final PendingWait spin = pending("spin acquire slot 0", () ->
            new long[]{slots[0].fence().await(2, TIMEOUT, Fence.WaitStrategy.SPIN), slots[0].fence().error()});
        final PendingWait block = pending("block acquire slot 1", () ->
            new long[]{slots[1].fence().await(2, TIMEOUT, Fence.WaitStrategy.BLOCK), slots[1].fence().error()})
            .parkedIn(consumer);
        final PendingWait raw = pending("FENCE_WAIT acquire slot 2", Lifecycle.fenceState(() ->
            consumer.fenceWait(slots[2].id(), Timeline.TIMELINE_ACQUIRE, 2, TIMEOUT.toMillis()))).parkedIn(consumer);
        assertFalse(spin.isDone() || block.isDone() || raw.isDone(), "no acquire 2 was signalled");

        final int mark = events.mark();
        final long killed = System.nanoTime();
        producer.kill();
        for (final ImportedBuffer b : slots)
        {
            final UEvent remove = events.await("remove of " + BufferIds.format(b.id()), mark, TIMEOUT,
                is("remove", b.id(), null, null));
            assertEquals("unexported", remove.get("REASON"), "the producer's death frees its allocations");
        }
        assertPoisoned(spin.get(DEATH_BOUND), ErrorCode.ENOENT, true, "spinning acquire wait");
        assertPoisoned(block.get(DEATH_BOUND), ErrorCode.ENOENT, false, "blocking acquire wait (Fence)");
        assertPoisoned(raw.get(DEATH_BOUND), ErrorCode.ENOENT, false, "FENCE_WAIT on acquire");
        for (final PendingWait w : List.of(spin, block, raw))
        {
            final WaitResult r = w.get(DEATH_BOUND);
            report("producer killed: " + w + " " + r + " after " + r.millisSince(killed) + " ms");
            assertTrue(r.millisSince(killed) < DEATH_BOUND.toMillis(), w + " ended late: " + r.millisSince(killed));
        }

        for (int s = 0; s < 3; s++)
        {
            assertFrame(content(slots[s]), s, "slot " + s + " read after the remove");
            final BufferId id = slots[s].id();
            assertEquals(ErrorCode.ENOENT, errorOf(() -> consumer.importBuffer(id)), "IMPORT after remove");
        }
        assertTrue(poolFree(sinkObserver) < poolBefore, "pages stay pinned while the consumer holds its imports");
        for (final ImportedBuffer b : slots)
        {
            consumer.release(b.id()); // RELEASE still works for imports held before the remove
        }
        awaitPoolFree(sinkObserver, poolBefore);
        assertEquals(List.of(), system.errorLines(), "daemons logged errors");
    }

    // ---- 3 ----

    /**
     * The source daemon dies and restarts: the export owner hears STATE=peer-lost, release waits end with
     * EPEERLOST within the bound, the memory comes back once the producer frees it, and the restarted
     * daemon (a new session) knows nothing of the old buffers but serves new exports.
     */
    @Test
    void sourceDaemonDiesAndRestarts() throws Exception
    {
        final HdmabufClient producer = connect(system.sinkSocket());
        final EventLog sinkEvents = subscribed(producer);
        final long poolBefore = poolFree(producer);
        final HdmabufClient consumer = connect(system.sourceSocket());
        final EventLog sourceEvents = subscribed(consumer);
        final int oldVm = system.sourceVm();

        final Allocation a0 = alloc(producer);
        final Allocation a1 = alloc(producer);
        final Exported e0 = exportTo(producer, a0, oldVm);
        final Exported e1 = exportTo(producer, a1, oldVm);
        final Fence f0 = fence(producer, a0, e0);
        for (final Exported e : List.of(e0, e1))
        {
            sourceEvents.await("add", 0, TIMEOUT, is("add", e.getId(), null, null));
            cleanup.add(consumer.importBuffer(e.getId()));
            sinkEvents.await("STATE=imported", 0, TIMEOUT, is("change", e.getId(), "STATE", "imported"));
        }

        final PendingWait spin = pending("spin release e0", () ->
            new long[]{f0.await(1, TIMEOUT, Fence.WaitStrategy.SPIN), f0.error()});
        final PendingWait block = pending("FENCE_WAIT release e1", Lifecycle.fenceState(() ->
            producer.fenceWait(e1.getId(), Timeline.TIMELINE_RELEASE, 1, TIMEOUT.toMillis()))).parkedIn(producer);
        assertFalse(spin.isDone() || block.isDone(), "nothing was released");

        final int mark = sinkEvents.mark();
        final long killed = System.nanoTime();
        system.source().kill();
        for (final Exported e : List.of(e0, e1))
        {
            sinkEvents.await("STATE=peer-lost of " + BufferIds.format(e.getId()), mark, DEATH_BOUND,
                is("change", e.getId(), "STATE", "peer-lost"));
            assertEquals("peer-lost", producer.query(e.getId()).getState());
        }
        final WaitResult spun = spin.get(DEATH_BOUND);
        final WaitResult blocked = block.get(DEATH_BOUND);
        assertPoisoned(spun, ErrorCode.EPEERLOST, true, "spinning release wait");
        assertPoisoned(blocked, ErrorCode.EPEERLOST, false, "blocking release wait");
        report("exporter/importer killed: spin " + spun + " after " + spun.millisSince(killed) + " ms, block " +
            blocked + " after " + blocked.millisSince(killed) + " ms");
        assertTrue(spun.millisSince(killed) < DEATH_BOUND.toMillis(), "spin ended after " + spun.millisSince(killed));
        assertTrue(blocked.millisSince(killed) < DEATH_BOUND.toMillis(), "block ended after " +
            blocked.millisSince(killed));

        if (xen())
        {
            final long[] teardown = xenTeardown(oldVm);
            assertEquals(0, teardown[0], "the dead importer's mappings (both imports, fence and channel pages) are " +
                "torn down");
            assertEquals(0, teardown[1], "a source grants nothing");
        }
        assertEquals(ErrorCode.EPEERLOST, errorOf(() -> exportTo(producer, a0, oldVm)), "re-export to the lost VM");
        for (final Exported e : List.of(e0, e1))
        {
            producer.unexport(e.getId());
        }
        producer.free(a0.handle());
        producer.free(a1.handle());
        awaitPoolFree(producer, poolBefore);

        // The restarted source daemon has a new session: nothing of the old one survives.
        final ChildProcess restarted = restart("source-2", "source", dir.resolve("source2.sock"), oldVm);
        final int newVm = TwoVmSystem.vmOf(restarted);
        final HdmabufClient consumer2 = connect(dir.resolve("source2.sock"));
        final EventLog events2 = subscribed(consumer2);
        assertEquals(0, consumer2.list().getBuffersCount(), "a restarted source has no buffers");
        assertEquals(ErrorCode.ENOENT, errorOf(() -> consumer2.importBuffer(e0.getId())), "stale id");
        assertEquals(ErrorCode.ENOENT, errorOf(() -> consumer2.importBuffer(e1.getId())), "stale id");

        awaitSourceTarget(producer, newVm);
        shareOnce(producer, consumer2, events2, newVm, 300);
        awaitPoolFree(producer, poolBefore);
        assertEquals(List.of(), system.errorLines(), "daemons logged errors");
    }

    // ---- 4 ----

    /**
     * The sink daemon dies and restarts: the consumer gets remove REASON=peer-lost, its acquire waits end
     * with EPEERLOST within the bound, its mappings stay readable (and are not reused), stale ids answer
     * ENOENT, and a restarted sink serves new exports to the same source.
     */
    @Test
    void sinkDaemonDiesAndRestarts() throws Exception
    {
        final HdmabufClient producer = connect(system.sinkSocket());
        final HdmabufClient consumer = connect(system.sourceSocket());
        final EventLog events = subscribed(consumer);
        final ImportedBuffer[] held = exportAndImportTwo(producer, consumer, events);

        final PendingWait spin = pending("spin acquire b0", () ->
            new long[]{held[0].fence().await(2, TIMEOUT, Fence.WaitStrategy.SPIN), held[0].fence().error()});
        final PendingWait block = pending("block acquire b1", () ->
            new long[]{held[1].fence().await(2, TIMEOUT, Fence.WaitStrategy.BLOCK), held[1].fence().error()})
            .parkedIn(consumer);
        assertFalse(spin.isDone() || block.isDone(), "no acquire 2 was signalled");

        final int mark = events.mark();
        final long killed = System.nanoTime();
        final int oldSink = system.sinkVm();
        system.sink().kill();
        assertExporterLost(consumer, events, mark, killed, held, spin, block);
        assertXenExporterTeardown(oldSink, held.length);

        // A restarted sink (new session) serves new exports to the same source.
        final Path socket2 = dir.resolve("sink2.sock");
        restart("sink-2", "sink", socket2, oldSink);
        final HdmabufClient producer2 = connect(socket2);
        final long poolBefore2 = poolFree(producer2);
        awaitSourceTarget(producer2, system.sourceVm());
        shareOnce(producer2, consumer, events, system.sourceVm(), 400);
        awaitPoolFree(producer2, poolBefore2);

        for (int i = 0; i < held.length; i++)
        {
            // Still the old content: the dead VM's pages were not handed out again while imported.
            assertFrame(content(held[i]), 100 + i, "old import " + i + " after the restarted sink allocated");
            consumer.release(held[i].id());
        }
        assertEquals(List.of(), system.errorLines(), "daemons logged errors");
    }

    // ---- 5 ----

    /** A whole VM dies (its sink daemon and its producer process at once): as for a sink daemon's death. */
    @Test
    void wholeExporterVmDies() throws Exception
    {
        final HdmabufClient consumer = connect(system.sourceSocket());
        final EventLog events = subscribed(consumer);
        final ChildProcess producer = spawnProducer("producer", system.sinkSocket(), system.sourceVm(), 1_000_000, "BLOCK");
        final ImportedBuffer[] slots = importStream(consumer, events);
        for (int s = 0; s < 3; s++)
        {
            assertTrue(slots[s].fence().await(1, TIMEOUT, Fence.WaitStrategy.SPIN) >= 1);
            assertFrame(content(slots[s]), s, "slot " + s);
        }
        final PendingWait spin = pending("spin acquire slot 0", () ->
            new long[]{slots[0].fence().await(2, TIMEOUT, Fence.WaitStrategy.SPIN), slots[0].fence().error()});
        final PendingWait block = pending("block acquire slot 1", () ->
            new long[]{slots[1].fence().await(2, TIMEOUT, Fence.WaitStrategy.BLOCK), slots[1].fence().error()})
            .parkedIn(consumer);
        assertFalse(spin.isDone() || block.isDone(), "no acquire 2 was signalled");

        final int mark = events.mark();
        final long killed = System.nanoTime();
        // SIGKILL to both before waiting for either: the sink cannot tidy up after its client first.
        ProcessHandle.of(system.sink().pid()).ifPresent(ProcessHandle::destroyForcibly);
        ProcessHandle.of(producer.pid()).ifPresent(ProcessHandle::destroyForcibly);
        system.sink().kill();
        producer.kill();
        assertExporterLost(consumer, events, mark, killed, new ImportedBuffer[]{slots[0], slots[1]}, spin, block);
        assertXenExporterTeardown(system.sinkVm(), slots.length);
        assertFrame(content(slots[2]), 2, "slot 2 after the VM died");
        consumer.release(slots[2].id());
        assertEquals(List.of(), system.errorLines(), "daemons logged errors");
    }

    // ---- 6 ----

    /**
     * The ivshmem server dies: the sink and the source keep sharing (an export and a 200-frame stream);
     * a new daemon cannot join, and its attempt does not disturb them.
     */
    @Test
    void ivshmemServerDies() throws Exception
    {
        final HdmabufClient producer = connect(system.sinkSocket());
        final long poolBefore = poolFree(producer);
        final HdmabufClient consumer = connect(system.sourceSocket());
        final EventLog events = subscribed(consumer);

        system.server().kill();

        shareOnce(producer, consumer, events, system.sourceVm(), 500);
        final ChildProcess streamConsumer = system.spawn("stream-consumer", "stream-consumer", "--socket",
            system.sourceSocket().toString(), "--frames", "200", "--wait", "ADAPTIVE");
        streamConsumer.awaitLine("READY", TIMEOUT);
        final ChildProcess streamProducer = spawnProducer("stream-producer", system.sinkSocket(), system.sourceVm(), 200,
            "ADAPTIVE");
        assertEquals(0, streamConsumer.waitFor(Duration.ofSeconds(60)), () -> "consumer failed: " +
            String.join("\n", streamConsumer.output()));
        assertEquals(0, streamProducer.waitFor(TIMEOUT), () -> "producer failed: " +
            String.join("\n", streamProducer.output()));
        assertTrue(streamConsumer.output().stream().anyMatch(l -> l.startsWith("VERIFIED frames=200 ")),
            () -> String.join("\n", streamConsumer.output()));

        // The command TwoVmSystem.startDaemon runs, without its READY wait: ChildProcess.awaitLine misses the exit
        // of a process that fails at once and sits out its whole 60 s timeout (see the report), so wait for
        // the exit here.
        final ChildProcess late = system.spawn("late", "source", "--ivshmem", system.ivshmemSocket().toString(),
            "--socket", dir.resolve("late.sock").toString(), "--name", "late");
        final int exit = late.waitFor(TIMEOUT);
        final String said = String.join("\n", late.output());
        assertNotEquals(-1, exit, () -> "a new daemon is still running without a server: " + said);
        assertNotEquals(0, exit, () -> "a new daemon exited 0 without a server: " + said);
        assertTrue(late.output().stream().noneMatch(l -> l.startsWith("READY")), said);
        assertTrue(said.toLowerCase(java.util.Locale.ROOT).matches("(?s).*(cannot|can't|failed to) " +
            "(connect|join).*"), () -> "the failure says it cannot connect or join: " + said);
        report("late daemon exited " + exit + ": " + said);

        assertTrue(producer.targets().getTargetsList().stream().anyMatch(t -> t.getVm() == system.sourceVm()),
            "the sink still sees the source");
        shareOnce(producer, consumer, events, system.sourceVm(), 600);
        awaitPoolFree(producer, poolBefore);
        assertTrue(system.sink().isAlive() && system.source().isAlive());
        assertEquals(List.of(), system.errorLines().stream().filter(l -> !l.startsWith("[late]")).toList(),
            "daemons logged errors");
    }

    // ---- 7 ----

    /**
     * Heartbeat detection: a source daemon that stops (SIGSTOP) while still connected to the ivshmem server is
     * declared down after liveness-timeout-ms (1500) by its heartbeat alone: the owner gets STATE=peer-lost and
     * a blocked release wait ends with EPEERLOST, after more than 1 s and less than 4 s.
     */
    @Test
    void aStoppedPeerIsDeclaredDownByItsHeartbeat() throws Exception
    {
        final HdmabufClient producer = connect(system.sinkSocket());
        final EventLog sinkEvents = subscribed(producer);
        final long poolBefore = poolFree(producer);
        final HdmabufClient consumer = connect(system.sourceSocket());
        final EventLog sourceEvents = subscribed(consumer);
        final Allocation a = alloc(producer);
        final Exported e = exportTo(producer, a, system.sourceVm());
        importOnceAdded(consumer, sourceEvents, sinkEvents, e);
        final PendingWait block = pending("FENCE_WAIT release", Lifecycle.fenceState(() ->
            producer.fenceWait(e.getId(), Timeline.TIMELINE_RELEASE, 1, TIMEOUT.toMillis()))).parkedIn(producer);

        final long pid = system.source().pid();
        final int mark = sinkEvents.mark();
        final long stopped = System.nanoTime();
        signal("STOP", pid);
        try
        {
            final UEvent lost = sinkEvents.await("STATE=peer-lost", mark, Duration.ofSeconds(6),
                is("change", e.getId(), "STATE", "peer-lost"));
            final long eventMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - stopped);
            final WaitResult r = block.get(Duration.ofSeconds(6));
            assertPoisoned(r, ErrorCode.EPEERLOST, false, "blocked release wait");
            final long waitMillis = r.millisSince(stopped);
            report("SIGSTOP: blocked wait " + r + " after " + waitMillis + " ms, peer-lost event after " +
                eventMillis + " ms");
            assertTrue(waitMillis > 1000 && waitMillis < 4000, "the wait ended " + waitMillis +
                " ms after SIGSTOP; expected liveness timeout (1500 ms) + heartbeat + margin");
            assertTrue(eventMillis > 1000 && eventMillis < 4000, "peer-lost " + eventMillis + " ms after SIGSTOP");
            assertEquals("peer-lost", lost.get("STATE"));
            assertEquals("peer-lost", producer.query(e.getId()).getState());
            producer.unexport(e.getId());
            producer.free(a.handle());
            awaitPoolFree(producer, poolBefore);
            assertEquals(List.of(), system.errorLines(), "daemons logged errors");
        }
        finally
        {
            system.source().kill(); // SIGKILL ends a stopped process too
        }
    }

    // ---- 8 ----

    /**
     * A stall of the whole host is not a death (ABI.md "Liveness"): both daemons stopped together (SIGSTOP) for
     * twice the liveness timeout, as when the host or both VMs pause, each discount the time they did not run
     * themselves once they continue. Nobody is declared down, no event says otherwise, and the buffer's fences
     * keep working through the daemons (BLOCK) afterwards.
     */
    @Test
    void aStallOfBothDaemonsTogetherIsNotADeath() throws Exception
    {
        final HdmabufClient producer = connect(system.sinkSocket());
        final EventLog sinkEvents = subscribed(producer);
        final HdmabufClient consumer = connect(system.sourceSocket());
        final EventLog sourceEvents = subscribed(consumer);
        final Allocation a = alloc(producer);
        final Exported e = exportTo(producer, a, system.sourceVm());
        final ImportedBuffer b = importOnceAdded(consumer, sourceEvents, sinkEvents, e);
        final Fence mine = fence(producer, a, e);
        final int sinkMark = sinkEvents.mark();
        final int sourceMark = sourceEvents.mark();
        final long sink = system.sink().pid();
        final long source = system.source().pid();
        signal("STOP", sink);
        signal("STOP", source);
        try
        {
            // The stimulus, not synchronization: the stall being simulated lasts 2 x the 1.5 s liveness timeout.
            java.util.concurrent.locks.LockSupport.parkNanos(Duration.ofSeconds(3).toNanos());
        }
        finally
        {
            signal("CONT", source);
            signal("CONT", sink);
        }
        // Through both daemons: a blocked wait in each is answered after a doorbell from the other VM.
        final CompletableFuture<Long> acquired = CompletableFuture.supplyAsync(() ->
        {
            try
            {
                return b.fence().await(1, TIMEOUT, Fence.WaitStrategy.BLOCK);
            }
            catch (final IOException ex)
            {
                throw new IllegalStateException(ex);
            }
        });
        mine.signal(1);
        assertEquals(1L, acquired.get(TIMEOUT.toSeconds(), TimeUnit.SECONDS));
        b.fence().signal(1);
        assertEquals(1L, mine.await(1, TIMEOUT, Fence.WaitStrategy.BLOCK));
        // Past the detection bound after the stall, still nobody is down.
        java.util.concurrent.locks.LockSupport.parkNanos(DEATH_BOUND.toNanos());
        assertEquals("exported", producer.query(e.getId()).getState(), "not peer-lost");
        assertTrue(sinkEvents.all().subList(sinkMark, sinkEvents.all().size()).stream()
            .noneMatch(ev -> "peer-lost".equals(ev.get("STATE"))), "the sink saw no peer-lost");
        assertTrue(sourceEvents.all().subList(sourceMark, sourceEvents.all().size()).stream()
            .noneMatch(ev -> "remove".equals(ev.action())), "the source removed nothing");
        for (final var d : List.of(system.sink(), system.source()))
        {
            assertTrue(d.output().stream().noneMatch(l -> l.contains("declaring it down")), () -> d.name() +
                " declared a peer down: " + d.output());
        }
        Await.until("both daemons noted that they did not run", TIMEOUT, () ->
            system.sink().output().stream().anyMatch(l -> l.contains("not run for")) &&
                system.source().output().stream().anyMatch(l -> l.contains("not run for")));
        mine.close();
    }

    // ---- shared steps ----

    /** Imports {@code e} once its add arrived; returns after the sink reported STATE=imported to its owner. */
    private ImportedBuffer importOnceAdded(final HdmabufClient consumer, final EventLog sourceEvents,
        final EventLog sinkEvents, final Exported e) throws Exception
    {
        sourceEvents.await("add", 0, TIMEOUT, is("add", e.getId(), null, null));
        final ImportedBuffer b = consumer.importBuffer(e.getId());
        cleanup.add(b);
        sinkEvents.await("STATE=imported", 0, TIMEOUT, is("change", e.getId(), "STATE", "imported"));
        return b;
    }

    /**
     * The consumer's view of a dead exporter VM: remove REASON=peer-lost for each held buffer, the spinning
     * and blocking acquire waits end with EPEERLOST within the bound, mappings stay readable, IMPORT answers
     * ENOENT.
     */
    private void assertExporterLost(final HdmabufClient consumer, final EventLog events, final int mark,
        final long killed, final ImportedBuffer[] held, final PendingWait spin, final PendingWait block)
        throws Exception
    {
        for (final ImportedBuffer b : held)
        {
            final UEvent remove = events.await("remove of " + BufferIds.format(b.id()), mark, DEATH_BOUND,
                is("remove", b.id(), null, null));
            assertEquals("peer-lost", remove.get("REASON"), () -> "remove of " + BufferIds.format(b.id()) + ": " +
                remove.properties());
        }
        final WaitResult spun = spin.get(DEATH_BOUND);
        final WaitResult blocked = block.get(DEATH_BOUND);
        assertPoisoned(spun, ErrorCode.EPEERLOST, true, "spinning acquire wait");
        assertPoisoned(blocked, ErrorCode.EPEERLOST, false, "blocking acquire wait");
        report("exporter/importer killed: spin " + spun + " after " + spun.millisSince(killed) + " ms, block " +
            blocked + " after " + blocked.millisSince(killed) + " ms");
        assertTrue(spun.millisSince(killed) < DEATH_BOUND.toMillis(), "spin ended after " + spun.millisSince(killed));
        assertTrue(blocked.millisSince(killed) < DEATH_BOUND.toMillis(), "block ended after " +
            blocked.millisSince(killed));
        for (final ImportedBuffer b : held)
        {
            assertEquals(ErrorCode.ENOENT, errorOf(() -> consumer.importBuffer(b.id())), "IMPORT of a lost buffer");
        }
        for (final ImportedBuffer b : held)
        {
            final long seq = b.buffer().bytes().duplicate().order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong(0);
            assertFrame(content(b), seq, "mapping of " + BufferIds.format(b.id()) + " after the exporter died");
        }
    }

    /**
     * On xen: the dead exporter domain mapped nothing of others, and the pages of its grants the importer still
     * maps (at least the data pages of {@code imported} buffers) stay valid: Xen defers their end of access until
     * the importer unmaps, so the consumer's mappings stay readable, as asserted above.
     */
    private void assertXenExporterTeardown(final int domid, final int imported) throws Exception
    {
        if (xen())
        {
            final long[] teardown = xenTeardown(domid);
            assertEquals(0, teardown[0], "a sink maps nothing of its peers");
            assertTrue(teardown[1] >= imported * FRAME_PAGES, "imported pages of the dead exporter still mapped: " +
                teardown[1]);
        }
    }

    /** Two buffers exported by {@code producer} (frames 100 and 101, acquire 1) and imported by {@code consumer}. */
    private ImportedBuffer[] exportAndImportTwo(final HdmabufClient producer, final HdmabufClient consumer,
        final EventLog events) throws Exception
    {
        final ImportedBuffer[] held = new ImportedBuffer[2];
        for (int i = 0; i < 2; i++)
        {
            final Allocation a = alloc(producer);
            fill(a.buffer().bytes(), 100 + i);
            final Exported e = exportTo(producer, a, system.sourceVm());
            fence(producer, a, e).signal(1);
            events.await("add", 0, TIMEOUT, is("add", e.getId(), null, null));
            held[i] = consumer.importBuffer(e.getId());
            cleanup.add(held[i]);
            assertEquals(1, held[i].fence().await(1, TIMEOUT, Fence.WaitStrategy.SPIN));
            assertFrame(content(held[i]), 100 + i, "import " + i);
        }
        return held;
    }

    /**
     * One complete sharing round between live daemons: alloc, export, import after add, content check,
     * acquire and release across, release, unexport, free.
     */
    private void shareOnce(final HdmabufClient producer, final HdmabufClient consumer, final EventLog events,
        final int target, final long seq) throws Exception
    {
        final int mark = events.mark();
        final Allocation a = alloc(producer);
        fill(a.buffer().bytes(), seq);
        final Exported e = exportTo(producer, a, target);
        final Fence mine = fence(producer, a, e);
        final UEvent add = events.await("add of a new export", mark, TIMEOUT, is("add", e.getId(), null, null));
        assertEquals(Integer.toString(e.getId().getExporterVm()), add.get("EXPORTER"));
        try (ImportedBuffer b = consumer.importBuffer(e.getId()))
        {
            mine.signal(1);
            assertEquals(1, b.fence().await(1, TIMEOUT, Fence.WaitStrategy.ADAPTIVE));
            assertEquals(0, b.fence().error());
            assertFrame(content(b), seq, "shared frame " + seq);
            b.fence().signal(1);
            assertEquals(1, mine.await(1, TIMEOUT, Fence.WaitStrategy.BLOCK));
            assertEquals(0, mine.error());
            consumer.release(e.getId());
        }
        producer.unexport(e.getId());
        producer.free(a.handle());
    }

    /** Waits for the `add` of the stream's three buffers and imports them, indexed by slot. */
    private ImportedBuffer[] importStream(final HdmabufClient consumer, final EventLog events) throws Exception
    {
        final ImportedBuffer[] slots = new ImportedBuffer[3];
        for (int s = 0; s < 3; s++)
        {
            final String slot = Integer.toString(s);
            final UEvent add = events.await("add of stream slot " + s, 0, TIMEOUT, e -> "add".equals(e.action()) &&
                STREAM.equals(e.get("TAG_STREAM")) && slot.equals(e.get("TAG_SLOT")));
            slots[s] = consumer.importBuffer(BufferIds.parse(add.get("BUFFER")));
            cleanup.add(slots[s]);
        }
        return slots;
    }

    private static BufferId[] streamIds(final List<BufferInfo> exports, final int count)
    {
        assertEquals(count, exports.size(), "exports of the stream");
        final BufferId[] ids = new BufferId[count];
        for (final BufferInfo b : exports)
        {
            ids[Integer.parseInt(b.getMetadata().getTagsOrThrow("slot"))] = b.getId();
        }
        return ids;
    }

    private static void produce(final FrameProducer stream, final long from, final long to) throws IOException
    {
        for (long seq = from; seq < to; seq++)
        {
            assertEquals(seq, stream.frames());
            fill(stream.beginFrame(TIMEOUT), seq);
            stream.endFrame();
        }
    }

    private ChildProcess spawnProducer(final String name, final Path socket, final int target, final long frames,
        final String wait) throws IOException
    {
        return system.spawn(name, "stream-producer", "--socket", socket.toString(), "--to", Integer.toString(target),
            "--frames", Long.toString(frames), "--width", "64", "--height", "64", "--buffers", "3", "--wait", wait);
    }

    private HdmabufClient connect(final Path socket) throws IOException
    {
        final HdmabufClient c = HdmabufClient.connect(socket).timeout(TIMEOUT);
        cleanup.add(c);
        return c;
    }

    private static EventLog subscribed(final HdmabufClient client) throws IOException
    {
        client.subscribe(List.of(), false);
        return new EventLog(client);
    }

    private Allocation alloc(final HdmabufClient producer) throws IOException
    {
        final Allocation a = producer.alloc(FRAME_BYTES);
        cleanup.add(a);
        return a;
    }

    private static Exported exportTo(final HdmabufClient producer, final Allocation a, final int target)
        throws IOException
    {
        return producer.export(a.handle(), target, Metadata.newBuilder().setVersion(1)
            .setContentType("application/x-lifecycle").setSize(FRAME_BYTES).build(), Access.ACCESS_READ_WRITE);
    }

    private Fence fence(final HdmabufClient producer, final Allocation a, final Exported e) throws IOException
    {
        final Fence f = producer.fence(a, e);
        cleanup.add(f);
        return f;
    }

    private PendingWait pending(final String name, final Lifecycle.WaitCall call)
    {
        final PendingWait w = PendingWait.start(name, call);
        waits.add(w);
        return w;
    }

    private static long poolFree(final HdmabufClient sink) throws IOException
    {
        return sink.caps().getPoolFreeBytes();
    }

    private static void awaitPoolFree(final HdmabufClient sink, final long expected) throws Exception
    {
        try
        {
            Await.until("pool free bytes == " + expected, TIMEOUT, () -> poolFree(sink) == expected);
        }
        catch (final AssertionError e)
        {
            throw new AssertionError(e.getMessage() + " (now " + poolFree(sink) + ")", e);
        }
    }

    private static void awaitSourceTarget(final HdmabufClient producer, final int vm) throws Exception
    {
        Await.until("VM " + vm + " with a source role among the sink's targets", TIMEOUT, () ->
            producer.targets().getTargetsList().stream().anyMatch(t -> t.getVm() == vm &&
                t.getRolesList().contains("source")));
    }

    private static ErrorCode errorOf(final Executable call)
    {
        return assertThrows(HdmabufException.class, call).code();
    }

}
