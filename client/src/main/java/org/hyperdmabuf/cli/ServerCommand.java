package org.hyperdmabuf.cli;

import org.hyperdmabuf.hv.kvm.IvshmemServer;
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

    @Option(names = "--max-id", description = {"Largest peer id handed out; ids rotate through [first, max] so a " +
        "restarted daemon does not reuse the id of the one before at once (default: ${DEFAULT-VALUE}).",
        "Daemons join only with an id below the region's max-peers: use max-peers - 1 (7 for the default 8), or " +
        "daemons started after that many (re)starts are refused."})
    int maxId = IvshmemServer.MAX_ID;

    @Override
    public Integer call() throws Exception
    {
        java.nio.file.Files.createDirectories(socket.toAbsolutePath().getParent());
        final IvshmemServer server = new IvshmemServer(new IvshmemServer.Options().socketPath(socket.toString())
            .size(Defaults.parseSize(size)).vectors(vectors).firstId(firstId).maxId(maxId)).start();
        final CountDownLatch stop = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() ->
        {
            server.close();
            stop.countDown();
        }));
        System.out.println("READY server socket=" + socket + " size=" + server.size() + " vectors=" + vectors);
        System.out.flush();
        stop.await();
        return 0;
    }
}
