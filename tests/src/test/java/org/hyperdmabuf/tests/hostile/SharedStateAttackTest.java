package org.hyperdmabuf.tests.hostile;

import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.cli.ChildProcess;
import org.hyperdmabuf.client.HdmabufClient;
import org.hyperdmabuf.client.HdmabufException;
import org.hyperdmabuf.tests.hostile.HostilePeer.Scenario;
import org.hyperdmabuf.tests.support.Await;
import org.hyperdmabuf.tests.support.CheckedStream;
import org.hyperdmabuf.tests.support.SystemTest;
import org.hyperdmabuf.tests.support.TwoVmSystem;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A hostile third VM scribbles over what other peers own in the shared region: the header, the page table, the
 * fence slots of a live stream, the sink's peer slot, the ring from the sink to the source. On ivshmem every peer
 * can write all of the region (ABI.md "ivshmem specifics"), so this cannot be isolated; what is required, and
 * checked here, is that no daemon crashes, reads or writes out of bounds or logs an ERROR or a stack trace, that
 * both keep answering their clients, and that the outcome is the documented one for each scribble.
 */
@SystemTest
class SharedStateAttackTest
{
    private static final Duration TIMEOUT = Duration.ofSeconds(60);

    @ParameterizedTest
    @EnumSource(value = Scenario.class, names = {"SCRIBBLE_HEADER", "SCRIBBLE_PAGE_TABLE", "SCRIBBLE_FENCES",
        "SCRIBBLE_PEER_SLOT", "SCRIBBLE_CROSS_RING"})
    void daemonsSurviveScribblesOnSharedStateWithTheDocumentedOutcome(final Scenario scenario) throws Exception
    {
        final TwoVmSystem system = TwoVmSystem.startInTempDir("shared", 64L << 20, TwoVmSystem.PATIENT, TwoVmSystem.PATIENT);
        final List<ChildProcess> untracked = new ArrayList<>();
        try
        {
            // Stream clients are not part of the system: under some scribbles they fail, as documented.
            final ChildProcess consumer = untracked(untracked, "consumer", "consumer", system.sourceSocket().toString(),
                "shared");
            final ChildProcess producer = untracked(untracked, "producer", "producer", system.sinkSocket().toString(),
                Integer.toString(system.sourceVm()), "shared", Integer.toString(64 * 1024), "3", "200");
            Await.until("the stream to flow", TIMEOUT, () -> consumer.linesStartingWith("PROGRESS").size() >= 2);
            final ChildProcess hostile = ChildProcess.java("hostile-" + scenario, HostilePeerTest.JVM,
                HostilePeer.class.getName(), List.of(system.ivshmemSocket().toString(), scenario.name(),
                    Integer.toString(system.sinkVm()), Integer.toString(system.sourceVm())), System.out);
            untracked.add(hostile);
            hostile.awaitLine("ATTACKED", TIMEOUT);
            final int sinkFrom = system.sink().output().size();

            switch (scenario)
            {
                case SCRIBBLE_HEADER -> {
                    // Running daemons use their private copy of the layout: the stream goes on, intact.
                    awaitProgress(consumer);
                    final ChildProcess late = ChildProcess.start("late-daemon", List.of("-Xmx64m"), List.of("source",
                        "--ivshmem", system.ivshmemSocket().toString(), "--socket",
                        system.dir().resolve("late.sock").toString(), "--name", "late", "--policy",
                        system.dir().resolve("none.toml").toString()), System.out);
                    untracked.add(late);
                    final int exit = late.waitFor(TIMEOUT);
                    assertNotEquals(0, exit, "a daemon refuses a region whose header does not validate");
                    assertTrue(late.output().stream().anyMatch(l -> l.contains("layout_version")),
                        "the refusal names the field: " + late.output());
                    assertStreamEndsIntact(producer, consumer);
                }
                case SCRIBBLE_PAGE_TABLE -> {
                    // Mappings already handed out stay valid; the pool looks full to everyone.
                    awaitProgress(consumer);
                    try (HdmabufClient c = HdmabufClient.connect(system.sinkSocket()))
                    {
                        assertEquals(ErrorCode.ENOSPC, assertThrows(HdmabufException.class, () -> c.alloc(4096))
                            .code());
                    }
                    assertStreamEndsIntact(producer, consumer);
                    // Freeing the stream's buffers finds their pages stolen: left alone and reported, not ERROR.
                    Await.until("the sink to report stolen pages", TIMEOUT, () -> system.sink().output()
                        .subList(sinkFrom, system.sink().output().size()).stream()
                        .anyMatch(l -> l.contains(" WARN ") && l.contains("overwritten by another peer")));
                }
                case SCRIBBLE_FENCES -> {
                    // The stream's fences hold garbage: its clients fail or stall; the daemons do not care.
                    stopQuietly(producer, consumer);
                }
                case SCRIBBLE_PEER_SLOT -> {
                    // The source no longer sees a live sink in slot 1: the sink is gone for it, its buffers removed.
                    Await.until("the source to drop the sink", TIMEOUT, () -> system.source().output().stream()
                        .anyMatch(l -> l.contains("peer VM " + system.sinkVm() + " down")));
                    stopQuietly(producer, consumer);
                }
                case SCRIBBLE_CROSS_RING -> {
                    Await.until("the source to close the sink's corrupt ring", TIMEOUT, () -> system.source().output()
                        .stream().anyMatch(l -> l.contains("peer VM " + system.sinkVm() + " down (corrupt)")));
                    assertEquals(1, system.source().output().stream().filter(l -> l.contains(" WARN ") &&
                        l.contains("peer " + system.sinkVm() + " session") && l.contains("corrupt")).count(),
                        "reported once");
                    stopQuietly(producer, consumer);
                }
                default -> throw new IllegalArgumentException(scenario.toString());
            }
            for (final var socket : List.of(system.sinkSocket(), system.sourceSocket()))
            {
                try (HdmabufClient c = HdmabufClient.connect(socket))
                {
                    assertTrue(c.caps().getPoolBytes() > 0, "the daemon still serves its clients");
                }
            }
            for (final ChildProcess daemon : List.of(system.sink(), system.source()))
            {
                assertTrue(daemon.isAlive(), daemon.name() + " is alive");
                assertTrue(daemon.output().stream().noneMatch(l -> l.startsWith("\tat ")),
                    daemon.name() + " logged a stack trace");
            }
        }
        finally
        {
            for (final ChildProcess p : untracked)
            {
                p.close();
            }
            system.closeAndVerify();
        }
    }

    private static ChildProcess untracked(final List<ChildProcess> list, final String name, final String... args)
        throws Exception
    {
        final ChildProcess p = ChildProcess.java(name, HostilePeerTest.JVM, CheckedStream.class.getName(),
            List.of(args), null);
        list.add(p);
        return p;
    }

    private static void awaitProgress(final ChildProcess consumer) throws Exception
    {
        final int seen = consumer.linesStartingWith("PROGRESS").size();
        Await.until("the stream to keep flowing", TIMEOUT,
            () -> consumer.linesStartingWith("PROGRESS").size() >= seen + 2);
    }

    private static void assertStreamEndsIntact(final ChildProcess producer, final ChildProcess consumer)
        throws Exception
    {
        producer.send("STOP");
        final String sent = producer.awaitLine("SENT", TIMEOUT);
        assertEquals(sent.substring(5), consumer.awaitLine("VERIFIED", TIMEOUT).substring(9),
            "every frame delivered once, intact: " + consumer.output());
    }

    private static void stopQuietly(final ChildProcess producer, final ChildProcess consumer) throws Exception
    {
        producer.close();
        consumer.close();
        System.out.println("stream clients after the scribble: producer " + tail(producer) + ", consumer " +
            tail(consumer));
    }

    private static String tail(final ChildProcess p)
    {
        final List<String> out = p.output().stream().filter(l -> !l.startsWith("PROGRESS") && !l.startsWith("\t"))
            .toList();
        return out.subList(Math.max(0, out.size() - 3), out.size()).toString();
    }
}
