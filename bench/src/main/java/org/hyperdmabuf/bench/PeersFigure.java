package org.hyperdmabuf.bench;

import org.hyperdmabuf.cli.ChildProcess;
import org.hyperdmabuf.client.HdmabufClient;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * 16 daemons on one region (own server and run dir): do all of them see each other, and how does
 * export -> add latency between one sink and one source change with 16 peers attached vs. 2? Measured
 * 2 peers, then 16, then 2 again (the 14 extra daemons stopped), so JIT warm-up of the two daemons under
 * test does not favour one side of the ratio.
 */
final class PeersFigure
{
    /** Daemons attached to one region. */
    private static final int PEERS = 16;
    /** Small daemon JVMs, so 16 of them fit next to each other. */
    private static final List<String> SMALL_DAEMON_JVM = List.of("-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
        "-Xmx64m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1");

    private PeersFigure()
    {
    }

    static void run(final BenchRun run) throws Exception
    {
        final BenchConfig cfg = run.cfg();
        final Path dir = Files.createDirectories(run.dir().resolve("peers"));
        final String ivshmem = dir.resolve("iv.sock").toString();
        final List<String> noPolicy = List.of("--policy", dir.resolve("no-policy.toml").toString(), "--policy-dir",
            dir.resolve("no-policy.d").toString());
        final int maxPeers = 32; // the server's ids and the region's peer slots
        final int count = cfg.quick() ? 150 : 400;
        final int warmup = cfg.quick() ? 100 : 200;
        run.log().println("16 peers on one region: server + " + PEERS + " daemons (-Xmx64m, SerialGC, C1), " +
            "max-peers " + maxPeers + "; export -> add with 2, " + PEERS + ", 2 peers");
        final long t0 = System.nanoTime();
        final List<ChildProcess> started = new ArrayList<>();
        final List<ChildProcess> extra = new ArrayList<>();
        try
        {
            final ChildProcess server = run.hdmabuf("peers-server", SMALL_DAEMON_JVM, List.of("server", "--socket",
                ivshmem, "--size", Long.toString(256L << 20), "--max-peers", Integer.toString(maxPeers)));
            started.add(server);
            server.awaitLine("READY", BenchRun.START);
            final List<String> sockets = new ArrayList<>();
            final List<Integer> vms = new ArrayList<>();
            for (int i = 0; i < 2; i++)
            {
                final String role = i == 0 ? "sink" : "source";
                final String sock = dir.resolve("peer" + i + ".sock").toString();
                final List<String> a = new ArrayList<>(List.of(role, "--ivshmem", ivshmem, "--socket", sock,
                    "--max-peers", Integer.toString(maxPeers)));
                a.addAll(noPolicy);
                final ChildProcess p = run.hdmabuf("peer" + i + "-" + role, SMALL_DAEMON_JVM, a);
                started.add(p);
                vms.add(Integer.parseInt(ChildProcess.field(p.awaitLine("READY", BenchRun.START), "vm")));
                sockets.add(sock);
            }
            final List<Latency> two = events(run, sockets.get(0), sockets.get(1), vms.get(1), count, warmup);
            final long tStart = System.nanoTime();
            for (int i = 2; i < PEERS; i++)
            {
                final String role = i % 2 == 0 ? "sink" : "source";
                final String sock = dir.resolve("peer" + i + ".sock").toString();
                final List<String> a = new ArrayList<>(List.of(role, "--ivshmem", ivshmem, "--socket", sock));
                a.addAll(noPolicy);
                final ChildProcess p = run.hdmabuf("peer" + i + "-" + role, SMALL_DAEMON_JVM, a);
                started.add(p);
                extra.add(p);
                sockets.add(sock);
            }
            for (int i = 2; i < PEERS; i++)
            {
                vms.add(Integer.parseInt(ChildProcess.field(started.get(i + 1).awaitLine("READY", BenchRun.START),
                    "vm")));
            }
            final double readyS = (System.nanoTime() - tStart) / 1e9;
            final int[] seen = awaitMesh(sockets, vms);
            final double meshS = (System.nanoTime() - tStart) / 1e9;
            final List<Latency> sixteen = events(run, sockets.get(0), sockets.get(1), vms.get(1), count, warmup);
            for (final ChildProcess p : extra)
            {
                p.close();
            }
            Thread.sleep(2500); // past the 1.5 s liveness timeout: the others are gone for the two left
            final List<Latency> twoAgain = events(run, sockets.get(0), sockets.get(1), vms.get(1), count, warmup);
            // baseline: the second 2-peer phase, the warmest of the three (the first one is still JIT-cold)
            final double p2 = Stats.median(twoAgain.stream().map(Latency::p50).toList());
            final double p16 = Stats.median(sixteen.stream().map(Latency::p50).toList());
            int fullySeen = 0;
            for (final int s : seen)
            {
                fullySeen += s == PEERS - 1 ? 1 : 0;
            }
            final Report report = run.report();
            report.add(new ResultRow(PEERS + " peers on one region: daemons that list all " + (PEERS - 1) + " others",
                fullySeen, PEERS, "all " + PEERS, 0, "daemons"));
            report.add(new ResultRow("export → add event p50, sink → source, " + PEERS + " peers attached", p16, p2,
                "the same pair, 2 peers, measured after", 0, "ns"));
            report.detail(String.format(Locale.ROOT, "%d peers on one region (own server, %d daemons with -Xmx64m " +
                "-XX:+UseSerialGC -XX:TieredStopAtLevel=1, the first formats with --max-peers %d; VMs %s): targets " +
                "seen per daemon (others) %s; the 14 extra daemons READY %.1f s after start, every daemon listing " +
                "all others after %.1f s. export → add (%d exports x %d runs after %d warm-up, paced as above) " +
                "from VM %d's sink to VM %d's source: 2 peers %s; %d peers %s; 2 peers again (the 14 stopped) %s. " +
                "Whole figure %.0f s", PEERS, PEERS, maxPeers, vms, Arrays.toString(seen), readyS, meshS, count,
                cfg.reps(), warmup, vms.get(0), vms.get(1), Latency.describe(two), PEERS, Latency.describe(sixteen),
                Latency.describe(twoAgain), (System.nanoTime() - t0) / 1e9));
        }
        finally
        {
            for (int i = started.size() - 1; i >= 0; i--)
            {
                started.get(i).close();
            }
            run.report().noteDaemonErrors(started);
        }
    }

    /**
     * Asks every daemon for its targets until each lists the other 15, for up to 30 s; how many others each
     * listed last.
     */
    private static int[] awaitMesh(final List<String> sockets, final List<Integer> vms) throws Exception
    {
        final int[] seen = new int[PEERS];
        final long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        boolean all = false;
        while (!all && System.nanoTime() < deadline)
        {
            all = true;
            for (int i = 0; i < PEERS; i++)
            {
                try (HdmabufClient c = HdmabufClient.connect(Path.of(sockets.get(i))))
                {
                    final int self = vms.get(i);
                    seen[i] = (int) c.targets().getTargetsList().stream().filter(t -> t.getVm() != self &&
                        vms.contains(t.getVm())).count();
                }
                all &= seen[i] == PEERS - 1;
            }
            if (!all)
            {
                Thread.sleep(100);
            }
        }
        return seen;
    }

    /** One event-producer / event-consumer pair through the given daemons; the consumer's event latencies. */
    private static List<Latency> events(final BenchRun run, final String sinkSock, final String sourceSock,
        final int sourceVmId, final int count, final int warmup) throws Exception
    {
        final List<String> common = List.of("--stream", run.nextStream("peers"), "--count", Integer.toString(count),
            "--warmup", Integer.toString(warmup), "--reps", Integer.toString(run.cfg().reps()));
        final List<String> ca = new ArrayList<>(List.of("event-consumer", "--socket", sourceSock));
        ca.addAll(common);
        final List<String> pa = new ArrayList<>(List.of("event-producer", "--socket", sinkSock, "--target",
            Integer.toString(sourceVmId), "--gap-us", "2000"));
        pa.addAll(common);
        try (ChildProcess consumer = run.side("consumer", ca))
        {
            consumer.awaitLine("READY", BenchRun.START);
            try (ChildProcess producer = run.side("producer", pa))
            {
                producer.awaitSuccess(BenchRun.RUN);
                consumer.awaitSuccess(BenchRun.RUN);
                return run.results(consumer, "export_event");
            }
        }
    }
}
