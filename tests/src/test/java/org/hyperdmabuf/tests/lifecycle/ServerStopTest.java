package org.hyperdmabuf.tests.lifecycle;

import org.hyperdmabuf.cli.ChildProcess;
import org.hyperdmabuf.client.HdmabufClient;
import org.hyperdmabuf.tests.support.Await;
import org.hyperdmabuf.tests.support.QemuIvshmemServer;
import org.hyperdmabuf.tests.support.SystemTest;
import org.hyperdmabuf.tests.support.TwoVmSystem;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.hyperdmabuf.tests.lifecycle.Lifecycle.DEATH_BOUND;
import static org.hyperdmabuf.tests.lifecycle.Lifecycle.TIMEOUT;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The ivshmem server stops while daemons run (ABI.md "Failure cases"): gracefully (SIGTERM) or not (SIGKILL), our
 * embedded server or QEMU's own, which announces every peer as disconnected when it shuts down gracefully. The
 * peers never split: both keep listing each other and a fenced stream runs after the stop. A daemon killed while
 * the server runs is still declared gone, and one killed after the stop by its heartbeat. Also: a daemon restarted
 * many times against the embedded server rejoins every time (ids are reused).
 */
@SystemTest
class ServerStopTest
{
    private static final String REGION = "32M";

    private Path dir;
    private TwoVmSystem system;
    private final List<AutoCloseable> cleanup = new ArrayList<>();

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
                // clients of dead daemons fail to close cleanly; the processes go below
            }
        }
        try
        {
            if (system != null)
            {
                system.close();
            }
        }
        finally
        {
            if (dir != null)
            {
                try (Stream<Path> files = Files.walk(dir))
                {
                    files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
                }
            }
        }
    }

    @ParameterizedTest(name = "{0} server, SIG{1}")
    @CsvSource({"embedded, TERM", "embedded, KILL", "qemu, TERM", "qemu, KILL"})
    @Timeout(value = 240, unit = TimeUnit.SECONDS)
    void peersKeepWorkingWhenTheServerStops(final String server, final String signal) throws Exception
    {
        final boolean qemu = "qemu".equals(server);
        final Path qemuServer = qemu ? QemuIvshmemServer.binary() : null;
        dir = Files.createTempDirectory(Path.of("/tmp"), "hds");
        system = qemu ? TwoVmSystem.startWith(dir, QemuIvshmemServer.starter(qemuServer, REGION), List.of(), List.of()) :
            TwoVmSystem.start(dir, 32L << 20);
        final HdmabufClient producer = connect(system.sinkSocket());
        awaitTarget(producer, system.sourceVm(), true);

        // A daemon killed while the server runs: the server's disconnect, confirmed by a still heartbeat.
        final ChildProcess extra = system.startDaemon("extra", "source", dir.resolve("extra.sock"));
        final int extraVm = TwoVmSystem.vmOf(extra);
        awaitTarget(producer, extraVm, true);
        extra.kill();
        awaitTarget(producer, extraVm, false);
        assertTrue(system.sink().output().stream().anyMatch(l -> l.contains("peer " + extraVm + " down (gone)")),
            "declared gone, through the server's notice");

        signal(signal, system.server().pid());
        assertTrue(system.server().waitFor(TIMEOUT) >= 0, "the server exits on SIG" + signal);
        for (final ChildProcess daemon : List.of(system.sink(), system.source()))
        {
            Await.until(daemon.name() + " to notice the server's end", TIMEOUT,
                () -> daemon.output().stream().anyMatch(l -> l.contains("ivshmem server lost")));
        }
        if (qemu && "TERM".equals(signal))
        {
            // QEMU's server announced the sink gone to the source before closing; the source kept it up because
            // its heartbeat moves.
            final String kept = "peer " + system.sinkVm() + " session ";
            Await.until("the source to keep the sink up despite the server's disconnect notice", TIMEOUT, () ->
                system.source().output().stream().anyMatch(l -> l.contains(kept) && l.contains("it stays up")));
        }

        fencedStream();
        assertTrue(producer.targets().getTargetsList().stream().anyMatch(t -> t.getVm() == system.sourceVm()),
            "the sink still lists the source");
        assertNoDown(system.sink(), system.sourceVm());
        assertNoDown(system.source(), system.sinkVm());

        // Without a server, a daemon killed for real is declared down by its heartbeat.
        final long killed = System.nanoTime();
        system.source().kill();
        awaitTarget(producer, system.sourceVm(), false);
        final long ms = (System.nanoTime() - killed) / 1_000_000L;
        assertTrue(ms < DEATH_BOUND.toMillis(), "declared down after " + ms + " ms");
        assertEquals(List.of(), system.errorLines(), "daemons logged errors");
    }

    /**
     * The embedded server hands a restarted daemon the lowest free id; QEMU's counts up, and a daemon whose id is
     * beyond the region's 8 slots claims a free one (the killed predecessors' slots, once their heartbeats stand
     * still). Either way the VM id stays a slot and the daemon rejoins.
     */
    @ParameterizedTest(name = "{0} server, {1} restarts")
    @CsvSource({"embedded, 20", "qemu, 12"})
    @Timeout(value = 300, unit = TimeUnit.SECONDS)
    void aDaemonRestartedManyTimesRejoinsEveryTime(final String server, final int restarts) throws Exception
    {
        final Path qemuServer = "qemu".equals(server) ? QemuIvshmemServer.binary() : null;
        dir = Files.createTempDirectory(Path.of("/tmp"), "hdr");
        system = qemuServer != null ?
            TwoVmSystem.startWith(dir, QemuIvshmemServer.starter(qemuServer, REGION), List.of(), List.of()) :
            TwoVmSystem.start(dir, 32L << 20);
        final HdmabufClient producer = connect(system.sinkSocket());
        ChildProcess source = system.source();
        int vm = system.sourceVm();
        for (int i = 1; i <= restarts; i++)
        {
            source.kill();
            final int lost = vm;
            awaitTarget(producer, lost, false);
            source = system.startDaemon("source-" + i, "source", dir.resolve("source" + i + ".sock"));
            vm = TwoVmSystem.vmOf(source);
            assertTrue(vm >= 0 && vm <= 7, "restart " + i + ": VM id " + vm + " is one of the region's 8 peer slots");
            awaitTarget(producer, vm, true);
        }
        assertEquals(List.of(), system.errorLines(), "daemons logged errors");
    }

    /** 200 frames from a producer on the sink to a consumer on the source, each fenced both ways. */
    private void fencedStream() throws Exception
    {
        final ChildProcess consumer = system.spawn("stream-consumer", "stream-consumer", "--socket",
            system.sourceSocket().toString(), "--frames", "200", "--wait", "ADAPTIVE");
        consumer.awaitLine("READY", TIMEOUT);
        final ChildProcess producer = system.spawn("stream-producer", "stream-producer", "--socket",
            system.sinkSocket().toString(), "--to", Integer.toString(system.sourceVm()), "--frames", "200", "--width",
            "64", "--height", "64", "--buffers", "3", "--wait", "ADAPTIVE");
        assertEquals(0, consumer.waitFor(Duration.ofSeconds(60)), () -> "consumer failed: " +
            String.join("\n", consumer.output()));
        assertEquals(0, producer.waitFor(TIMEOUT), () -> "producer failed: " + String.join("\n", producer.output()));
        assertTrue(consumer.output().stream().anyMatch(l -> l.startsWith("VERIFIED frames=200 ")),
            () -> String.join("\n", consumer.output()));
    }

    private static void assertNoDown(final ChildProcess daemon, final int peer)
    {
        final String down = "peer " + peer + " down";
        assertTrue(daemon.output().stream().noneMatch(l -> l.contains(down)), () -> daemon.name() + " dropped peer " +
            peer + ": " + String.join("\n", daemon.output()));
    }

    private HdmabufClient connect(final Path socket) throws Exception
    {
        final HdmabufClient c = HdmabufClient.connect(socket).timeout(TIMEOUT);
        cleanup.add(c);
        return c;
    }

    private static void awaitTarget(final HdmabufClient producer, final int vm, final boolean listed) throws Exception
    {
        Await.until("VM " + vm + (listed ? " among" : " gone from") + " the sink's targets", listed ? TIMEOUT :
            DEATH_BOUND, () -> producer.targets().getTargetsList().stream().anyMatch(t -> t.getVm() == vm) == listed);
    }

    /** SIGTERM (a graceful stop) or SIGKILL. */
    private static void signal(final String signal, final long pid)
    {
        ProcessHandle.of(pid).ifPresent("KILL".equals(signal) ? ProcessHandle::destroyForcibly : ProcessHandle::destroy);
    }
}
