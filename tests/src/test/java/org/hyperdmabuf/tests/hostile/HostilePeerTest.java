package org.hyperdmabuf.tests.hostile;

import org.hyperdmabuf.abi.v1.BufferId;
import org.hyperdmabuf.abi.v1.BufferInfo;
import org.hyperdmabuf.cli.ChildProcess;
import org.hyperdmabuf.client.HdmabufClient;
import org.hyperdmabuf.tests.hostile.HostilePeer.Scenario;
import org.hyperdmabuf.tests.support.Await;
import org.hyperdmabuf.tests.support.CheckedStream;
import org.hyperdmabuf.tests.support.SystemTest;
import org.hyperdmabuf.tests.support.TwoVmSystem;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A hostile third VM attacks a running sink (VM 1) and source (VM 2) while a fenced frame stream flows between
 * them, one scenario per hostile process (ABI.md "Validation and violations"). Every attack here is on what the
 * hostile peer legitimately writes (its own rings and the head of the rings it reads) or on the meaning of its
 * messages, so it can and must be isolated: the victims close only the hostile channel, or refuse the message
 * with a typed reject, log a single WARN without a stack trace, and keep serving the stream, which must end
 * with every frame delivered once and intact. Nothing may be logged at ERROR.
 */
// "try": attacks are closed by try-with-resources, and stopping their processes may be interrupted.
@SystemTest
@SuppressWarnings("try")
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class HostilePeerTest
{
    static final List<String> JVM = List.of("-Xmx64m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1");
    private static final Duration TIMEOUT = Duration.ofSeconds(60);
    private static final String STREAM = "legit";

    private TwoVmSystem system;
    private ChildProcess producer;
    private ChildProcess consumer;
    private HdmabufClient sourceClient;
    private final List<ChildProcess> hostiles = new ArrayList<>();

    @BeforeAll
    void startSystemAndStream() throws Exception
    {
        system = TwoVmSystem.startInTempDir("hostile", 64L << 20, TwoVmSystem.PATIENT, TwoVmSystem.PATIENT);
        consumer = checkedStream(system, "consumer", "consumer", system.sourceSocket().toString(), STREAM);
        producer = checkedStream(system, "producer", "producer", system.sinkSocket().toString(),
            Integer.toString(system.sourceVm()), STREAM, Integer.toString(64 * 1024), "3", "200");
        consumer.awaitLine("PROGRESS", TIMEOUT);
        sourceClient = HdmabufClient.connect(system.sourceSocket());
    }

    /** Starts a {@link CheckedStream} mode as its own JVM; stopped with the system. */
    static ChildProcess checkedStream(final TwoVmSystem system, final String name, final String... args)
        throws IOException
    {
        return system.track(ChildProcess.java(name, JVM, CheckedStream.class.getName(), List.of(args), System.out));
    }

    @AfterAll
    void stopStreamAndVerify() throws Exception
    {
        try
        {
            for (final ChildProcess hostile : hostiles)
            {
                hostile.close();
            }
            if (sourceClient != null)
            {
                sourceClient.close();
            }
            if (producer != null)
            {
                producer.send("STOP");
                final String sent = producer.awaitLine("SENT", TIMEOUT);
                final String verified = consumer.awaitLine("VERIFIED", TIMEOUT);
                assertEquals(sent.substring(5), verified.substring(9), "every frame delivered once, intact");
                assertTrue(Long.parseLong(sent.substring(5)) > 100, "the stream flowed: " + sent);
            }
            for (final ChildProcess daemon : List.of(system.sink(), system.source()))
            {
                assertTrue(daemon.output().stream().noneMatch(l -> l.startsWith("\tat ")),
                    daemon.name() + " logged a stack trace");
            }
        }
        finally
        {
            if (system != null)
            {
                system.closeAndVerify();
            }
        }
    }

    @ParameterizedTest
    @EnumSource(value = Scenario.class, names = {"TAIL_BEYOND_CAPACITY", "TAIL_MISALIGNED", "TAIL_BACKWARDS",
        "RECORD_LENGTH_ZERO", "RECORD_LENGTH_HUGE", "RECORD_LENGTH_NEGATIVE", "RECORD_PAST_TAIL", "RECORD_TYPE_ZERO",
        "RECORD_TYPE_NEGATIVE", "PADDING_WRONG_LENGTH", "SESSION_START_SHORT"})
    void aCorruptRingClosesOnlyTheHostileChannelInBothDaemons(final Scenario scenario) throws Exception
    {
        try (Attack attack = attack(scenario))
        {
            for (final ChildProcess victim : List.of(system.sink(), system.source()))
            {
                final String session = attack.corruptRingTo(victim);
                attack.awaitOnce(victim, session, "ring to us is corrupt");
                attack.awaitVictimLine(victim, "peer VM " + attack.vm + " down (corrupt)");
            }
            attack.hostile.send("DONE");
            attack.hostile.awaitLine("ATTACKED", TIMEOUT);
            attack.assertStreamFlows();
        }
    }

    @ParameterizedTest
    @EnumSource(value = Scenario.class, names = "HEAD_GARBAGE")
    void aScribbledHeadOfTheRingItReadsClosesTheChannelWhenTheVictimWrites(final Scenario scenario) throws Exception
    {
        try (Attack attack = attack(scenario))
        {
            attack.awaitOnce(system.source(), "ring to it is corrupt");
            attack.awaitVictimLine(system.source(), "peer VM " + attack.vm + " down (corrupt)");
            attack.assertStreamFlows();
        }
    }

    @ParameterizedTest
    @EnumSource(value = Scenario.class, names = {"MALFORMED_RECORDS", "UNKNOWN_RECORD_TYPE"})
    void undecodableOrUnknownRecordsAreDroppedAndTheChannelStaysOpen(final Scenario scenario) throws Exception
    {
        try (Attack attack = attack(scenario))
        {
            // The forgery sent after the junk is answered: the channel is still open.
            attack.awaitGot("GOT REJECT from " + system.sourceVm() + " EACCES", 1);
            if (scenario == Scenario.MALFORMED_RECORDS)
            {
                for (final ChildProcess victim : List.of(system.sink(), system.source()))
                {
                    attack.awaitVictimLine(victim, "VM " + attack.vm + " sent a malformed message");
                    assertEquals(1, attack.victimLines(victim, "VM " + attack.vm + " sent a malformed message").size(),
                        "reported once per peer session, not once per record");
                }
            }
            for (final ChildProcess victim : List.of(system.sink(), system.source()))
            {
                assertTrue(attack.victimLines(victim, "corrupt").isEmpty(), victim.name() + " closed the channel");
            }
            attack.assertStreamFlows();
        }
    }

    @ParameterizedTest
    @EnumSource(value = Scenario.class, names = {"FORGED_EXPORTER", "RANGE_ATTACKS", "FOREIGN_PAGES", "FENCE_ATTACKS"})
    void forgedAnnouncementsAreRejectedAndNeverImportable(final Scenario scenario) throws Exception
    {
        try (Attack attack = attack(scenario))
        {
            switch (scenario)
            {
                case FORGED_EXPORTER -> attack.awaitGot("GOT REJECT from " + system.sourceVm() + " EACCES", 1);
                case RANGE_ATTACKS -> attack.awaitGot("GOT REJECT from " + system.sourceVm() + " EINVAL",
                    HostilePeer.RANGE_ATTACK_COUNT);
                case FOREIGN_PAGES -> attack.awaitGot("GOT REJECT from " + system.sourceVm() + " EINVAL", 1);
                default -> attack.awaitGot("GOT REJECT from " + system.sourceVm() + " EINVAL",
                    HostilePeer.FENCE_ATTACK_COUNT);
            }
            final List<BufferInfo> listed = sourceClient.list().getBuffersList();
            assertTrue(listed.stream().noneMatch(b -> b.getExporterVm() == attack.vm), "nothing of the attacker " +
                "is listed: " + listed);
            assertTrue(listed.stream().noneMatch(b -> b.getExporterVm() == system.sinkVm() &&
                b.getMetadata().getContentType().equals("hostile/test")), "no forged sink buffer: " + listed);
            assertTrue(attack.victimLines(system.source(), "corrupt").isEmpty(), "a reject, not a closed channel");
            attack.assertStreamFlows();
        }
    }

    @ParameterizedTest
    @EnumSource(value = Scenario.class, names = "DUPLICATE_EXPORT")
    void duplicateAndStaleAnnouncementsAddTheBufferOnceAndAMovingReExportIsRefused(final Scenario scenario)
        throws Exception
    {
        try (Attack attack = attack(scenario))
        {
            attack.awaitGot("GOT REJECT from " + system.sourceVm() + " EINVAL", 1);
            final List<BufferInfo> fromAttacker = sourceClient.list().getBuffersList().stream()
                .filter(b -> b.getExporterVm() == attack.vm).toList();
            assertEquals(1, fromAttacker.size(), "one buffer for four announcements: " + fromAttacker);
            assertEquals(8192, fromAttacker.get(0).getLength(), "the refused re-export changed nothing");
            attack.assertStreamFlows();
        }
    }

    @ParameterizedTest
    @EnumSource(value = Scenario.class, names = "FORGED_NOTICES")
    void noticesAboutBuffersOfOtherVmsAreIgnored(final Scenario scenario) throws Exception
    {
        final List<BufferInfo> before = streamBuffers();
        assertEquals(3, before.size(), "the stream's three buffers: " + before);
        final List<String> ids = new ArrayList<>();
        for (final BufferInfo b : before)
        {
            final BufferId id = b.getId();
            ids.add(id.getExporterVm() + ":" + id.getExportNumber() + ":" + Long.toHexString(id.getNonce()));
        }
        try (Attack attack = attack(scenario, ids.toArray(new String[0])))
        {
            // The source answers each unexport notice it cannot apply with "dropped": all were processed then.
            attack.awaitGot("GOT RELEASE from " + system.sourceVm(), ids.size() + 50);
            assertEquals(before, streamBuffers(), "the stream's buffers are untouched (not removed, still imported)");
            assertTrue(attack.victimLines(system.sink(), "refused export").isEmpty(),
                "a reject from a VM that is not the target is ignored");
            attack.assertStreamFlows();
        }
    }

    @ParameterizedTest
    @EnumSource(value = Scenario.class, names = "REJECT_FLOOD")
    void aFloodOfForgeriesIsReportedOnceAndTheSourceStaysResponsive(final Scenario scenario) throws Exception
    {
        try (Attack attack = attack(scenario))
        {
            attack.awaitGot("GOT REJECT from " + system.sourceVm() + " EACCES", 1);
            attack.awaitVictimLine(system.source(), "VM " + attack.vm + " announced buffer");
            final long start = System.nanoTime();
            sourceClient.caps();
            assertTrue(System.nanoTime() - start < 5_000_000_000L, "the source answers its clients during a flood");
            attack.assertStreamFlows();
            assertEquals(1, attack.victimLines(system.source(), "VM " + attack.vm + " announced buffer").size(),
                "one WARN per attacker session, not one per message");
            final List<String> refusals = attack.victimLines(system.source(), "from VM " + attack.vm + ": EACCES");
            assertTrue(refusals.size() <= 10, "refusals are logged a few times per session, not " +
                HostilePeer.FLOOD_MESSAGES + " times: " + refusals.size());
        }
    }

    private List<BufferInfo> streamBuffers() throws IOException
    {
        return sourceClient.list().getBuffersList().stream().filter(b -> b.getExporterVm() == system.sinkVm())
            .toList();
    }

    private Attack attack(final Scenario scenario, final String... ids) throws Exception
    {
        final List<String> args = new ArrayList<>(List.of(system.ivshmemSocket().toString(), scenario.name(),
            Integer.toString(system.sinkVm()), Integer.toString(system.sourceVm())));
        args.addAll(List.of(ids));
        final int sinkFrom = system.sink().output().size();
        final int sourceFrom = system.source().output().size();
        // Not part of the system: the attacker's own log is not checked for errors.
        final ChildProcess hostile = ChildProcess.java("hostile-" + scenario, JVM, HostilePeer.class.getName(), args,
            System.out);
        hostiles.add(hostile);
        final String[] joined = hostile.awaitLine("JOINED", TIMEOUT).split(" ");
        if (!HostilePeer.RING_CORRUPTIONS.contains(scenario))
        {
            hostile.awaitLine("ATTACKED", TIMEOUT);
        }
        return new Attack(hostile, Integer.parseInt(joined[1]), joined[2], sinkFrom, sourceFrom);
    }

    /** One hostile process and what the victims printed since it started. */
    private final class Attack implements AutoCloseable
    {
        final ChildProcess hostile;
        final int vm;
        final String session;
        final int sinkFrom;
        final int sourceFrom;

        Attack(final ChildProcess hostile, final int vm, final String session, final int sinkFrom,
            final int sourceFrom)
        {
            this.hostile = hostile;
            this.vm = vm;
            this.session = session;
            this.sinkFrom = sinkFrom;
            this.sourceFrom = sourceFrom;
        }

        List<String> victimLines(final ChildProcess victim, final String text)
        {
            final List<String> out = victim.output();
            final int from = victim == system.sink() ? sinkFrom : sourceFrom;
            return out.subList(Math.min(from, out.size()), out.size()).stream().filter(l -> l.contains(text)).toList();
        }

        void awaitVictimLine(final ChildProcess victim, final String text) throws Exception
        {
            Await.until(victim.name() + " to log '" + text + "'", TIMEOUT, () -> !victimLines(victim, text).isEmpty());
        }

        /**
         * Has the hostile peer corrupt its ring to {@code victim} once the victim has its current session up;
         * returns that session.
         */
        String corruptRingTo(final ChildProcess victim) throws Exception
        {
            final int victimVm = victim == system.sink() ? system.sinkVm() : system.sourceVm();
            final int before = hostile.linesStartingWith("SESSION ").size();
            hostile.send("CORRUPT " + victimVm);
            final String current = hostile.awaitLines("SESSION ", before + 1, TIMEOUT).get(before)
                .substring("SESSION ".length());
            awaitVictimLine(victim, "peer " + vm + " up, session " + current);
            hostile.send("GO");
            hostile.awaitLine("CORRUPTED " + victimVm + " " + current, TIMEOUT);
            return current;
        }

        /** The victim logs the violation by this session exactly once, as a WARN. */
        void awaitOnce(final ChildProcess victim, final String text) throws Exception
        {
            awaitOnce(victim, session, text);
        }

        /** The victim logs the violation by {@code bySession} exactly once, as a WARN. */
        void awaitOnce(final ChildProcess victim, final String bySession, final String text) throws Exception
        {
            final String subject = "peer " + vm + " session " + bySession;
            Await.until(victim.name() + " to report " + subject + ": " + text, TIMEOUT,
                () -> victimLines(victim, subject).stream().anyMatch(l -> l.contains(text)));
            final List<String> reports = victimLines(victim, subject).stream().filter(l -> l.contains(text)).toList();
            assertEquals(1, reports.size(), "reported once: " + reports);
            assertTrue(reports.get(0).contains("WARN"), "as a WARN: " + reports.get(0));
        }

        void awaitGot(final String prefix, final int count) throws Exception
        {
            Await.until(count + " x '" + prefix + "'", TIMEOUT, () -> hostile.linesStartingWith(prefix).size() >= count);
        }

        /** The legit stream moves on after the attack: two more progress reports from its consumer. */
        void assertStreamFlows() throws Exception
        {
            final int seen = consumer.linesStartingWith("PROGRESS").size();
            Await.until("the legit stream to keep flowing", TIMEOUT,
                () -> consumer.linesStartingWith("PROGRESS").size() >= seen + 2);
            assertTrue(system.sink().isAlive() && system.source().isAlive(), "both daemons alive");
            assertTrue(consumer.linesStartingWith("FAILED").isEmpty(), "stream intact: " + consumer.output());
        }

        @Override
        public void close() throws InterruptedException
        {
            hostile.close();
        }
    }
}
