package org.hyperdmabuf.hv.kvm;

import org.hyperdmabuf.hv.spi.BackendException;
import org.hyperdmabuf.hv.spi.BackendListener;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** An in-process ivshmem server in a fresh temp directory, and host backends attached to it. */
final class TestServer implements AutoCloseable
{
    static final int MAX_PEERS = 4;
    static final int RING_CAPACITY = 16 * 1024;

    private final Path dir;
    private final IvshmemServer server;
    private final List<IvshmemBackend> backends = new ArrayList<>();

    TestServer(final long size, final int vectors, final int firstId, final int maxId) throws IOException
    {
        dir = Files.createTempDirectory("hdmabuf-ivshmem");
        server = new IvshmemServer(new IvshmemServer.Options().socketPath(dir.resolve("ivshmem.sock").toString())
            .size(size).vectors(vectors).firstId(firstId).maxId(maxId)).start();
    }

    /** A 4 MiB region with room for {@link #MAX_PEERS} daemons, ids 1..MAX_PEERS-1. */
    static TestServer forBackends() throws IOException
    {
        return new TestServer(4L << 20, 2, 1, MAX_PEERS - 1);
    }

    IvshmemServer server()
    {
        return server;
    }

    Path dir()
    {
        return dir;
    }

    String socketPath()
    {
        return server.socketPath();
    }

    Map<String, String> options()
    {
        final Map<String, String> options = new HashMap<>();
        options.put(IvshmemBackend.OPTION_SOCKET, socketPath());
        options.put(IvshmemBackend.OPTION_MAX_PEERS, Integer.toString(MAX_PEERS));
        options.put(IvshmemBackend.OPTION_RING_CAPACITY, Integer.toString(RING_CAPACITY));
        options.put(IvshmemBackend.OPTION_CONNECT_TIMEOUT_MS, "5000");
        return options;
    }

    IvshmemBackend startBackend(final BackendListener listener) throws BackendException
    {
        return startBackend(listener, Map.of());
    }

    /** A backend with {@link #options()} overridden by {@code extra}. */
    IvshmemBackend startBackend(final BackendListener listener, final Map<String, String> extra)
        throws BackendException
    {
        final Map<String, String> options = options();
        options.putAll(extra);
        final IvshmemBackend backend = new IvshmemBackend(options);
        backends.add(backend);
        backend.start(listener);
        return backend;
    }

    @Override
    public void close() throws IOException
    {
        for (final IvshmemBackend backend : backends)
        {
            backend.close();
        }
        server.close();
        try (var files = Files.list(dir))
        {
            for (final Path p : (Iterable<Path>)files::iterator)
            {
                Files.deleteIfExists(p);
            }
        }
        Files.deleteIfExists(dir);
    }
}
