package org.hyperdmabuf.cli;

import org.hyperdmabuf.hv.kvm.IvshmemServer;
import org.hyperdmabuf.hv.shm.RegionLayout;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

@Command(name = "server", mixinStandardHelpOptions = true,
    description = {"Run an ivshmem server (QEMU's protocol) that owns the shared region.",
        "Daemons and QEMU guests (-chardev socket,path=SOCKET -device ivshmem-doorbell,chardev=...) attach to it."})
final class ServerCommand implements Callable<Integer>
{
    @Option(names = "--socket", description = "Server socket path (default: ${DEFAULT-VALUE}).")
    Path socket = Defaults.ivshmemSocket();

    @Option(names = "--size", description = "Region size, e.g. 256M (default: ${DEFAULT-VALUE}).")
    String size = "256M";

    @Option(names = "--vectors", description = "Interrupt vectors (eventfds) per peer: 0 messages, 1 the fence " +
        "doorbell, the rest wake vectors leased to fence waiters (default: ${DEFAULT-VALUE}).")
    int vectors = IvshmemServer.DEFAULT_VECTORS;

    @Option(names = "--first-id", description = "First peer id handed out (default: ${DEFAULT-VALUE}).")
    int firstId = 1;

    @Option(names = "--max-peers", description = {"Peer slots of the region the daemons format (their --max-peers, " +
        "default: ${DEFAULT-VALUE}): ids are handed out in [first-id, max-peers - 1], the lowest free one first, so " +
        "restarted daemons always rejoin."})
    int maxPeers = RegionLayout.DEFAULT_MAX_PEERS;

    @Option(names = "--max-id", description = "Largest peer id handed out (default: max-peers - 1).")
    Integer maxId;

    @Override
    public Integer call() throws Exception
    {
        final java.nio.file.Path dir = socket.toAbsolutePath().getParent();
        if (dir != null)
        {
            java.nio.file.Files.createDirectories(dir);
        }
        final SystemdNotifier systemd = SystemdNotifier.fromEnvironment();
        // WATCHDOG=1 from the server's poll loop, the thread that accepts peers and hands out their eventfds.
        final long watchdog = systemd.watchdogPeriodMillis();
        final IvshmemServer server = new IvshmemServer(new IvshmemServer.Options().socketPath(socket.toString())
            .size(Defaults.parseSize(size)).vectors(vectors).firstId(firstId)
            .maxId(maxId != null ? maxId : maxPeers - 1).heartbeat(watchdog, watchdog > 0 ? systemd::watchdog : null))
            .start();
        final CountDownLatch stop = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() ->
        {
            systemd.stopping();
            server.close();
            stop.countDown();
        }));
        System.out.println("READY server socket=" + socket + " size=" + server.size() + " vectors=" + vectors);
        System.out.flush();
        systemd.ready("ivshmem server on " + socket + ": " + (server.size() >> 20) + " MiB region, " + vectors +
            " vectors per peer");
        stop.await();
        return 0;
    }
}
