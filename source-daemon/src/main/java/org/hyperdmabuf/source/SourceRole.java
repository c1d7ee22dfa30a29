package org.hyperdmabuf.source;

import org.hyperdmabuf.abi.BufferIds;
import org.hyperdmabuf.abi.UEvent;
import org.hyperdmabuf.abi.v1.Access;
import org.hyperdmabuf.abi.v1.BufferId;
import org.hyperdmabuf.abi.v1.BufferInfo;
import org.hyperdmabuf.abi.v1.BufferList;
import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.abi.v1.ExportAnnounce;
import org.hyperdmabuf.abi.v1.ExportReject;
import org.hyperdmabuf.abi.v1.ImportNotice;
import org.hyperdmabuf.abi.v1.Imported;
import org.hyperdmabuf.abi.v1.PeerMessage;
import org.hyperdmabuf.abi.v1.ReleaseNotice;
import org.hyperdmabuf.abi.v1.Request;
import org.hyperdmabuf.abi.v1.Response;
import org.hyperdmabuf.daemon.ApiException;
import org.hyperdmabuf.daemon.BufferEvents;
import org.hyperdmabuf.daemon.ClientConnection;
import org.hyperdmabuf.daemon.DaemonContext;
import org.hyperdmabuf.daemon.DmaBufHandout;
import org.hyperdmabuf.daemon.ExportTrace;
import org.hyperdmabuf.daemon.ExportTag;
import org.hyperdmabuf.daemon.policy.Policy;
import org.hyperdmabuf.daemon.ExportValidation;
import org.hyperdmabuf.daemon.FenceRequests;
import org.hyperdmabuf.daemon.Role;
import org.hyperdmabuf.daemon.RoleKind;
import org.hyperdmabuf.hv.nativeio.Native;
import org.hyperdmabuf.hv.spi.BackendException;
import org.hyperdmabuf.hv.spi.ClientMapping;
import org.hyperdmabuf.hv.spi.PeerInfo;
import org.hyperdmabuf.hv.spi.ShareRef;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * The source role (consumer side): receives exports from other VMs, validates them against the
 * transport-authenticated sender, emits uevents to subscribers and hands out mappings on IMPORT.
 * A buffer that is unexported or whose exporter dies is announced with {@code remove}; clients keep their
 * mappings until they RELEASE, and the exporter keeps the memory until it hears that release.
 */
public final class SourceRole implements Role
{
    private static final Logger LOG = LoggerFactory.getLogger(SourceRole.class);

    private final DaemonContext ctx;
    private final Map<BufferId, RemoteBuffer> buffers = new LinkedHashMap<>();
    private final Set<Integer> forgeryReported = new HashSet<>();
    /** Refusals logged at INFO per peer session; a peer sending junk in a loop must not flood the log. */
    private final Map<Integer, Integer> refusalsLogged = new HashMap<>();
    static final int REFUSALS_LOGGED_PER_SESSION = 10;

    public SourceRole(final DaemonContext ctx)
    {
        this.ctx = ctx;
    }

    @Override
    public RoleKind kind()
    {
        return RoleKind.SOURCE;
    }

    @Override
    public void onRequest(final ClientConnection client, final Request request) throws ApiException
    {
        final long rid = request.getRequestId();
        switch (request.getOpCase())
        {
            case IMPORT -> importBuffer(client, rid, request.getImport().getId(), request.getImport().getDmaBuf());
            case RELEASE -> {
                release(client, request.getRelease().getId());
                client.reply(rid, Response.newBuilder());
            }
            case FENCE_SIGNAL, FENCE_DOORBELL, FENCE_WAKE -> {
                final RemoteBuffer r = heldImport(client, FenceRequests.bufferOf(request));
                // A read-only or dma-buf import cannot store the bit around its sleeps: the daemon holds it.
                r.fences.serve(ctx, client, request, r.exporterLost,
                    r.access == Access.ACCESS_READ_ONLY || r.dmaBufClients.contains(client));
            }
            case FENCE_WAIT -> {
                final RemoteBuffer r = buffers.get(request.getFenceWait().getId());
                if (r == null || r.removed)
                {
                    throw new ApiException(r != null && r.exporterLost ? ErrorCode.EPEERLOST : ErrorCode.ENOENT,
                        "no such buffer");
                }
                r.fences.serve(ctx, client, request, r.exporterLost, false);
            }
            default -> throw new ApiException(ErrorCode.ENOTSUP, request.getOpCase() + " not a source operation");
        }
    }

    @Override
    public void replay(final ClientConnection client, final long subscriptionId)
    {
        for (final RemoteBuffer r : buffers.values())
        {
            if (!r.removed)
            {
                ctx.events().deliverTo(subscriptionId, event(BufferEvents.ADD, r, null));
            }
        }
    }

    private void importBuffer(final ClientConnection client, final long rid, final BufferId id, final boolean dmaBuf)
        throws ApiException
    {
        final RemoteBuffer r = buffers.get(id);
        if (r == null || r.removed)
        {
            throw new ApiException(ErrorCode.ENOENT, "no such buffer");
        }
        if (r.fenceWindow != null && !ExportTag.names(r.fenceWindow, id))
        {
            // The exporter has freed this export's fence slot (and maybe its pages) without our hearing of it.
            throw new ApiException(ErrorCode.ENOENT, "buffer " + BufferIds.format(id) + " is no longer exported by VM " +
                r.exporter);
        }
        final ClientMapping mapping = dmaBuf ? dmaBufOf(r) : regionMapping(r);
        final boolean first = r.importCount() == 0;
        if (first)
        {
            try
            {
                ctx.messenger().send(r.exporter, PeerMessage.newBuilder().setImport(ImportNotice.newBuilder()
                    .setId(id)).build());
            }
            catch (final ApiException e)
            {
                Native.closeQuietly(mapping.fd());
                throw e;
            }
        }
        r.imports.merge(client, 1, Integer::sum);
        if (dmaBuf)
        {
            r.dmaBufClients.add(client);
        }
        client.replyWithFd(rid, Response.newBuilder().setImported(Imported.newBuilder().setId(id)
            .setOffset(mapping.offset()).setLength(mapping.length()).setAccess(r.access).setMetadata(r.metadata)
            .setFenceOffset(ctx.fences().fenceRegionOffset(r.fenceSlot)).setDmaBuf(dmaBuf)), mapping.fd());
    }

    private ClientMapping regionMapping(final RemoteBuffer r) throws ApiException
    {
        try
        {
            return ctx.backend().mapImport(r.exporter, r.ref, r.access == Access.ACCESS_READ_ONLY);
        }
        catch (final BackendException e)
        {
            throw new ApiException(e.code(), e.getMessage());
        }
    }

    /** A dma-buf of exactly the buffer (ABI.md "Dma-buf imports"), after the same check as a region mapping. */
    private ClientMapping dmaBufOf(final RemoteBuffer r) throws ApiException
    {
        final boolean readOnly = r.access == Access.ACCESS_READ_ONLY;
        try
        {
            ctx.backend().checkImport(r.exporter, r.ref, readOnly);
        }
        catch (final BackendException e)
        {
            throw new ApiException(e.code(), e.getMessage());
        }
        final int fd = DmaBufHandout.open(ctx.dmaBufs(), r.ref.offset(), r.ref.length(), readOnly,
            DmaBufHandout.name(r.id));
        return new ClientMapping(fd, 0, r.ref.length(), false);
    }

    private void release(final ClientConnection client, final BufferId id) throws ApiException
    {
        final RemoteBuffer r = buffers.get(id);
        final Integer held = r == null ? null : r.imports.get(client);
        if (held == null)
        {
            throw new ApiException(ErrorCode.ENOENT, "this client holds no import of that buffer");
        }
        if (held == 1)
        {
            r.imports.remove(client);
            r.dmaBufClients.remove(client);
            ctx.fenceWakes().drop(client, r.id);
        }
        else
        {
            r.imports.put(client, held - 1);
        }
        afterRelease(r);
    }

    /** After the last local import of {@code r} is gone: tell the exporter; forget a removed buffer. */
    private void afterRelease(final RemoteBuffer r)
    {
        if (r.importCount() > 0)
        {
            return;
        }
        if (r.removed)
        {
            buffers.remove(r.id);
            ctx.fenceWakes().dropKey(r.id);
            // No import, wait or signal can reach its timelines any more: the fence mapping may go.
            ctx.fences().releaseFenceWindow(r.exporter, r.fenceWindow);
        }
        if (!r.exporterLost)
        {
            sendRelease(r.exporter, r.id, r.removed);
        }
    }

    /** The buffer {@code client} holds an import of; ENOENT (as for any unknown id) if it holds none. */
    private RemoteBuffer heldImport(final ClientConnection client, final BufferId id) throws ApiException
    {
        final RemoteBuffer r = buffers.get(id);
        if (r == null || !r.imports.containsKey(client))
        {
            throw new ApiException(ErrorCode.ENOENT, "this client holds no import of that buffer");
        }
        return r;
    }

    private void sendRelease(final int vm, final BufferId id, final boolean dropped)
    {
        try
        {
            ctx.messenger().send(vm, PeerMessage.newBuilder().setRelease(ReleaseNotice.newBuilder().setId(id)
                .setDropped(dropped)).build());
        }
        catch (final ApiException e)
        {
            LOG.debug("release notice for {} not sent: {}", BufferIds.format(id), e.getMessage());
        }
    }

    // ---- messages from other VMs ----

    @Override
    public void onPeerMessage(final int vm, final PeerMessage message)
    {
        switch (message.getKindCase())
        {
            case EXPORT -> onExport(vm, message.getExport());
            case UNEXPORT -> {
                final BufferId id = message.getUnexport().getId();
                final RemoteBuffer r = buffers.get(id);
                if (r == null || r.exporter != vm)
                {
                    // Never stored (rejected, or announced before we started): nothing pins it here.
                    sendRelease(vm, id, true);
                }
                else if (!r.removed)
                {
                    final String reason = message.getUnexport().getReason();
                    remove(r, reason.matches("[a-z-]{1,32}") ? reason : "unexported");
                }
            }
            default -> {
            }
        }
    }

    private void onExport(final int vm, final ExportAnnounce a)
    {
        ExportTrace.mark(ExportTrace.Point.SOURCE_ANNOUNCE, a.getMetadata());
        final BufferId id = a.getId();
        if (id.getExporterVm() != vm)
        {
            // The id names another exporter than the VM whose ring carried it: forged. Never trust the id.
            if (forgeryReported.add(vm))
            {
                LOG.warn("VM {} announced buffer {} naming exporter VM {}; refused", vm, BufferIds.format(id),
                    id.getExporterVm());
            }
            reject(vm, id, ErrorCode.EACCES, "exporter_vm in the id is not the sending VM");
            return;
        }
        final RemoteBuffer existing = buffers.get(id);
        if (existing != null)
        {
            if (existing.removed || a.getRevision() <= existing.revision)
            {
                return; // stale or duplicate announcement
            }
            if (a.getOffset() != existing.ref.offset() || a.getLength() != existing.ref.length() ||
                a.getAccess() != existing.access || a.getFenceSlot() != existing.fenceSlot)
            {
                reject(vm, id, ErrorCode.EINVAL, "re-export may only change metadata");
                return;
            }
        }
        try
        {
            ExportValidation.check(ExportValidation.Side.IMPORTER, ctx.policy().get(), vm, ctx.backend().localVm(),
                a.getLength(), a.getAccess(), a.getAccessValue(), a.getMetadata());
            if (!ctx.fences().validateFence(vm, a.getFenceSlot()))
            {
                throw new ApiException(ErrorCode.EINVAL, "fence slot " + a.getFenceSlot() + " is not the sender's");
            }
            ctx.backend().checkImport(vm, new ShareRef(a.getOffset(), a.getLength()),
                a.getAccess() == Access.ACCESS_READ_ONLY);
        }
        catch (final ApiException e)
        {
            reject(vm, id, e.code(), e.getMessage());
            return;
        }
        catch (final BackendException e)
        {
            reject(vm, id, e.code(), e.getMessage());
            return;
        }
        ExportTrace.mark(ExportTrace.Point.SOURCE_CHECKED, a.getMetadata());
        if (existing != null)
        {
            existing.metadata = a.getMetadata();
            existing.revision = a.getRevision();
            ctx.events().publish(event(BufferEvents.CHANGE, existing, null));
            return;
        }
        final RemoteBuffer r = new RemoteBuffer(id, vm, new ShareRef(a.getOffset(), a.getLength()), a.getAccess(),
            a.getMetadata(), Math.max(1, a.getRevision()), a.getFenceSlot(), ctx.fences().fenceWindow(vm, a.getFenceSlot()));
        buffers.put(id, r);
        final UEvent ev = event(BufferEvents.ADD, r, null);
        ExportTrace.mark(ExportTrace.Point.SOURCE_EVENT_BUILT, a.getMetadata());
        ctx.events().publish(ev);
        ExportTrace.mark(ExportTrace.Point.SOURCE_PUBLISHED, a.getMetadata());
    }

    private void reject(final int vm, final BufferId id, final ErrorCode code, final String message)
    {
        final int logged = refusalsLogged.merge(vm, 1, Integer::sum);
        if (logged <= REFUSALS_LOGGED_PER_SESSION)
        {
            LOG.info("refused export {} from VM {}: {} {}{}", BufferIds.format(id), vm, code, message,
                logged == REFUSALS_LOGGED_PER_SESSION ? " (further refusals of this VM session are logged at DEBUG)" :
                    "");
        }
        else
        {
            LOG.debug("refused export {} from VM {}: {} {}", BufferIds.format(id), vm, code, message);
        }
        try
        {
            ctx.messenger().send(vm, PeerMessage.newBuilder().setReject(ExportReject.newBuilder().setId(id)
                .setError(code).setMessage(message)).build());
        }
        catch (final ApiException e)
        {
            LOG.debug("reject not sent: {}", e.getMessage());
        }
    }

    private void remove(final RemoteBuffer r, final String reason)
    {
        r.removed = true;
        ctx.fenceWaits().failKey(r.id, r.exporterLost ? ErrorCode.EPEERLOST : ErrorCode.ENOENT,
            "the buffer was removed (" + reason + ")");
        // Clients polling their wake vector see the closed timeline now (the exporter rang it too, unless it died).
        ctx.wakeLocalWaiters(r.acquire);
        // Wake vectors are few: a lease ends with its export, even while clients still hold their imports.
        ctx.fenceWakes().dropKey(r.id);
        ctx.events().publish(event(BufferEvents.REMOVE, r, reason));
        afterRelease(r);
    }

    private UEvent event(final String action, final RemoteBuffer r, final String reason)
    {
        return BufferEvents.builder(ctx.events(), action, r.id, ctx.backend().localVm(), r.ref.length(), r.access,
            r.metadata, r.revision, reason).build();
    }

    /** Drops buffers the new policy no longer accepts: remove REASON=policy, and the exporter is told. */
    @Override
    public void onPolicyChanged(final Policy policy)
    {
        for (final RemoteBuffer r : new ArrayList<>(buffers.values()))
        {
            if (r.removed)
            {
                continue;
            }
            final Policy.Decision d = policy.checkShare(r.exporter, ctx.backend().localVm(),
                r.metadata.getContentType(), r.access == Access.ACCESS_READ_ONLY);
            if (!d.allowed())
            {
                reject(r.exporter, r.id, ErrorCode.EACCES, d.denial());
                remove(r, "policy");
            }
        }
    }

    @Override
    public void onPeerUp(final PeerInfo peer)
    {
        forgeryReported.remove(peer.vm());
        refusalsLogged.remove(peer.vm());
    }

    @Override
    public void onPeerDown(final int vm, final long sessionId, final String reason)
    {
        ctx.messenger().forget(vm);
        ctx.fenceWaits().failPeer(vm, "exporter VM " + vm + " is gone (" + reason + ")");
        for (final RemoteBuffer r : new ArrayList<>(buffers.values()))
        {
            if (r.exporter == vm && !r.removed)
            {
                r.exporterLost = true;
                // The exporter can no longer signal: complete every acquire wait, spinning ones included.
                r.acquire.poison(ErrorCode.EPEERLOST);
                remove(r, "peer-lost");
            }
        }
    }

    @Override
    public void onDisconnected(final ClientConnection client)
    {
        for (final RemoteBuffer r : new ArrayList<>(buffers.values()))
        {
            r.dmaBufClients.remove(client);
            if (r.imports.remove(client) != null)
            {
                afterRelease(r);
            }
        }
    }

    @Override
    public String status()
    {
        return buffers.size() + " buffer(s) shared with this VM";
    }

    @Override
    public void list(final ClientConnection client, final BufferList.Builder out)
    {
        for (final RemoteBuffer r : buffers.values())
        {
            out.addBuffers(info(r));
        }
    }

    @Override
    public Optional<BufferInfo> query(final ClientConnection client, final BufferId id)
    {
        final RemoteBuffer r = buffers.get(id);
        return r == null ? Optional.empty() : Optional.of(info(r));
    }

    private BufferInfo info(final RemoteBuffer r)
    {
        return r.info(ctx.backend().localVm());
    }
}
