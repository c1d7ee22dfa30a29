package org.hyperdmabuf.daemon.inprocess;

import org.hyperdmabuf.client.HdmabufClient;
import org.hyperdmabuf.daemon.DaemonRuntime;
import org.hyperdmabuf.daemon.Role;
import org.hyperdmabuf.daemon.policy.PolicyLoader;
import org.hyperdmabuf.hv.inmemory.InMemoryBackend;
import org.hyperdmabuf.hv.inmemory.InMemoryFabric;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * One daemon in the test's own JVM: the real {@link DaemonRuntime} and roles on an {@link InMemoryBackend} of a
 * fabric, serving real clients on a Unix socket. Built as the {@code cli} module's {@code DaemonOptions} builds a
 * daemon (backend with the role bits, policy from a main file and a drop-in directory, a reloader that never falls
 * back to the permissive default), without a process: {@code cli} depends on the role modules, so their tests
 * cannot call it.
 */
public final class InProcessDaemon implements AutoCloseable
{
    /** Bound on every client call of a test. */
    public static final Duration CALL_TIMEOUT = Duration.ofSeconds(10);

    private final DaemonRuntime runtime;
    private final InMemoryBackend backend;
    private final Path socket;
    private final Path policyFile;
    private final List<HdmabufClient> clients = new ArrayList<>();

    private InProcessDaemon(final DaemonRuntime runtime, final InMemoryBackend backend, final Path socket,
        final Path policyFile)
    {
        this.runtime = runtime;
        this.backend = backend;
        this.socket = socket;
        this.policyFile = policyFile;
    }

    /**
     * Starts daemon {@code name} on a new endpoint of {@code fabric} announcing {@code roleBits}
     * ({@link InMemoryFabric#ROLE_SINK}...) and running {@code roles}, with socket {@code dir/name.sock} and
     * policy file {@code dir/name.toml} holding {@code policyToml} (abi-spec/POLICY.md), or no policy file (the
     * permissive default) if it is null.
     */
    public static InProcessDaemon start(final InMemoryFabric fabric, final Path dir, final String name,
        final int roleBits, final List<Role.Factory> roles, final String policyToml) throws Exception
    {
        final Path socket = dir.resolve(name + ".sock");
        final Path policyFile = dir.resolve(name + ".toml");
        final Path policyDir = dir.resolve(name + ".d");
        if (policyToml != null)
        {
            Files.writeString(policyFile, policyToml);
        }
        final InMemoryBackend backend = fabric.backend(roleBits);
        final DaemonRuntime runtime = new DaemonRuntime(name, socket, backend, roles,
            PolicyLoader.loadDefault(policyFile, policyDir),
            current -> PolicyLoader.reload(policyFile, policyDir, current));
        return new InProcessDaemon(runtime, backend, socket, policyFile);
    }

    public int vm()
    {
        return backend.localVm();
    }

    public DaemonRuntime runtime()
    {
        return runtime;
    }

    public InMemoryBackend backend()
    {
        return backend;
    }

    public Path socket()
    {
        return socket;
    }

    /** A new client of this daemon, closed with it. */
    public HdmabufClient connect() throws IOException
    {
        final HdmabufClient c = HdmabufClient.connect(socket).timeout(CALL_TIMEOUT);
        synchronized (clients)
        {
            clients.add(c);
        }
        return c;
    }

    /** Replaces this daemon's policy file and has the daemon reload it, as on SIGHUP (the reload runs on its loop). */
    public void reloadPolicy(final String toml) throws IOException
    {
        Files.writeString(policyFile, toml);
        runtime.reloadPolicy();
    }

    @Override
    public void close()
    {
        synchronized (clients)
        {
            clients.forEach(HdmabufClient::close);
            clients.clear();
        }
        runtime.close();
    }
}
