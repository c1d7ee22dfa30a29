package org.hyperdmabuf.tests.systemd;

import org.hyperdmabuf.abi.v1.Access;
import org.hyperdmabuf.abi.v1.Metadata;
import org.hyperdmabuf.cli.ChildProcess;
import org.hyperdmabuf.client.Allocation;
import org.hyperdmabuf.client.HdmabufClient;
import org.hyperdmabuf.hv.nativeio.UnixDatagram;
import org.hyperdmabuf.tests.support.SystemTest;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The daemons under systemd's {@code Type=notify} protocol: this test binds the notification socket systemd would
 * and checks what a daemon sends on it (READY only once its socket answers, STATUS with the peers and exports as they
 * change, RELOADING/READY around SIGHUP, WATCHDOG at half of WATCHDOG_USEC and none while the process is stopped,
 * the ivshmem server's included, STOPPING at SIGTERM).
 */
@SystemTest
class SystemdNotifyTest
{
    private static final Duration START = Duration.ofSeconds(60);
    private static final List<String> JVM = List.of("-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1");
    /** WATCHDOG_USEC of the test: pings every 250 ms. */
    private static final long WATCHDOG_USEC = 500_000;

    private final List<ChildProcess> processes = new ArrayList<>();
    private Path dir;

    @BeforeEach
    void createDir() throws Exception
    {
        dir = Files.createTempDirectory(Path.of("/tmp"), "sdnotify");
    }

    @AfterEach
    void stop() throws Exception
    {
        for (int i = processes.size() - 1; i >= 0; i--)
        {
            processes.get(i).close();
        }
        try (var files = Files.walk(dir))
        {
            files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }

    @Test
    void sinkNotifiesReadyReloadWatchdogAndStopping() throws Exception
    {
        final Path ivshmem = dir.resolve("ivshmem.sock");
        final ChildProcess server = track(ChildProcess.start("server", JVM,
            List.of("server", "--socket", ivshmem.toString(), "--size", "32M"), System.out));
        server.awaitLine("READY", START);
        final Path socket = dir.resolve("sink.sock");
        try (UnixDatagram systemd = UnixDatagram.bind(dir.resolve("notify.sock").toString()))
        {
            final ChildProcess sink = track(ChildProcess.start("sink", JVM, List.of("sink", "--ivshmem",
                ivshmem.toString(), "--socket", socket.toString(), "--policy", dir.resolve("none.toml").toString(),
                "--policy-dir", dir.resolve("none.d").toString()),
                Map.of("NOTIFY_SOCKET", dir.resolve("notify.sock").toString(),
                    "WATCHDOG_USEC", Long.toString(WATCHDOG_USEC)), System.out));

            // READY=1 is the first message, and by then the socket answers a request.
            final String ready = systemd.receive((int)START.toMillis());
            assertNotNull(ready, "no notification within " + START);
            assertTrue(ready.startsWith("READY=1\n"), "first notification: " + ready);
            assertTrue(ready.contains("STATUS=sink on kvm-ivshmem as VM "), ready);
            try (HdmabufClient client = HdmabufClient.connect(socket))
            {
                assertEquals("kvm-ivshmem", client.caps().getBackend());
            }

            assertWatchdog(systemd, sink);

            // STATUS= follows the peers and the exports: a source daemon (VM 2) comes up, the sink exports to it.
            final Path sourceSocket = dir.resolve("source.sock");
            final ChildProcess source = track(ChildProcess.start("source", JVM, List.of("source", "--ivshmem",
                ivshmem.toString(), "--socket", sourceSocket.toString(), "--policy", dir.resolve("none.toml").toString(),
                "--policy-dir", dir.resolve("none.d").toString()), System.out));
            source.awaitLine("READY", START);
            awaitMessage(systemd, "STATUS=sink on kvm-ivshmem as VM 1: 1 peer(s) up, 0 buffer(s) exported",
                Duration.ofSeconds(20));
            try (HdmabufClient client = HdmabufClient.connect(socket);
                 Allocation a = client.alloc(4096))
            {
                client.export(a.handle(), 2, Metadata.newBuilder().setContentType("application/x-test").build(),
                    Access.ACCESS_READ_ONLY);
                final String status = awaitMessage(systemd,
                    "STATUS=sink on kvm-ivshmem as VM 1: 1 peer(s) up, 1 buffer(s) exported", Duration.ofSeconds(20));
                assertTrue(status.contains("socket " + socket), status);
            }

            // SIGHUP: RELOADING=1 with the monotonic time, then READY=1 once the reload ran on the loop.
            signal(sink, "HUP");
            final String reloading = awaitMessage(systemd, "RELOADING=1", Duration.ofSeconds(20));
            final long usec = Long.parseLong(field(reloading, "MONOTONIC_USEC"));
            final long now = System.nanoTime() / 1000;
            assertTrue(usec <= now && usec > now - 20_000_000, "MONOTONIC_USEC " + usec + " against now " + now);
            final String reloaded = awaitMessage(systemd, "READY=1", Duration.ofSeconds(20));
            assertTrue(reloaded.contains("STATUS=sink on kvm-ivshmem"), reloaded);

            // SIGTERM: STOPPING=1.
            signal(sink, "TERM");
            awaitMessage(systemd, "STOPPING=1", Duration.ofSeconds(20));
            // The JVM's status after its shutdown hooks ran on SIGTERM; the units list it in SuccessExitStatus=.
            assertEquals(128 + 15, sink.waitFor(Duration.ofSeconds(30)), "sink exit status after SIGTERM");
        }
    }

    @Test
    void serverNotifiesReadyAndWatchdogOnAnAbstractSocket() throws Exception
    {
        final String name = "@hdmabuf-test-" + ProcessHandle.current().pid() + "-" + System.nanoTime();
        try (UnixDatagram systemd = UnixDatagram.bind(name))
        {
            final Path ivshmem = dir.resolve("ivshmem.sock");
            final ChildProcess server = track(ChildProcess.start("server", JVM,
                List.of("server", "--socket", ivshmem.toString(), "--size", "16M"), Map.of("NOTIFY_SOCKET", name,
                    "WATCHDOG_USEC", Long.toString(WATCHDOG_USEC)), System.out));
            // The poll loop's pings start with it, just before READY=1 (systemd takes them at any time).
            final String ready = awaitMessage(systemd, "READY=1", START);
            assertTrue(ready.startsWith("READY=1\nSTATUS=ivshmem server on " + ivshmem), ready);
            assertTrue(Files.exists(ivshmem), "READY before the server socket exists");
            assertWatchdog(systemd, server);
            signal(server, "TERM");
            awaitMessage(systemd, "STOPPING=1", Duration.ofSeconds(20));
        }
    }

    /**
     * Pings at half of WATCHDOG_USEC: 8 of them take about 2 s (timed from the first one that arrives after those
     * queued before); a stopped process (as a wedged loop) sends nothing, and pings resume when it runs again.
     */
    private static void assertWatchdog(final UnixDatagram systemd, final ChildProcess process) throws Exception
    {
        drain(systemd);
        awaitMessage(systemd, "WATCHDOG=1", Duration.ofSeconds(10));
        final long first = System.nanoTime();
        for (int i = 0; i < 7; i++)
        {
            awaitMessage(systemd, "WATCHDOG=1", Duration.ofSeconds(10));
        }
        final long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - first);
        assertTrue(millis >= 7 * 250 * 8 / 10, "7 ping intervals in " + millis + " ms: faster than every 250 ms");
        assertTrue(millis <= 7 * 250 * 4, "7 ping intervals in " + millis + " ms: far slower than every 250 ms");

        signal(process, "STOP");
        drain(systemd);
        assertNull(systemd.receive(1500), "a notification while " + process.name() + " is stopped");
        signal(process, "CONT");
        awaitMessage(systemd, "WATCHDOG=1", Duration.ofSeconds(10));
    }

    private ChildProcess track(final ChildProcess process)
    {
        processes.add(process);
        return process;
    }

    /** The next message that starts with {@code prefix}, skipping others (pings, STATUS updates). */
    private static String awaitMessage(final UnixDatagram socket, final String prefix, final Duration timeout)
        throws Exception
    {
        final long deadline = System.nanoTime() + timeout.toNanos();
        final List<String> skipped = new ArrayList<>();
        while (true)
        {
            final long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
            final String message = left > 0 ? socket.receive((int)left) : null;
            if (message == null)
            {
                throw new AssertionError("no " + prefix + " within " + timeout + "; got " + skipped);
            }
            if (message.startsWith(prefix))
            {
                return message;
            }
            skipped.add(message);
        }
    }

    /** Drops what is queued (pings sent before a SIGSTOP took effect). */
    private static void drain(final UnixDatagram socket) throws Exception
    {
        while (socket.receive(100) != null)
        {
            // discard
        }
    }

    private static String field(final String message, final String key)
    {
        for (final String line : message.split("\n"))
        {
            if (line.startsWith(key + "="))
            {
                return line.substring(key.length() + 1);
            }
        }
        throw new AssertionError("no " + key + " in " + message);
    }

    private static void signal(final ChildProcess process, final String signal) throws Exception
    {
        final Process kill = new ProcessBuilder("kill", "-" + signal, Long.toString(process.pid())).inheritIO().start();
        assertTrue(kill.waitFor(10, TimeUnit.SECONDS) && kill.exitValue() == 0, "kill -" + signal);
    }
}
