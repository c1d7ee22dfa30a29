package org.hyperdmabuf.tests.soak;

import org.hyperdmabuf.cli.ChildProcess;
import org.hyperdmabuf.client.HdmabufClient;
import org.hyperdmabuf.tests.support.Await;
import org.hyperdmabuf.tests.support.CheckedStream;
import org.hyperdmabuf.tests.support.SystemTest;
import org.hyperdmabuf.tests.support.TwoVmSystem;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Soak: three VMs on one region (VM 1 a sink, VM 2 a source, VM 3 both), four fenced frame streams
 * (1 to 2 twice, 1 to 3, 3 to 2), each a producer process and a consumer process checking every frame's
 * sequence number and content, and two processes churning buffers (alloc, export, unexport, free) from VM 1 to
 * VM 3 and from VM 3 to VM 2, all at once for {@code -Dhdmabuf.soak.seconds} (default 90; hours with a bigger
 * value). Afterwards: no frame lost, repeated or overwritten early; the pool's free bytes, every daemon's open
 * fds and its buffer lists are back where they started; heap after a full GC of every daemon stayed flat from
 * the end of the warm-up, and its RSS from a quarter into the run, to the end; nothing logged at ERROR.
 */
@SystemTest
class SoakTest
{
    private static final long SECONDS = Long.getLong("hdmabuf.soak.seconds", 90);
    private static final Duration TIMEOUT = Duration.ofSeconds(60);
    private static final List<String> CLIENT_JVM = List.of("-Xmx64m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1");
    private static final int FRAME_BYTES = 64 * 1024;
    private static final int FPS = 200;
    /** Heap after a full GC may grow this much (bytes) over the run: class loading, JIT'd code caches aside. */
    private static final long HEAP_SLACK = 8L << 20;
    private static final long RSS_SLACK = 24L << 20;
    /** Thirteen JVMs on the CI cores: see {@link TwoVmSystem#PATIENT}. */
    private static final List<String> PATIENT = TwoVmSystem.PATIENT;
    private static final Pattern HEAP_USED = Pattern.compile("(?:generation|heap)\\s+total \\d+K, used (\\d+)K");

    private record Daemon(String name, ChildProcess process, Path socket, int vm)
    {
    }

    private record Sample(long heapAfterGc, long rss)
    {
        @Override
        public String toString()
        {
            return "heap-after-GC " + (heapAfterGc >> 10) + " KiB, RSS " + (rss >> 10) + " KiB";
        }
    }

    @Timeout(value = 10, unit = TimeUnit.MINUTES) // minutes of churn by design
    @Test
    void threeVmsFourStreamsAndChurnStayExactAndFlat() throws Exception
    {
        final TwoVmSystem system = TwoVmSystem.startInTempDir("soak", 128L << 20, PATIENT, PATIENT);
        try
        {
            final Path vm3Socket = system.dir().resolve("vm3.sock");
            final ChildProcess vm3Process = system.startDaemon("vm3", "daemon", vm3Socket,
                PATIENT.toArray(new String[0]));
            final Daemon vm1 = new Daemon("sink", system.sink(), system.sinkSocket(), system.sinkVm());
            final Daemon vm2 = new Daemon("source", system.source(), system.sourceSocket(), system.sourceVm());
            final Daemon vm3 = new Daemon("vm3", vm3Process, vm3Socket, TwoVmSystem.vmOf(vm3Process));
            final List<Daemon> daemons = List.of(vm1, vm2, vm3);
            try (HdmabufClient observer = HdmabufClient.connect(vm1.socket()))
            {
                Await.until("VM 3 to be a target of VM 1", TIMEOUT, () -> observer.targets().getTargetsList().stream()
                    .anyMatch(t -> t.getVm() == vm3.vm()));
                final long poolFree = observer.caps().getPoolFreeBytes();
                final Map<String, List<String>> fds = new LinkedHashMap<>();
                for (final Daemon d : daemons)
                {
                    jcmd(d.process(), "VM.uptime"); // the JVM's attach listener socket stays open from now on
                    fds.put(d.name(), openFds(d.process()));
                }

                final List<ChildProcess> consumers = new ArrayList<>();
                final List<ChildProcess> producers = new ArrayList<>();
                final List<ChildProcess> churners = new ArrayList<>();
                final Daemon[][] streams = {{vm1, vm2}, {vm1, vm3}, {vm3, vm2}, {vm1, vm2}};
                for (int s = 0; s < streams.length; s++)
                {
                    final String name = "soak" + s;
                    consumers.add(client(system, "consumer-" + s, "consumer", streams[s][1].socket().toString(), name));
                    producers.add(client(system, "producer-" + s, "producer", streams[s][0].socket().toString(),
                        Integer.toString(streams[s][1].vm()), name, Integer.toString(FRAME_BYTES), "3",
                        Integer.toString(FPS)));
                }
                churners.add(client(system, "churn-1to3", "churn", vm1.socket().toString(), Integer.toString(vm3.vm()),
                    "1"));
                churners.add(client(system, "churn-3to2", "churn", vm3.socket().toString(), Integer.toString(vm2.vm()),
                    "2"));
                final List<ChildProcess> clients = new ArrayList<>(consumers);
                clients.addAll(producers);
                clients.addAll(churners);

                // Warm-up: every stream and churner has reported progress twice.
                for (final ChildProcess c : clients)
                {
                    Await.until(c.name() + " to make progress", TIMEOUT, () -> failIfBroken(clients) &&
                        c.linesStartingWith("PROGRESS").size() >= 2);
                }
                final Map<String, List<Sample>> samples = new LinkedHashMap<>();
                for (final Daemon d : daemons)
                {
                    samples.put(d.name(), new ArrayList<>(List.of(sample(d.process()))));
                }
                final long start = System.nanoTime();
                final long end = start + TimeUnit.SECONDS.toNanos(SECONDS);
                long nextSample = start + TimeUnit.SECONDS.toNanos(Math.max(10, SECONDS / 4));
                while (System.nanoTime() - end < 0)
                {
                    final long until = Math.min(end, nextSample);
                    Await.until("the soak to run (and nothing to fail)", Duration.ofSeconds(SECONDS + 60),
                        () -> failIfBroken(clients) && System.nanoTime() - until >= 0);
                    if (System.nanoTime() - end < 0)
                    {
                        for (final Daemon d : daemons)
                        {
                            samples.get(d.name()).add(sample(d.process()));
                        }
                        nextSample += TimeUnit.SECONDS.toNanos(Math.max(10, SECONDS / 4));
                    }
                }
                for (final Daemon d : daemons)
                {
                    samples.get(d.name()).add(sample(d.process()));
                }

                failIfBroken(clients);
                for (final ChildProcess c : producers)
                {
                    stop(c);
                }
                for (final ChildProcess c : churners)
                {
                    stop(c);
                }
                long frames = 0;
                for (int s = 0; s < streams.length; s++)
                {
                    final long sent = count(producers.get(s).awaitLine("SENT", TIMEOUT));
                    final String verified = consumers.get(s).awaitLine("VERIFIED", TIMEOUT);
                    assertEquals(sent, count(verified), "stream " + s + ": every frame once, intact");
                    frames += sent;
                }
                long cycles = 0;
                for (final ChildProcess c : churners)
                {
                    cycles += count(c.awaitLine("CHURNED", TIMEOUT));
                }
                for (final ChildProcess c : clients)
                {
                    c.awaitSuccess(TIMEOUT);
                }
                System.out.printf("soak: %d s, %d frames verified over 4 streams, %d churn cycles%n", SECONDS, frames,
                    cycles);

                Await.until("the pool to be whole again", TIMEOUT, () -> observer.caps().getPoolFreeBytes() == poolFree);
                for (final Daemon d : List.of(vm2, vm3))
                {
                    try (HdmabufClient c = HdmabufClient.connect(d.socket()))
                    {
                        Await.until(d.name() + " to know no buffer any more", TIMEOUT,
                            () -> c.list().getBuffersCount() == 0);
                    }
                }
                for (final Daemon d : daemons)
                {
                    // Our own observer connection is one of the baseline fds of VM 1.
                    try
                    {
                        Await.until(d.name() + " fds back to " + fds.get(d.name()).size(), TIMEOUT,
                            () -> openFds(d.process()).size() == fds.get(d.name()).size());
                    }
                    catch (final AssertionError e)
                    {
                        final List<String> now = new ArrayList<>(openFds(d.process()));
                        fds.get(d.name()).forEach(now::remove);
                        throw new AssertionError(e.getMessage() + "; open now and not before: " + now, e);
                    }
                }
                for (final Daemon d : daemons)
                {
                    final List<Sample> s = samples.get(d.name());
                    System.out.println("soak: " + d.name() + " memory " + s);
                    final Sample first = s.get(0);
                    final Sample last = s.get(s.size() - 1);
                    assertTrue(last.heapAfterGc() - first.heapAfterGc() < HEAP_SLACK, d.name() + ": heap after GC " +
                        "grew from " + first + " to " + last);
                    // The JVM sizes its heap and code cache during the first minutes under load: RSS is judged from
                    // the second sample (a quarter into the run) on.
                    final Sample settled = s.get(Math.min(1, s.size() - 1));
                    assertTrue(last.rss() - settled.rss() < RSS_SLACK, d.name() + ": RSS grew from " + settled +
                        " to " + last);
                }
            }
        }
        finally
        {
            system.closeAndVerify();
        }
    }

    private static ChildProcess client(final TwoVmSystem system, final String name, final String... args)
        throws IOException
    {
        return system.track(ChildProcess.java(name, CLIENT_JVM, CheckedStream.class.getName(), List.of(args), null));
    }

    private static void stop(final ChildProcess c) throws InterruptedException
    {
        try
        {
            c.send("STOP");
        }
        catch (final IOException e)
        {
            c.waitFor(Duration.ofSeconds(5));
            throw new AssertionError(c.name() + " exited before it was stopped:\n" + String.join("\n", c.output()), e);
        }
    }

    /** True while every client runs and none reported a failure; otherwise fails with its output. */
    private static boolean failIfBroken(final List<ChildProcess> clients)
    {
        for (final ChildProcess c : clients)
        {
            if (!c.linesStartingWith("FAILED").isEmpty() || !c.isAlive())
            {
                throw new AssertionError(c.name() + " failed or exited early:\n" + String.join("\n", c.output()));
            }
        }
        return true;
    }

    private static long count(final String line)
    {
        return Long.parseLong(line.substring(line.indexOf(' ') + 1).trim());
    }

    /** What each open fd of {@code p} refers to (socket:[inode], anon_inode:[eventfd], a path, ...). */
    private static List<String> openFds(final ChildProcess p) throws IOException
    {
        try (Stream<Path> fds = Files.list(Path.of("/proc", Long.toString(p.pid()), "fd")))
        {
            final List<String> targets = new ArrayList<>();
            for (final Path fd : (Iterable<Path>)fds::iterator)
            {
                try
                {
                    targets.add(Files.readSymbolicLink(fd).toString());
                }
                catch (final IOException e)
                {
                    // closed while we listed it
                }
            }
            return targets;
        }
    }

    /** Heap in use right after a full GC ({@code jcmd GC.run}, {@code GC.heap_info}) and the RSS of a daemon. */
    private static Sample sample(final ChildProcess p) throws Exception
    {
        jcmd(p, "GC.run");
        final Matcher m = HEAP_USED.matcher(jcmd(p, "GC.heap_info"));
        long heap = 0;
        boolean found = false;
        while (m.find())
        {
            heap += Long.parseLong(m.group(1)) << 10;
            found = true;
        }
        assertTrue(found, "GC.heap_info of " + p.name() + " names the heap in use");
        long rss = -1;
        for (final String line : Files.readAllLines(Path.of("/proc", Long.toString(p.pid()), "status")))
        {
            if (line.startsWith("VmRSS:"))
            {
                rss = Long.parseLong(line.replaceAll("[^0-9]", "")) << 10;
            }
        }
        return new Sample(heap, rss);
    }

    private static String jcmd(final ChildProcess p, final String command) throws Exception
    {
        final Path jcmd = Path.of(System.getProperty("java.home"), "bin", "jcmd");
        final Process proc = new ProcessBuilder(jcmd.toString(), Long.toString(p.pid()), command)
            .redirectErrorStream(true).start();
        final String out = new String(proc.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(proc.waitFor(60, TimeUnit.SECONDS) && proc.exitValue() == 0, "jcmd " + command + ": " + out);
        return out;
    }
}
