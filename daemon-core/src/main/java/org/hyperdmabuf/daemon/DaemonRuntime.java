package org.hyperdmabuf.daemon;

import org.hyperdmabuf.abi.Limits;
import com.google.protobuf.InvalidProtocolBufferException;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoEventLoop;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.abi.v1.PeerMessage;
import org.hyperdmabuf.abi.v1.Request;
import org.hyperdmabuf.daemon.policy.Policy;
import org.hyperdmabuf.daemon.policy.PolicyException;
import org.hyperdmabuf.hv.spi.BackendException;
import org.hyperdmabuf.hv.spi.BackendListener;
import org.hyperdmabuf.hv.spi.DirectFenceWakeups;
import org.hyperdmabuf.hv.spi.DmaBufExports;
import org.hyperdmabuf.hv.spi.FenceSlots;
import org.hyperdmabuf.hv.spi.HypervisorBackend;
import org.hyperdmabuf.hv.spi.LoopDrivenReceiver;
import org.hyperdmabuf.hv.spi.PeerFenceDoorbells;
import org.hyperdmabuf.hv.spi.PeerInfo;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;

/**
 * One daemon: a backend endpoint, a client socket and the roles it plays, all driven by a single event
 * loop (so role state needs no locks). The backend's receive thread only parses peer messages and hands
 * them to the loop.
 */
public final class DaemonRuntime implements AutoCloseable, RequestDispatcher, BackendListener
{
    private static final Logger LOG = LoggerFactory.getLogger(DaemonRuntime.class);
    /**
     * System property: true keeps peer messages on the backend's own receive thread, handed to the loop one by
     * one, as before the loop could watch the doorbells (for comparison in benchmarks and diagnosis).
     */
    public static final String RECEIVE_THREAD_PROPERTY = "hdmabuf.receive-thread";

    private final String name;
    private final HypervisorBackend backend;
    private final EventLoopGroup group;
    private final EventLoop loop;
    /** Whether the backend's receive work runs on {@link #loop} ({@link LoopReceiveDriver}). */
    private boolean receiveOnLoop;
    private volatile boolean closing;
    private final List<Role> roles = new ArrayList<>();
    private final ApiServer api;
    private final CountDownLatch closed = new CountDownLatch(1);
    private final Set<Integer> malformedReported = new HashSet<>();
    private final EventHub events = new EventHub();
    private final FenceWaits fenceWaits;
    private final FenceWakes fenceWakes;
    private final PolicyHolder policy;
    private final PolicyReloader reloader;
    private final RequestRouter router;
    private volatile int maxClients = Limits.DEFAULT_MAX_CLIENTS;
    private int clients;

    /**
     * Starts the backend (already configured with this daemon's role bits) and then the client socket.
     */
    public DaemonRuntime(final String name, final Path socket, final HypervisorBackend backend,
        final List<Role.Factory> roleFactories) throws BackendException
    {
        this(name, socket, backend, roleFactories, Policy.permissive(), null);
    }

    /** Loads the policy again, given the one in force (so a reload can refuse to fall back to defaults). */
    @FunctionalInterface
    public interface PolicyReloader
    {
        Policy reload(Policy current) throws Exception;
    }

    /**
     * @param reloader loads the policy again (on SIGHUP or a file change, see {@link #reloadPolicy()}); null if the
     *                 policy never changes
     */
    public DaemonRuntime(final String name, final Path socket, final HypervisorBackend backend,
        final List<Role.Factory> roleFactories, final Policy policy, final PolicyReloader reloader)
        throws BackendException
    {
        if (!Epoll.isAvailable())
        {
            throw new BackendException(ErrorCode.ENOTSUP,
                "netty epoll transport unavailable: " + Epoll.unavailabilityCause());
        }
        this.name = name;
        this.backend = backend;
        this.group = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
        this.loop = group.next();
        this.fenceWaits = new FenceWaits(loop);
        final DirectFenceWakeups wakeups = DirectFenceWakeups.of(backend);
        this.fenceWakes = new FenceWakes(wakeups);
        this.policy = new PolicyHolder(policy);
        this.reloader = reloader;
        final DaemonContext context = new DaemonContext(name, backend, FenceSlots.of(backend),
            PeerFenceDoorbells.of(backend), wakeups, loop, events, new PeerMessenger(backend, loop), fenceWaits,
            fenceWakes, this.policy, DmaBufExports.of(backend));
        for (final Role.Factory f : roleFactories)
        {
            roles.add(f.create(context));
        }
        this.router = new RequestRouter(roles, backend, events, this.policy);
        try
        {
            final LoopDrivenReceiver driven = Boolean.getBoolean(RECEIVE_THREAD_PROPERTY) ? null
                : backend.capability(LoopDrivenReceiver.class).orElse(null);
            if (driven != null)
            {
                driven.driveFromLoop();
            }
            backend.start(this);
            receiveOnLoop = driven != null && LoopReceiveDriver.attach((IoEventLoop)loop, driven);
            this.api = new ApiServer(socket, group, loop, this);
        }
        catch (final BackendException | RuntimeException e)
        {
            backend.close();
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
            throw e;
        }
        LOG.info("daemon '{}' up: backend {} as VM {}, roles {}, socket {}, peer messages received {}", name,
            backend.name(), backend.localVm(), roles.stream().map(Role::name).toList(), socket,
            receiveOnLoop ? "on the event loop" : "by the backend's thread");
    }

    /** The roles' parts of the daemon's one-line status, e.g. "3 buffer(s) exported". Call on the loop. */
    public String status()
    {
        return String.join(", ", roles.stream().map(Role::status).filter(t -> !t.isEmpty()).toList());
    }

    public HypervisorBackend backend()
    {
        return backend;
    }

    public EventLoop loop()
    {
        return loop;
    }


    // ---- client requests ----

    /** Connections served at once (daemon option {@code --max-clients}); later ones are refused with EAGAIN. */
    public void maxClients(final int max)
    {
        if (max < 1)
        {
            throw new IllegalArgumentException("max clients must be at least 1: " + max);
        }
        maxClients = max;
    }

    @Override
    public void onConnected(final ClientConnection client)
    {
        if (++clients > maxClients)
        {
            LOG.warn("{}: {} connections are open, at most {}; refused", client, clients - 1, maxClients);
            client.refuse(ErrorCode.EAGAIN, "too many clients: this daemon serves at most " + maxClients +
                " connections");
            return;
        }
        if (!policy.get().mayConnect(client.uid(), client.gid()))
        {
            LOG.warn("{}: uid {} gid {} may not use this daemon (policy [access]); refused", client, client.uid(),
                client.gid());
            client.refuse(ErrorCode.EACCES, "uid " + client.uid() + " may not use this daemon (policy [access])");
        }
    }

    /**
     * Loads the policy again and applies it atomically: on any error the last good policy stays and the
     * errors are logged; otherwise roles revoke what the new one forbids. Safe to call from any thread.
     */
    public void reloadPolicy()
    {
        if (reloader == null)
        {
            return;
        }
        loop.execute(() ->
        {
            final Policy next;
            try
            {
                next = reloader.reload(policy.get());
            }
            catch (final PolicyException e)
            {
                LOG.error("policy reload failed; keeping the last good policy:\n{}", e.getMessage());
                return;
            }
            catch (final Exception e)
            {
                LOG.error("policy reload failed; keeping the last good policy: {}", e.toString());
                return;
            }
            policy.set(next);
            LOG.info("policy reloaded from {}", next.isPermissive() ? "defaults (no policy file)" : next.sources());
            roles.forEach(r -> r.onPolicyChanged(next));
        });
    }

    public Policy policy()
    {
        return policy.get();
    }

    @Override
    public void onRequest(final ClientConnection client, final Request request)
    {
        router.onRequest(client, request);
    }

    @Override
    public void onDisconnected(final ClientConnection client)
    {
        clients--;
        events.removeClient(client);
        fenceWaits.dropClient(client);
        fenceWakes.dropClient(client);
        for (final Role r : roles)
        {
            try
            {
                r.onDisconnected(client);
            }
            catch (final RuntimeException e)
            {
                LOG.error("cleanup of {} in role {} failed", client, r.name(), e);
            }
        }
    }

    // ---- backend events (backend thread) ----

    /**
     * Hands a backend callback to the event loop, the only thread that runs role code. Once the daemon
     * is closing the loop is gone before the backend unmaps its memory, and late callbacks are dropped.
     */
    private void onLoop(final Runnable task)
    {
        try
        {
            loop.execute(task);
        }
        catch (final RejectedExecutionException e)
        {
            if (closing)
            {
                return;
            }
            throw e;
        }
    }

    @Override
    public void onPeerUp(final PeerInfo peer)
    {
        onLoop(() ->
        {
            LOG.info("peer VM {} up (session {}, roles {})", peer.vm(), Long.toHexString(peer.sessionId()), peer.roles());
            malformedReported.remove(peer.vm());
            roles.forEach(r -> r.onPeerUp(peer));
        });
    }

    @Override
    public void onPeerDown(final int vm, final long sessionId, final String reason)
    {
        onLoop(() ->
        {
            LOG.info("peer VM {} down ({})", vm, reason);
            roles.forEach(r -> r.onPeerDown(vm, sessionId, reason));
        });
    }

    @Override
    public void onFenceDoorbell()
    {
        onLoop(fenceWaits::check);
    }

    @Override
    public void onFenceTick()
    {
        onLoop(() ->
        {
            if (!fenceWaits.isEmpty())
            {
                fenceWaits.check();
            }
        });
    }

    @Override
    public void onMessage(final int vm, final ByteBuffer payload, final int length)
    {
        final PeerMessage message;
        try
        {
            message = PeerMessage.parseFrom(payload.duplicate().position(0).limit(length));
        }
        catch (final InvalidProtocolBufferException e)
        {
            onLoop(() ->
            {
                if (malformedReported.add(vm))
                {
                    LOG.warn("VM {} sent a malformed message ({}); dropped (reported once per peer session)", vm,
                        e.getMessage());
                }
            });
            return;
        }
        onLoop(() ->
        {
            for (final Role r : roles)
            {
                try
                {
                    r.onPeerMessage(vm, message);
                }
                catch (final RuntimeException e)
                {
                    LOG.error("role {} failed on a message from VM {}: {}", r.name(), vm, message.getKindCase(), e);
                }
            }
        });
    }

    // ---- lifecycle ----

    /** Blocks until {@link #close()} has run. */
    public void awaitClose() throws InterruptedException
    {
        closed.await();
    }

    @Override
    public void close()
    {
        if (closed.getCount() == 0)
        {
            return;
        }
        closing = true;
        try
        {
            api.close();
        }
        finally
        {
            // The loop stops first: role code still queued (a peer's message, say) would otherwise run
            // against shared memory the backend has just unmapped, a SIGSEGV rather than an exception.
            group.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
            backend.close();
            closed.countDown();
            LOG.info("daemon '{}' stopped", name);
        }
    }
}
