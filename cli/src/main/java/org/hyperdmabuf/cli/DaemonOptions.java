package org.hyperdmabuf.cli;

import org.hyperdmabuf.daemon.DaemonRuntime;
import org.hyperdmabuf.abi.Limits;
import org.hyperdmabuf.daemon.PolicyWatcher;
import org.hyperdmabuf.daemon.policy.Policy;
import org.hyperdmabuf.daemon.policy.PolicyLoader;
import org.hyperdmabuf.hv.shm.RegionLayout;
import org.hyperdmabuf.daemon.Role;
import org.hyperdmabuf.hv.spi.BackendProvider;
import org.hyperdmabuf.hv.spi.HypervisorBackend;
import org.hyperdmabuf.sink.SinkRole;
import org.hyperdmabuf.source.SourceRole;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.RejectedExecutionException;

/** Options shared by the daemon commands, and running a daemon until SIGTERM/SIGINT. */
final class DaemonOptions
{
    private static final Logger LOG = LoggerFactory.getLogger(DaemonOptions.class);

    @Option(names = "--ivshmem", description = "ivshmem server socket to attach to (default: <runtime dir>/ivshmem.sock).")
    Path ivshmem;

    @Option(names = "--backend", description = "Backend name (default: first available; e.g. kvm-ivshmem, acrn-ivshmem).")
    String backend;

    @Option(names = {"-O", "--backend-option"}, paramLabel = "KEY=VALUE", description = {
        "A backend option, repeatable; overrides the defaults this command derives from its other options",
        "(each backend's README section lists its keys)."})
    Map<String, String> backendOptions = new HashMap<>();

    @Option(names = "--name", description = "Daemon name for logs (default: the command name).")
    String name;

    @Option(names = "--max-peers", description = "Peers a region holds, if this daemon formats it (default: ${DEFAULT-VALUE}).")
    int maxPeers = 8;

    @Option(names = "--ring-size",
        description = "Bytes per control ring, if this daemon formats the region (default: ${DEFAULT-VALUE}).")
    String ringSize = "64K";

    @Option(names = "--fence-slots", description = {"Exports live at once in the region, if this daemon formats it",
        "(default: ${DEFAULT-VALUE}; 192 bytes each)."})
    int fenceSlots = RegionLayout.DEFAULT_FENCE_SLOTS;

    @Option(names = "--heartbeat-ms", description = "Heartbeat interval in the peer slot (default: ${DEFAULT-VALUE}).")
    int heartbeatMs = 100;

    @Option(names = "--liveness-timeout-ms", description = {"A peer whose heartbeat stops this long is declared gone;",
        "fence waits on its buffers fail with EPEERLOST (default: ${DEFAULT-VALUE})."})
    int livenessTimeoutMs = 1500;

    @Option(names = "--policy", description = "Policy file (default: ${DEFAULT-VALUE}); see abi-spec/POLICY.md.")
    Path policy = Path.of("/etc/hyperdmabuf/policy.toml");

    @Option(names = "--policy-dir", description = "Drop-in policy files *.toml (default: ${DEFAULT-VALUE}).")
    Path policyDir = Path.of("/etc/hyperdmabuf/policy.d");

    @Option(names = "--max-clients", description = "Client connections served at once; more are refused with " +
        "EAGAIN (default: ${DEFAULT-VALUE}).")
    int maxClients = Limits.DEFAULT_MAX_CLIENTS;

    int run(final String role, final Path socket, final boolean sink, final boolean source) throws Exception
    {
        if (maxClients < 1)
        {
            throw new IllegalArgumentException("--max-clients must be at least 1: " + maxClients);
        }
        final Map<String, String> options = new HashMap<>();
        final BackendProvider provider = BackendProvider.find(backend);
        if ("kvm-ivshmem".equals(provider.name()) && !"guest".equals(backendOptions.get("mode")))
        {
            // Guest mode has no server: the region is the VM's ivshmem PCI device. Other backends have none.
            options.put("socket", (ivshmem == null ? Defaults.ivshmemSocket() : ivshmem).toString());
        }
        options.put("roles", sink && source ? "sink,source" : sink ? "sink" : "source");
        options.put("max-peers", Integer.toString(maxPeers));
        options.put("ring-capacity", Long.toString(Defaults.parseSize(ringSize)));
        options.put("heartbeat-ms", Integer.toString(heartbeatMs));
        options.put("fence-slots", Integer.toString(fenceSlots));
        options.put("liveness-timeout-ms", Integer.toString(livenessTimeoutMs));
        options.putAll(backendOptions);
        final HypervisorBackend hv = provider.create(options);
        final List<Role.Factory> roles = new ArrayList<>();
        if (sink)
        {
            roles.add(SinkRole::new);
        }
        if (source)
        {
            roles.add(SourceRole::new);
        }
        final Policy loaded = PolicyLoader.loadDefault(policy, policyDir);
        if (loaded.isPermissive())
        {
            LOG.warn("no policy file ({} or {}/*.toml): every VM may share everything, no quotas", policy,
                policyDir);
        }
        // Reloads never fall back to the permissive default: deleting every file keeps the last good policy.
        final DaemonRuntime daemon = new DaemonRuntime(name == null ? role : name, socket, hv, roles, loaded,
            current -> PolicyLoader.reload(policy, policyDir, current));
        daemon.maxClients(maxClients);
        final PolicyWatcher watcher = PolicyWatcher.start(
            List.of(policy.toAbsolutePath().getParent(), policyDir), daemon::reloadPolicy);
        final SystemdNotifier systemd = SystemdNotifier.fromEnvironment();
        Hangup.onHangup(() -> reload(daemon, systemd));
        Runtime.getRuntime().addShutdownHook(new Thread(() ->
        {
            systemd.stopping();
            if (watcher != null)
            {
                watcher.close();
            }
            daemon.close();
        }));
        System.out.println("READY " + role + " vm=" + hv.localVm() + " socket=" + socket);
        System.out.flush();
        // The roles' counts belong to the loop: the first STATUS= is read there too.
        systemd.ready(daemon.loop().submit(() -> status(role, daemon, socket)).get());
        systemd.attach(daemon.loop(), () -> status(role, daemon, socket));
        daemon.awaitClose();
        return 0;
    }

    /** SIGHUP: RELOADING=1, the reload on the loop, then READY=1 queued behind it on the same loop. */
    private static void reload(final DaemonRuntime daemon, final SystemdNotifier systemd)
    {
        systemd.reloading();
        daemon.reloadPolicy();
        try
        {
            daemon.loop().execute(systemd::reloaded);
        }
        catch (final RejectedExecutionException e)
        {
            // shutting down: STOPPING=1 follows
        }
    }

    /**
     * The STATUS= line, what a person checking {@code systemctl status} wants to know: backend, VM id, peers up,
     * buffers exported (or shared with this VM), region use. Runs on the loop.
     */
    private static String status(final String role, final DaemonRuntime daemon, final Path socket)
    {
        final HypervisorBackend hv = daemon.backend();
        final long used = hv.totalBytes() - hv.freeBytes();
        return role + " on " + hv.name() + " as VM " + hv.localVm() + ": " + hv.peers().size() + " peer(s) up, " +
            daemon.status() + ", " + (used >> 20) + " of " + (hv.totalBytes() >> 20) + " MiB allocated, socket " +
            socket;
    }
}
