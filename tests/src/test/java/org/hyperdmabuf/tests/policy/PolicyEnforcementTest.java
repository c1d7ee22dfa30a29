package org.hyperdmabuf.tests.policy;

import org.hyperdmabuf.abi.BufferIds;
import org.hyperdmabuf.abi.UEvent;
import org.hyperdmabuf.abi.v1.Access;
import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.abi.v1.Exported;
import org.hyperdmabuf.abi.v1.Metadata;
import org.hyperdmabuf.abi.v1.Target;
import org.hyperdmabuf.abi.v1.Usage;
import org.hyperdmabuf.cli.ChildProcess;
import org.hyperdmabuf.client.Allocation;
import org.hyperdmabuf.client.HdmabufClient;
import org.hyperdmabuf.client.HdmabufException;
import org.hyperdmabuf.client.ImportedBuffer;
import org.hyperdmabuf.client.ReceivedEvent;
import org.hyperdmabuf.tests.support.Await;
import org.hyperdmabuf.tests.support.SystemTest;
import org.hyperdmabuf.tests.support.TwoVmSystem;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Policy files enforced by real daemons: the sink refuses what the integrator forbids, the source refuses
 * what it does not accept (and tells the sink), quotas, targets, reload with revocation, read-only mappings.
 * The ivshmem server hands out ids in connection order: sink = VM 1, source = VM 2, the next daemon VM 3.
 */
@SystemTest
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class PolicyEnforcementTest
{
    private static final Duration TIMEOUT = Duration.ofSeconds(20);
    private static final int UID = uid();

    private Path dir;
    private Path sinkPolicy;
    private TwoVmSystem system;
    private HdmabufClient producer;
    private HdmabufClient consumer;

    private static int uid()
    {
        try
        {
            return (Integer)Files.getAttribute(Path.of("/proc/self"), "unix:uid");
        }
        catch (final Exception e)
        {
            throw new IllegalStateException(e);
        }
    }

    /** The sink's policy: video (read-only) and audio from VM 1 to VM 2 and 3; a quota for this test's uid. */
    private static String sinkPolicyText(final String extra)
    {
        return String.join("\n",
            "[vms]", "producer = 1", "consumer = 2", "other = 3", "",
            "[[share]]", "from = \"producer\"", "to = [\"consumer\", \"other\"]", "content = [\"video/*\"]",
            "read_only = true", "",
            "[[share]]", "from = \"producer\"", "to = [\"consumer\"]", "content = [\"audio/pcm\"]", "",
            "[quota.uid." + UID + "]", "bytes = \"64K\"", "buffers = 3", "",
            "[access]", "uids = [" + UID + "]", "", extra, "");
    }

    @BeforeAll
    void start() throws Exception
    {
        dir = Files.createTempDirectory(Path.of("/tmp"), "hdp");
        sinkPolicy = dir.resolve("sink-policy/policy.toml");
        Files.createDirectories(sinkPolicy.getParent());
        Files.writeString(sinkPolicy, sinkPolicyText(""));
        // The consumer VM accepts only video: audio the sink allows is refused on arrival.
        final Path sourcePolicy = dir.resolve("source-policy.toml");
        Files.writeString(sourcePolicy, String.join("\n", "[vms]", "producer = 1", "consumer = 2", "",
            "[[share]]", "from = \"producer\"", "to = [\"consumer\"]", "content = [\"video/*\"]", ""));
        system = TwoVmSystem.start(dir, 16L << 20,
            List.of("--policy", sinkPolicy.toString(), "--policy-dir", dir.resolve("sink-policy/d").toString()),
            List.of("--policy", sourcePolicy.toString(), "--policy-dir", dir.resolve("none.d").toString()));
        assertEquals(1, system.sinkVm());
        assertEquals(2, system.sourceVm());
        producer = HdmabufClient.connect(system.sinkSocket());
        producer.subscribe(List.of(), false);
        consumer = HdmabufClient.connect(system.sourceSocket());
        // Everything but the stream child processes of the reload-race test share with each other.
        consumer.subscribe(List.of(org.hyperdmabuf.abi.v1.MatchRule.newBuilder().addMatches(
            org.hyperdmabuf.abi.v1.Match.newBuilder().setKey("TAG_STREAM").setGlob("race").setNegate(true)).build()),
            false);
    }

    @AfterAll
    void stop() throws Exception
    {
        if (producer != null)
        {
            producer.close();
            consumer.close();
        }
        if (system != null)
        {
            system.closeAndVerify("policy reload failed"); // the deliberately broken policy file
        }
        try (Stream<Path> files = Files.walk(dir))
        {
            files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }

    /** Pinned memory is released when the importer confirms (asynchronously): start every test from zero. */
    @BeforeEach
    void nothingPinned() throws Exception
    {
        Await.until("no memory pinned by this uid", TIMEOUT, () -> producer.stats().getUsageList().stream()
            .noneMatch(u -> u.getScope().equals("uid") && u.getId() == UID && u.getBuffers() > 0));
    }

    private static Metadata meta(final String contentType)
    {
        return Metadata.newBuilder().setContentType(contentType).build();
    }

    private static UEvent next(final HdmabufClient client) throws Exception
    {
        final ReceivedEvent e = client.nextEvent(TIMEOUT);
        assertTrue(e != null && !e.isOverflow(), "expected an event");
        return e.event();
    }

    @Test
    void theSinkRefusesWhatThePolicyForbids() throws Exception
    {
        try (Allocation a = producer.alloc(4096))
        {
            assertEquals(ErrorCode.EACCES, assertThrows(HdmabufException.class, () ->
                producer.export(a.handle(), 2, meta("text/plain"), Access.ACCESS_READ_ONLY)).code(), "content");
            final HdmabufException rw = assertThrows(HdmabufException.class, () ->
                producer.export(a.handle(), 2, meta("video/raw"), Access.ACCESS_READ_WRITE));
            assertEquals(ErrorCode.EACCES, rw.code(), "read-only required");
            assertTrue(rw.getMessage().contains("read-only"), rw.getMessage());
            assertEquals(ErrorCode.EACCES, assertThrows(HdmabufException.class, () ->
                producer.export(a.handle(), 5, meta("video/raw"), Access.ACCESS_READ_ONLY)).code(), "pair");
            final Exported ok = producer.export(a.handle(), 2, meta("video/raw"), Access.ACCESS_READ_ONLY);
            final UEvent add = next(consumer);
            assertEquals("add", add.action(), "the first event is the allowed export: nothing forbidden leaked");
            assertEquals(BufferIds.format(ok.getId()), add.get("BUFFER"));
            producer.free(a.handle());
            assertEquals("remove", next(consumer).action());
        }
    }

    @Test
    void theSourceRefusesWhatItDoesNotAcceptAndTellsTheSink() throws Exception
    {
        try (Allocation audio = producer.alloc(4096); Allocation video = producer.alloc(4096))
        {
            final Exported refused = producer.export(audio.handle(), 2, meta("audio/pcm"), Access.ACCESS_READ_WRITE);
            final UEvent rejected = awaitState(refused, "rejected");
            assertEquals(BufferIds.format(refused.getId()), rejected.get("BUFFER"));
            assertTrue(producer.query(refused.getId()).getState().startsWith("rejected: EACCES"));
            final Exported accepted = producer.export(video.handle(), 2, meta("video/raw"), Access.ACCESS_READ_ONLY);
            final UEvent add = next(consumer);
            assertEquals(BufferIds.format(accepted.getId()), add.get("BUFFER"), "the audio export never arrived");
            assertEquals(ErrorCode.ENOENT, assertThrows(HdmabufException.class,
                () -> consumer.importBuffer(refused.getId())).code());
            producer.free(audio.handle());
            producer.free(video.handle());
            assertEquals("remove", next(consumer).action());
        }
    }

    private UEvent awaitState(final Exported export, final String state) throws Exception
    {
        final String id = BufferIds.format(export.getId());
        final long deadline = System.nanoTime() + TIMEOUT.toNanos();
        while (System.nanoTime() < deadline)
        {
            final ReceivedEvent e = producer.nextEvent(Duration.ofMillis(200));
            if (e != null && !e.isOverflow() && id.equals(e.event().get("BUFFER")) &&
                state.equals(e.event().get("STATE")))
            {
                return e.event();
            }
        }
        throw new AssertionError("no STATE=" + state + " for " + id);
    }

    @Test
    void quotasRefuseWithEdquotAndChangeNothing() throws Exception
    {
        final List<Allocation> held = new ArrayList<>();
        try
        {
            held.add(producer.alloc(4096));
            held.add(producer.alloc(4096));
            held.add(producer.alloc(4096));
            final long free = producer.caps().getPoolFreeBytes();
            final Usage before = uidUsage();
            assertEquals(3, before.getBuffers());
            assertEquals(3 * 4096, before.getBytes());
            assertEquals(3, before.getMaxBuffers());
            final HdmabufException count = assertThrows(HdmabufException.class, () -> producer.alloc(4096));
            assertEquals(ErrorCode.EDQUOT, count.code());
            assertEquals(free, producer.caps().getPoolFreeBytes(), "nothing allocated");
            assertEquals(before, uidUsage(), "nothing accounted");
            producer.free(held.remove(0).handle());
            assertEquals(ErrorCode.EDQUOT, assertThrows(HdmabufException.class, () -> producer.alloc(64 * 1024))
                .code(), "bytes: 8K used + 64K > 64K");
            held.add(producer.alloc(4096)); // recovered after a free
            assertEquals(3, uidUsage().getBuffers());
        }
        finally
        {
            for (final Allocation a : held)
            {
                producer.free(a.handle());
                a.close();
            }
        }
    }

    private Usage uidUsage() throws Exception
    {
        return producer.stats().getUsageList().stream().filter(u -> u.getScope().equals("uid") && u.getId() == UID)
            .findFirst().orElseThrow();
    }

    @Test
    void targetsAreWhatThePolicyAllowsAndTheBackendReaches() throws Exception
    {
        final ChildProcess stranger = system.startDaemon("stranger", "source", dir.resolve("stranger.sock"));
        try
        {
            assertEquals(3, TwoVmSystem.vmOf(stranger));
            // VM 3 is reachable and named "other"; VM 2 "consumer". The policy lets VM 1 share with both.
            Await.until("VM 3 to be up at the sink", TIMEOUT, () -> producer.targets().getTargetsCount() == 2);
            final List<Target> targets = producer.targets().getTargetsList();
            assertEquals(List.of("consumer", "other"), targets.stream().map(Target::getName).sorted().toList());
            // One buffer, exported to two VMs (ivshmem can): both import the same pages.
            try (Allocation a = producer.alloc(4096);
                 HdmabufClient other = HdmabufClient.connect(dir.resolve("stranger.sock")))
            {
                other.subscribe(List.of(), true);
                a.buffer().bytes().put(0, (byte)42);
                final Exported to2 = producer.export(a.handle(), 2, meta("video/raw"), Access.ACCESS_READ_ONLY);
                final Exported to3 = producer.export(a.handle(), 3, meta("video/raw"), Access.ACCESS_READ_ONLY);
                assertNotEquals(to2.getId(), to3.getId());
                assertEquals("add", next(consumer).action());
                assertEquals("add", next(other).action());
                try (ImportedBuffer b2 = consumer.importBuffer(to2.getId());
                     ImportedBuffer b3 = other.importBuffer(to3.getId()))
                {
                    assertEquals(42, b2.buffer().bytes().get(0));
                    assertEquals(42, b3.buffer().bytes().get(0));
                }
                consumer.release(to2.getId());
                other.release(to3.getId());
                producer.free(a.handle());
                assertEquals("remove", next(consumer).action());
            }
        }
        finally
        {
            stranger.close();
        }
    }

    @Test
    void aReloadRevokesWhatTheNewPolicyForbidsAndABrokenFileKeepsTheLastGoodOne() throws Exception
    {
        try (Allocation a = producer.alloc(4096))
        {
            final Exported e = producer.export(a.handle(), 2, meta("video/raw"), Access.ACCESS_READ_ONLY);
            assertEquals("add", next(consumer).action());

            // A broken file is refused; the export stays and new exports are still judged by the old policy.
            writeAtomically(sinkPolicy, sinkPolicyText("[[sahre]]\nfrom = 1\n"));
            signalHup(system.sink());
            Await.until("the sink to log the failed reload", TIMEOUT, () -> system.sink().output().stream()
                .anyMatch(l -> l.contains("policy reload failed")));
            assertEquals("exported", producer.query(e.getId()).getState());

            // A valid file without the video rule: the export is revoked on both sides.
            writeAtomically(sinkPolicy, String.join("\n", "[vms]", "producer = 1", "consumer = 2", "",
                "[[share]]", "from = \"producer\"", "to = [\"consumer\"]", "content = [\"audio/pcm\"]", ""));
            final UEvent removed = next(consumer); // the file watcher reloads; no signal needed
            assertEquals("remove", removed.action());
            assertEquals("policy", removed.get("REASON"));
            assertEquals(BufferIds.format(e.getId()), removed.get("BUFFER"));
            awaitState(e, "revoked");
            assertEquals(ErrorCode.EACCES, assertThrows(HdmabufException.class, () ->
                producer.export(a.handle(), 2, meta("video/raw"), Access.ACCESS_READ_ONLY)).code());
            producer.free(a.handle());
        }
        finally
        {
            writeAtomically(sinkPolicy, sinkPolicyText(""));
            Await.until("the original policy to be back", TIMEOUT, this::videoExportAllowed);
        }
    }

    /** Tries one video export (consuming its add and remove events); true once the policy allows it. */
    private boolean videoExportAllowed() throws Exception
    {
        try (Allocation a = producer.alloc(4096))
        {
            try
            {
                producer.export(a.handle(), 2, meta("video/raw"), Access.ACCESS_READ_ONLY);
            }
            catch (final HdmabufException ex)
            {
                producer.free(a.handle());
                return false;
            }
            assertEquals("add", next(consumer).action());
            producer.free(a.handle());
            assertEquals("remove", next(consumer).action());
            return true;
        }
    }

    /** Reloads (file rewrites and SIGHUP) in the middle of a stream the policy keeps allowing lose no frame. */
    @Test
    void reloadsDuringAStreamLoseNoFrameTheNewPolicyStillAllows() throws Exception
    {
        final ChildProcess c = system.spawn("race-consumer", "stream-consumer", "--socket", system.sourceSocket().toString(),
            "--frames", "3000", "--stream", "race", "--wait", "BLOCK");
        c.awaitLine("READY", TIMEOUT);
        final ChildProcess p = system.spawn("race-producer", "stream-producer", "--socket", system.sinkSocket().toString(),
            "--to", "2", "--frames", "3000", "--width", "64", "--height", "16", "--buffers", "3", "--read-only",
            "--stream", "race", "--wait", "BLOCK");
        int reloads = 0;
        final long deadline = System.nanoTime() + Duration.ofSeconds(120).toNanos();
        while (c.isAlive() && System.nanoTime() < deadline)
        {
            // Same rules, different text: every reload applies a new (equivalent) policy.
            writeAtomically(sinkPolicy, sinkPolicyText("# reload " + reloads));
            signalHup(system.sink());
            reloads++;
            final int seen = reloads;
            Await.until("reload " + seen + " applied", TIMEOUT, () -> !c.isAlive() || system.sink().output().stream()
                .filter(l -> l.contains("policy reloaded")).count() >= seen);
        }
        assertEquals(0, c.waitFor(Duration.ofSeconds(30)), () -> String.join("\n", c.output()));
        assertEquals(0, p.waitFor(Duration.ofSeconds(30)), () -> String.join("\n", p.output()));
        assertTrue(c.output().stream().anyMatch(l -> l.startsWith("VERIFIED frames=3000 ")), () -> String.join("\n",
            c.output()));
        assertTrue(reloads >= 2, "reloads happened during the stream: " + reloads);
    }

    @Test
    void aWriteThroughAReadOnlyImportFaultsInTheWritingProcess() throws Exception
    {
        try (Allocation a = producer.alloc(4096))
        {
            a.buffer().bytes().put(0, (byte)1);
            final Exported e = producer.export(a.handle(), 2, meta("video/raw"), Access.ACCESS_READ_ONLY);
            assertEquals("add", next(consumer).action());
            final ChildProcess writer = ChildProcess.start("writer", List.of("-XX:ErrorFile=" + dir.resolve("hs_err_%p.log"),
                "-XX:-CreateCoredumpOnCrash"), List.of("write-import", "--socket", system.sourceSocket().toString(),
                "--id", BufferIds.format(e.getId())), System.out);
            final int exit = writer.waitFor(TIMEOUT);
            final List<String> out = writer.output();
            assertTrue(out.stream().anyMatch(l -> l.startsWith("IMPORTED read-only=true")), String.join("\n", out));
            assertNotEquals(0, exit, "the write must not succeed");
            assertFalse(out.contains("WROTE"), String.join("\n", out));
            assertTrue(out.stream().anyMatch(l -> l.contains("SIGSEGV")), "died of a fault: " + String.join("\n", out));
            assertEquals(1, a.buffer().bytes().get(0), "the producer's byte is unchanged");
            producer.free(a.handle());
            assertEquals("remove", next(consumer).action());
        }
    }

    /**
     * [access] is checked with SO_PEERCRED: a client running as uid 65534 is refused by the sink (whose
     * policy lists only this test's uid) but served by the source (no [access]), over sockets whose file mode
     * lets it connect, so the refusal is the policy's.
     */
    @Test
    void aUidOutsideAccessIsRefusedAndAnAllowedOneServed() throws Exception
    {
        Assumptions.assumeTrue(UID == 0, "switching to another uid needs root (CI runs as root)");
        final Path root = Path.of(System.getProperty("user.dir")).getParent();
        final Path jar = root.resolve("cli/target/hdmabuf.jar");
        assertTrue(Files.exists(jar), "build the command line first (mvn package): " + jar);
        for (final Path p : List.of(dir, system.sinkSocket(), system.sourceSocket()))
        {
            Files.setPosixFilePermissions(p, java.nio.file.attribute.PosixFilePermissions.fromString("rwxrwxrwx"));
        }
        final List<String> refused = runAsNobody(jar, system.sinkSocket());
        assertTrue(refused.stream().anyMatch(l -> l.contains("EACCES") && l.contains("uid 65534")),
            "the sink refuses uid 65534: " + refused);
        final List<String> served = runAsNobody(jar, system.sourceSocket());
        assertTrue(served.stream().anyMatch(l -> l.startsWith("backend:") && l.contains("kvm-ivshmem")),
            "the source serves uid 65534: " + served);
    }

    private static List<String> runAsNobody(final Path jar, final Path socket) throws Exception
    {
        final Process p = new ProcessBuilder("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
            ProcessHandle.current().info().command().orElse("java"), "-cp", jar.toString(),
            "org.hyperdmabuf.cli.Hdmabuf", "caps", "--socket", socket.toString()).redirectErrorStream(true).start();
        final List<String> lines = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).lines().toList();
        assertTrue(p.waitFor(30, java.util.concurrent.TimeUnit.SECONDS), "caps as uid 65534 did not finish");
        return lines;
    }

    private static void writeAtomically(final Path file, final String text) throws Exception
    {
        final Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        Files.writeString(tmp, text, StandardCharsets.UTF_8);
        Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    private static void signalHup(final ChildProcess daemon) throws Exception
    {
        final Process kill = new ProcessBuilder("kill", "-HUP", Long.toString(daemon.pid())).inheritIO().start();
        assertEquals(0, kill.waitFor());
    }
}
