package org.hyperdmabuf.daemon;

import org.hyperdmabuf.abi.Limits;
import org.hyperdmabuf.abi.v1.BufferId;
import org.hyperdmabuf.abi.v1.BufferInfo;
import org.hyperdmabuf.abi.v1.BufferList;
import org.hyperdmabuf.abi.v1.Caps;
import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.abi.v1.Request;
import org.hyperdmabuf.abi.v1.Response;
import org.hyperdmabuf.abi.v1.StatsResult;
import org.hyperdmabuf.abi.v1.Subscribed;
import org.hyperdmabuf.abi.v1.Target;
import org.hyperdmabuf.abi.v1.Targets;
import org.hyperdmabuf.daemon.policy.Policy;
import org.hyperdmabuf.hv.spi.Capabilities;
import org.hyperdmabuf.hv.spi.DmaBufExports;
import org.hyperdmabuf.hv.spi.HypervisorBackend;
import org.hyperdmabuf.hv.spi.PeerInfo;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.List;
import java.util.Optional;

/**
 * The one place a client request is dispatched: the daemon's own operations (capabilities, targets, LIST,
 * STATS, QUERY, subscriptions) are answered here, every other one goes to the role that declares it
 * ({@link RoleKind#serves}), a fence request to the role that serves its buffer's origin
 * ({@link RoleKind#fenceBuffers()}). On the event loop.
 */
final class RequestRouter
{
    private static final Logger LOG = LoggerFactory.getLogger(RequestRouter.class);

    private final List<Role> roles;
    private final HypervisorBackend backend;
    private final EventHub events;
    private final PolicyHolder policy;

    /** @param roles the daemon's roles; the router reads the list as it is when a request comes */
    RequestRouter(final List<Role> roles, final HypervisorBackend backend, final EventHub events,
        final PolicyHolder policy)
    {
        this.roles = roles;
        this.backend = backend;
        this.events = events;
        this.policy = policy;
    }

    /** Answers {@code request} exactly once: with its result, or with the error it failed with. */
    void onRequest(final ClientConnection client, final Request request)
    {
        final long rid = request.getRequestId();
        try
        {
            switch (request.getOpCase())
            {
                case QUERY_CAPS -> client.reply(rid, Response.newBuilder().setCaps(caps()));
                case QUERY_TARGETS -> client.reply(rid, Response.newBuilder().setTargets(targets()));
                case LIST -> {
                    final BufferList.Builder list = BufferList.newBuilder();
                    roles.forEach(r -> r.list(client, list));
                    client.reply(rid, Response.newBuilder().setBuffers(list));
                }
                case STATS -> {
                    final StatsResult.Builder stats = StatsResult.newBuilder().setPolicy(policy.get().isPermissive() ?
                        "permissive (no policy file)" : policy.get().sources().toString());
                    roles.forEach(r -> r.stats(stats));
                    client.reply(rid, Response.newBuilder().setStats(stats));
                }
                case QUERY -> query(client, request);
                case SUBSCRIBE -> {
                    final long id = events.subscribe(client, EventFilter.of(request.getSubscribe().getRulesList()));
                    client.reply(rid, Response.newBuilder().setSubscribed(Subscribed.newBuilder().setSubscriptionId(id)));
                    if (request.getSubscribe().getReplay())
                    {
                        roles.forEach(r -> r.replay(client, id));
                    }
                }
                case UNSUBSCRIBE -> {
                    if (!events.unsubscribe(client, request.getUnsubscribe().getSubscriptionId()))
                    {
                        throw new ApiException(ErrorCode.ENOENT, "no such subscription");
                    }
                    client.reply(rid, Response.newBuilder());
                }
                case OP_NOT_SET -> throw new ApiException(ErrorCode.ENOTSUP,
                    "request has no operation this daemon knows (ABI v" + Limits.ABI_VERSION + ")");
                case FENCE_SIGNAL, FENCE_WAIT, FENCE_DOORBELL, FENCE_WAKE ->
                    fenceRole(FenceRequests.bufferOf(request)).onRequest(client, request);
                default -> roleFor(request.getOpCase()).onRequest(client, request);
            }
        }
        catch (final ApiException e)
        {
            client.replyError(rid, e.code(), e.getMessage());
        }
        catch (final RuntimeException e)
        {
            LOG.error("{}: {} failed", client, request.getOpCase(), e);
            client.replyError(rid, ErrorCode.EIO, "internal error: " + e);
        }
    }

    private void query(final ClientConnection client, final Request request) throws ApiException
    {
        if (!request.getQuery().hasId())
        {
            throw new ApiException(ErrorCode.EINVAL, "QUERY needs an id");
        }
        Optional<BufferInfo> info = Optional.empty();
        for (final Role r : roles)
        {
            info = info.or(() -> r.query(client, request.getQuery().getId()));
        }
        client.reply(request.getRequestId(), Response.newBuilder().setBuffer(info.orElseThrow(
            () -> new ApiException(ErrorCode.ENOENT, "no such buffer"))));
    }

    private Role roleFor(final Request.OpCase op) throws ApiException
    {
        for (final Role r : roles)
        {
            if (r.kind().serves(op))
            {
                return r;
            }
        }
        throw new ApiException(ErrorCode.ENOTSUP, op + " is not served here: this daemon runs roles " +
            roles.stream().map(Role::name).toList());
    }

    /** The role serving fences of buffers from where {@code id} comes from: exported here or elsewhere. */
    private Role fenceRole(final BufferId id) throws ApiException
    {
        final BufferOrigin origin = BufferOrigin.of(id, backend.localVm());
        for (final Role r : roles)
        {
            if (r.kind().fenceBuffers() == origin)
            {
                return r;
            }
        }
        throw new ApiException(ErrorCode.ENOENT, "no such buffer here (this daemon runs no " +
            RoleKind.servingFencesOf(origin).text() + " role)");
    }

    private Caps caps()
    {
        final Capabilities c = backend.capabilities();
        final String dmaBufUnavailable = DmaBufExports.of(backend).dmaBufUnavailable();
        return Caps.newBuilder()
            .setBackend(c.backend())
            .setLocalVm(c.localVm())
            .setPageSize(c.pageSize())
            .setMaxBufferSize(c.maxBufferSize())
            .setReadOnlyEnforcement(c.readOnlyEnforcement())
            .setIsolation(c.isolation())
            .setGuestToGuest(c.guestToGuest())
            .setDoorbell(c.doorbell())
            .setNotification(c.notification())
            .setMaxMetadataBytes(policy.get().maxMetadataBytes())
            .setMaxPrivateBytes(Limits.MAX_PRIVATE_BYTES)
            .addAllRoles(roles.stream().map(Role::name).toList())
            .setPoolBytes(backend.totalBytes())
            .setPoolFreeBytes(backend.freeBytes())
            .setAbiVersion(Limits.ABI_VERSION)
            .setDmaBuf(dmaBufUnavailable == null)
            .setDmaBufUnavailable(dmaBufUnavailable == null ? "" : dmaBufUnavailable)
            .build();
    }

    private Targets targets()
    {
        final Targets.Builder t = Targets.newBuilder();
        final Policy current = policy.get();
        final int local = backend.localVm();
        for (final PeerInfo p : backend.peers())
        {
            if (!current.mayShare(local, p.vm()) && !current.mayShare(p.vm(), local))
            {
                continue; // reachable, but the policy allows nothing either way
            }
            // The policy's name, else the hypervisor's (Xen: the toolstack's), else vm<id>.
            final String name = current.namesVm(p.vm()) || p.name().isEmpty() ? current.vmName(p.vm()) : p.name();
            final Target.Builder target = Target.newBuilder().setVm(p.vm()).setName(name);
            if (p.isSink())
            {
                target.addRoles(RoleKind.SINK.text());
            }
            if (p.isSource())
            {
                target.addRoles(RoleKind.SOURCE.text());
            }
            t.addTargets(target);
        }
        return t.build();
    }
}
