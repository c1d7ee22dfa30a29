package org.hyperdmabuf.sink;

import io.netty.util.concurrent.ScheduledFuture;
import org.hyperdmabuf.abi.BufferIds;
import org.hyperdmabuf.abi.v1.Access;
import org.hyperdmabuf.abi.v1.Allocated;
import org.hyperdmabuf.abi.v1.BufferId;
import org.hyperdmabuf.abi.v1.BufferInfo;
import org.hyperdmabuf.abi.v1.BufferList;
import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.abi.v1.Exported;
import org.hyperdmabuf.abi.v1.PeerMessage;
import org.hyperdmabuf.abi.v1.Request;
import org.hyperdmabuf.abi.v1.Response;
import org.hyperdmabuf.abi.v1.StatsResult;
import org.hyperdmabuf.abi.v1.UnexportNotice;
import org.hyperdmabuf.daemon.ApiException;
import org.hyperdmabuf.daemon.BufferEvents;
import org.hyperdmabuf.daemon.ClientConnection;
import org.hyperdmabuf.daemon.DaemonContext;
import org.hyperdmabuf.daemon.ExportTag;
import org.hyperdmabuf.daemon.ExportTrace;
import org.hyperdmabuf.daemon.ExportValidation;
import org.hyperdmabuf.daemon.FenceRequests;
import org.hyperdmabuf.daemon.Role;
import org.hyperdmabuf.daemon.RoleKind;
import org.hyperdmabuf.daemon.policy.Policy;
import org.hyperdmabuf.hv.spi.BackendException;
import org.hyperdmabuf.hv.spi.FenceRef;
import org.hyperdmabuf.hv.spi.PeerInfo;
import org.hyperdmabuf.hv.spi.ShareRef;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * The sink role (producer side): allocates shareable memory for local producers, exports it to other VMs
 * and tracks what the importers hold. Memory is reclaimed only once no importer VM holds an import of it
 * (a ReleaseNotice came, or the importer VM is gone), so a consumer never reads reused pages.
 */
public final class SinkRole implements Role
{
    private static final Logger LOG = LoggerFactory.getLogger(SinkRole.class);

    /** Longest reuse window of a delayed unexport. */
    public static final long MAX_UNEXPORT_DELAY_MS = 600_000;

    private final DaemonContext ctx;
    private final Allocations allocations;
    private final Map<BufferId, Export> exports = new HashMap<>();
    /** Unexported (or freed) exports whose importer VM still holds an import; they pin their allocation. */
    private final Map<BufferId, Export> awaitingRelease = new HashMap<>();
    private final ExportIds ids = new ExportIds();

    public SinkRole(final DaemonContext ctx)
    {
        this.ctx = ctx;
        this.allocations = new Allocations(ctx);
    }

    @Override
    public RoleKind kind()
    {
        return RoleKind.SINK;
    }

    @Override
    public void onRequest(final ClientConnection client, final Request request) throws ApiException
    {
        final long rid = request.getRequestId();
        switch (request.getOpCase())
        {
            case ALLOC -> allocations.alloc(client, rid, request.getAlloc());
            case EXPORT -> export(client, rid, request.getExport());
            case UNEXPORT -> {
                final Export e = ownedExport(client, request.getUnexport().getId());
                final long delay = Integer.toUnsignedLong(request.getUnexport().getDelayMs());
                if (delay > MAX_UNEXPORT_DELAY_MS)
                {
                    throw new ApiException(ErrorCode.EINVAL, "delay_ms=" + delay + " above " + MAX_UNEXPORT_DELAY_MS);
                }
                if (delay == 0)
                {
                    unexport(e, UnexportReason.UNEXPORTED);
                }
                else
                {
                    scheduleUnexport(e, delay);
                }
                client.reply(rid, Response.newBuilder());
            }
            case FREE -> {
                free(allocations.owned(client, request.getFree().getHandle()));
                client.reply(rid, Response.newBuilder());
            }
            case FENCE_SIGNAL, FENCE_WAIT, FENCE_DOORBELL, FENCE_WAKE -> {
                final Export e = ownedExport(client, FenceRequests.bufferOf(request));
                // The owner maps the slot writable and sets its wake bit around each sleep itself, unless it holds
                // only a dma-buf of the buffer, which does not reach the slot.
                e.fences.serve(ctx, client, request, e.peerLost, e.allocation.dmaBuf);
            }
            default -> throw new ApiException(ErrorCode.ENOTSUP, request.getOpCase() + " not a sink operation");
        }
    }

    private void export(final ClientConnection client, final long rid, final org.hyperdmabuf.abi.v1.Export req)
        throws ApiException
    {
        ExportTrace.mark(ExportTrace.Point.SINK_REQUEST, req.getMetadata());
        final Allocation a = allocations.owned(client, req.getHandle());
        final int target = req.getTargetVm();
        ExportValidation.check(ExportValidation.Side.EXPORTER, ctx.policy().get(), ctx.backend().localVm(), target,
            a.buffer.length(), req.getAccess(), req.getAccessValue(), req.getMetadata());
        final Export existing = a.exportsByTarget.get(target);
        if (existing != null)
        {
            reexport(client, rid, req, existing);
            return;
        }
        final PeerInfo peer = ctx.backend().peers().stream().filter(p -> p.vm() == target).findFirst()
            .orElseThrow(() -> new ApiException(ErrorCode.ENOPEER, "VM " + target + " is not reachable"));
        if (!peer.isSource())
        {
            throw new ApiException(ErrorCode.ENOPEER, "VM " + target + " runs no source daemon");
        }
        final ShareRef ref;
        try
        {
            ref = ctx.backend().share(a.buffer, target, req.getAccess() == Access.ACCESS_READ_ONLY);
        }
        catch (final BackendException e)
        {
            throw new ApiException(e.code(), e.getMessage());
        }
        final FenceRef fence;
        try
        {
            fence = ctx.fences().allocateFence(a.buffer);
        }
        catch (final BackendException ex)
        {
            unshareQuietly(a, ref);
            throw new ApiException(ex.code(), ex.getMessage());
        }
        final BufferId id = ids.next(ctx.backend().localVm());
        final Export e = new Export(id, a, target, ref, req.getAccess(), req.getMetadata(), fence,
            ctx.fences().fenceWindow(fence.index()));
        ExportTrace.mark(ExportTrace.Point.SINK_CHECKED, req.getMetadata());
        ExportTag.write(e.fenceSlot, id);
        try
        {
            ctx.messenger().send(target, e.announce(e.metadata, e.revision));
            ExportTrace.mark(ExportTrace.Point.SINK_ANNOUNCED, req.getMetadata());
        }
        catch (final ApiException ex)
        {
            unshareQuietly(a, ref);
            freeFence(e);
            throw ex;
        }
        a.exportsByTarget.put(target, e);
        exports.put(id, e);
        client.reply(rid, Response.newBuilder().setExported(Exported.newBuilder().setId(id)
            .setFenceOffset(fence.regionOffset()).setRevision(e.revision)));
        ExportTrace.mark(ExportTrace.Point.SINK_REPLIED, req.getMetadata());
    }

    /** EXPORT of an allocation to the VM it is already exported to: new metadata, the next revision. */
    private void reexport(final ClientConnection client, final long rid, final org.hyperdmabuf.abi.v1.Export req,
        final Export existing) throws ApiException
    {
        if (existing.access != req.getAccess())
        {
            throw new ApiException(ErrorCode.EINVAL, "access of an export cannot change on re-export; " +
                "unexport it first");
        }
        if (existing.peerLost)
        {
            throw new ApiException(ErrorCode.EPEERLOST, "VM " + existing.target +
                " is gone; unexport and export again");
        }
        // Send first, change state after: a failed re-export leaves the export exactly as it was.
        ctx.messenger().send(existing.target, existing.announce(req.getMetadata(), existing.revision + 1));
        existing.cancelPendingUnexport();
        existing.metadata = req.getMetadata();
        existing.revision++;
        client.reply(rid, Response.newBuilder().setExported(Exported.newBuilder().setId(existing.id)
            .setReexport(true).setFenceOffset(existing.fence.regionOffset()).setRevision(existing.revision)));
    }

    /** Delayed unexport: the export stays usable until the window ends or a re-export reuses it. */
    private void scheduleUnexport(final Export e, final long delayMillis)
    {
        e.cancelPendingUnexport();
        e.state(ExportState.UNEXPORT_PENDING);
        final ScheduledFuture<?>[] self = new ScheduledFuture<?>[1];
        self[0] = ctx.loop().schedule(() ->
        {
            if (exports.get(e.id) == e && e.pendingUnexport == self[0])
            {
                unexport(e, UnexportReason.UNEXPORTED);
            }
        }, delayMillis, TimeUnit.MILLISECONDS);
        e.pendingUnexport = self[0];
    }

    private void unexport(final Export e, final UnexportReason reason)
    {
        if (e.pendingUnexport != null)
        {
            e.pendingUnexport.cancel(false);
            e.pendingUnexport = null;
        }
        exports.remove(e.id);
        e.allocation.exportsByTarget.remove(e.target);
        e.state(ExportState.UNEXPORT_PENDING);
        ctx.fenceWaits().failKey(e.id, ErrorCode.ENOENT, "the buffer was unexported");
        ctx.fenceWakes().dropKey(e.id);
        unshareQuietly(e.allocation, e.ref);
        // Pinned until the target confirms with ReleaseNotice{dropped}: an ImportNotice may still be in
        // the ring, so "not imported yet" is never proof that the target holds no mapping.
        if (!e.peerLost && ctx.backend().peers().stream().anyMatch(p -> p.vm() == e.target))
        {
            // Consumers spinning on acquire wake with ENOENT instead of waiting for their timeout.
            e.acquire.poison(ErrorCode.ENOENT);
            try
            {
                ctx.messenger().send(e.target, PeerMessage.newBuilder().setUnexport(UnexportNotice.newBuilder()
                    .setId(e.id).setReason(reason.text())).build());
            }
            catch (final ApiException ex)
            {
                LOG.debug("unexport notice for {} not sent: {}", BufferIds.format(e.id), ex.getMessage());
            }
            ctx.ringWaiters(e.target, e.acquire);
            awaitingRelease.put(e.id, e);
        }
        else
        {
            freeFence(e);
        }
        reclaimIfUnused(e.allocation);
    }

    private void freeFence(final Export e)
    {
        ExportTag.clear(e.fenceSlot);
        try
        {
            ctx.fences().freeFence(e.fence);
        }
        catch (final BackendException ex)
        {
            LOG.error("freeing fence slot {} of {} failed: {}", e.fence.index(), BufferIds.format(e.id),
                ex.getMessage());
        }
    }

    private void free(final Allocation a)
    {
        allocations.remove(a);
        for (final Export e : new ArrayList<>(a.exportsByTarget.values()))
        {
            unexport(e, UnexportReason.UNEXPORTED);
        }
        reclaimIfUnused(a);
    }

    /** Returns the memory once it is freed and no importer VM holds it. */
    private void reclaimIfUnused(final Allocation a)
    {
        if (!a.freed || a.reclaimed || !a.exportsByTarget.isEmpty())
        {
            return;
        }
        for (final Export e : awaitingRelease.values())
        {
            if (e.allocation == a)
            {
                return;
            }
        }
        allocations.reclaim(a);
    }

    @Override
    public void stats(final StatsResult.Builder out)
    {
        allocations.quotas().stats(out);
    }

    @Override
    public String status()
    {
        return exports.size() + " buffer(s) exported";
    }

    /** Revokes live exports the new policy forbids; importers see remove REASON=policy. */
    @Override
    public void onPolicyChanged(final Policy policy)
    {
        for (final Export e : new ArrayList<>(exports.values()))
        {
            if (e.peerLost)
            {
                continue;
            }
            final Policy.Decision d = policy.checkShare(ctx.backend().localVm(), e.target,
                e.metadata.getContentType(), e.access == Access.ACCESS_READ_ONLY);
            if (!d.allowed())
            {
                LOG.info("revoking {}: {}", BufferIds.format(e.id), d.denial());
                publishChange(e, ExportChange.REVOKED);
                unexport(e, UnexportReason.POLICY);
            }
        }
    }

    private void unshareQuietly(final Allocation a, final ShareRef ref)
    {
        try
        {
            ctx.backend().unshare(a.buffer, ref);
        }
        catch (final BackendException ex)
        {
            LOG.warn("unshare of {} failed: {}", a.buffer, ex.getMessage());
        }
    }

    private Export ownedExport(final ClientConnection client, final BufferId id) throws ApiException
    {
        final Export e = exports.get(id);
        if (e == null || e.allocation.owner != client)
        {
            throw new ApiException(ErrorCode.ENOENT, "no such export");
        }
        return e;
    }

    // ---- peers ----

    @Override
    public void onPeerUp(final PeerInfo peer)
    {
    }

    @Override
    public void onPeerDown(final int vm, final long sessionId, final String reason)
    {
        ctx.messenger().forget(vm);
        ctx.fenceWaits().failPeer(vm, "VM " + vm + " is gone (" + reason + ")");
        int lost = 0;
        for (final Export e : exports.values())
        {
            if (e.target == vm && !e.peerLost)
            {
                // The export stays until its owner unexports it, so the owner's view stays consistent;
                // waits on the release timeline, spinning ones included, complete with EPEERLOST.
                e.peerLost = true;
                e.importedByPeer = false;
                e.state(ExportState.PEER_LOST);
                e.release.poison(ErrorCode.EPEERLOST);
                ctx.wakeLocalWaiters(e.release);
                publishChange(e, ExportChange.PEER_LOST);
                lost++;
            }
        }
        final List<Allocation> touched = new ArrayList<>();
        awaitingRelease.values().removeIf(e ->
        {
            if (e.target == vm)
            {
                freeFence(e);
                touched.add(e.allocation);
                return true;
            }
            return false;
        });
        touched.forEach(this::reclaimIfUnused);
        if (lost > 0 || !touched.isEmpty())
        {
            LOG.info("VM {} {}: {} exports lost, {} awaiting release dropped", vm, reason, lost, touched.size());
        }
    }

    @Override
    public void onPeerMessage(final int vm, final PeerMessage message)
    {
        switch (message.getKindCase())
        {
            case IMPORT -> {
                final Export e = exports.get(message.getImport().getId());
                if (e != null && e.target == vm && !e.importedByPeer)
                {
                    e.importedByPeer = true;
                    publishChange(e, ExportChange.IMPORTED);
                }
            }
            case RELEASE -> {
                final BufferId id = message.getRelease().getId();
                final Export live = exports.get(id);
                if (live != null && live.target == vm && live.importedByPeer)
                {
                    live.importedByPeer = false;
                    publishChange(live, ExportChange.RELEASED);
                }
                final Export pending = awaitingRelease.get(id);
                if (pending != null && pending.target == vm && message.getRelease().getDropped())
                {
                    awaitingRelease.remove(id);
                    freeFence(pending);
                    reclaimIfUnused(pending.allocation);
                }
            }
            case REJECT -> {
                final Export e = exports.get(message.getReject().getId());
                if (e != null && e.target == vm)
                {
                    LOG.warn("VM {} refused export {}: {} {}", vm, BufferIds.format(e.id),
                        message.getReject().getError(), message.getReject().getMessage());
                    e.rejected(message.getReject().getError() + " " + message.getReject().getMessage());
                    publishChange(e, ExportChange.REJECTED);
                }
            }
            default -> {
            }
        }
    }

    @Override
    public void onDisconnected(final ClientConnection client)
    {
        allocations.ownedBy(client).forEach(this::free);
    }

    @Override
    public void list(final ClientConnection client, final BufferList.Builder out)
    {
        for (final Allocation a : allocations.all())
        {
            if (a.owner != client)
            {
                continue;
            }
            out.addAllocations(Allocated.newBuilder().setHandle(a.handle)
                .setOffset(a.buffer.offset()).setLength(a.buffer.length()));
            for (final Export e : a.exportsByTarget.values())
            {
                out.addBuffers(e.info());
            }
        }
    }

    @Override
    public void replay(final ClientConnection client, final long subscriptionId)
    {
        // Sink events describe state changes of the caller's exports; there is nothing to replay.
    }

    /**
     * Tells the producer that owns an export what the importer did with it: a {@code change} event with
     * STATE=imported, released or rejected (ABI.md "Events", sink side).
     */
    private void publishChange(final Export e, final ExportChange change)
    {
        if (!ctx.events().hasSubscriptions(e.allocation.owner))
        {
            ctx.events().publishUnseen(); // the owner cannot see it: skip building it (one per import/release)
            return;
        }
        ctx.events().publishTo(e.allocation.owner, BufferEvents.builder(ctx.events(), BufferEvents.CHANGE, e.id,
            e.target, e.allocation.buffer.length(), e.access, e.metadata, e.revision, null)
            .put("STATE", change.text()).build());
    }

    @Override
    public Optional<BufferInfo> query(final ClientConnection client, final BufferId id)
    {
        final Export e = exports.get(id);
        return e == null || e.allocation.owner != client ? Optional.empty() : Optional.of(e.info());
    }
}
