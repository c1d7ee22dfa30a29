package org.hyperdmabuf.sink;

import org.hyperdmabuf.abi.BufferIds;
import org.hyperdmabuf.abi.v1.Access;
import org.hyperdmabuf.abi.v1.Allocated;
import org.hyperdmabuf.abi.v1.BufferId;
import org.hyperdmabuf.abi.v1.BufferInfo;
import org.hyperdmabuf.abi.v1.BufferList;
import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.abi.v1.ExportAnnounce;
import org.hyperdmabuf.abi.v1.Exported;
import org.hyperdmabuf.abi.v1.FenceSignal;
import org.hyperdmabuf.abi.v1.FenceWait;
import org.hyperdmabuf.abi.v1.StatsResult;
import org.hyperdmabuf.abi.v1.Timeline;
import org.hyperdmabuf.abi.v1.Usage;
import org.hyperdmabuf.daemon.policy.Policy;
import org.hyperdmabuf.hv.spi.AllocIntent;
import org.hyperdmabuf.daemon.policy.Quota;
import org.hyperdmabuf.abi.v1.PeerMessage;
import org.hyperdmabuf.abi.v1.Request;
import org.hyperdmabuf.abi.v1.Response;
import org.hyperdmabuf.abi.v1.UnexportNotice;
import org.hyperdmabuf.daemon.ApiException;
import org.hyperdmabuf.daemon.BufferEvents;
import org.hyperdmabuf.daemon.ClientConnection;
import org.hyperdmabuf.daemon.DaemonContext;
import org.hyperdmabuf.daemon.ExportTrace;
import org.hyperdmabuf.daemon.ExportTag;
import org.hyperdmabuf.daemon.FenceTimeline;
import org.hyperdmabuf.daemon.MetadataValidator;
import org.hyperdmabuf.daemon.Role;
import org.hyperdmabuf.hv.shm.PeerSlotDescriptor;
import org.hyperdmabuf.hv.spi.BackendBuffer;
import org.hyperdmabuf.hv.spi.BackendException;
import org.hyperdmabuf.hv.spi.ClientMapping;
import org.hyperdmabuf.hv.spi.FenceRef;
import org.hyperdmabuf.hv.shm.MemoryWindow;
import org.hyperdmabuf.hv.spi.PeerInfo;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.netty.util.concurrent.ScheduledFuture;

import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * The sink role (producer side): allocates shareable memory for local producers, exports it to other VMs
 * and tracks what the importers hold. Memory is reclaimed only once no importer VM holds an import of it
 * (a ReleaseNotice came, or the importer VM is gone), so a consumer never reads reused pages.
 */
public final class SinkRole implements Role
{
    private static final Logger LOG = LoggerFactory.getLogger(SinkRole.class);
    private static final Set<Request.OpCase> OPS = EnumSet.of(Request.OpCase.ALLOC, Request.OpCase.EXPORT,
        Request.OpCase.UNEXPORT, Request.OpCase.FREE, Request.OpCase.FENCE_SIGNAL, Request.OpCase.FENCE_WAIT,
        Request.OpCase.FENCE_DOORBELL, Request.OpCase.FENCE_WAKE);

    /** Longest reuse window of a delayed unexport. */
    public static final long MAX_UNEXPORT_DELAY_MS = 600_000;

    private final DaemonContext ctx;
    /**
     * Export nonces (64 unpredictable bits each, ABI.md "Buffer ids"). DRBG (NIST SP 800-90A) is seeded once
     * from the OS; the default NativePRNG read /dev/urandom on every export, a syscall on the EXPORT path.
     */
    private final SecureRandom random = exportNonces();
    private final Map<Long, Allocation> allocations = new HashMap<>();
    private final Map<BufferId, Export> exports = new HashMap<>();
    /** Unexported (or freed) exports whose importer VM still holds an import; they pin their allocation. */
    private final Map<BufferId, Export> awaitingRelease = new HashMap<>();
    private final long[] vmUsage = new long[2]; // bytes, buffers pinned by this VM's sink
    private final Map<Integer, long[]> uidUsage = new HashMap<>();
    private long nextHandle = 1;
    private int exportCounter;

    private static SecureRandom exportNonces()
    {
        try
        {
            return SecureRandom.getInstance("DRBG");
        }
        catch (final java.security.NoSuchAlgorithmException e)
        {
            return new SecureRandom();
        }
    }

    public SinkRole(final DaemonContext ctx)
    {
        this.ctx = ctx;
    }

    private static final class Allocation
    {
        final long handle;
        final ClientConnection owner;
        final BackendBuffer buffer;
        final Map<Integer, Export> exportsByTarget = new HashMap<>();
        boolean freed;
        boolean reclaimed;

        Allocation(final long handle, final ClientConnection owner, final BackendBuffer buffer)
        {
            this.handle = handle;
            this.owner = owner;
            this.buffer = buffer;
        }

        int uid()
        {
            return owner.uid();
        }
    }

    private static final class Export
    {
        final BufferId id;
        final Allocation allocation;
        final int target;
        final org.hyperdmabuf.hv.spi.ShareRef ref;
        final Access access;
        final FenceRef fence;
        final MemoryWindow fenceSlot;
        final FenceTimeline acquire;
        final FenceTimeline release;
        org.hyperdmabuf.abi.v1.Metadata metadata;
        int revision = 1;
        boolean importedByPeer;
        boolean peerLost;
        String state = "exported";
        ScheduledFuture<?> pendingUnexport;

        Export(final BufferId id, final Allocation allocation, final int target,
            final org.hyperdmabuf.hv.spi.ShareRef ref, final Access access, final org.hyperdmabuf.abi.v1.Metadata metadata,
            final FenceRef fence, final MemoryWindow fenceSlot)
        {
            this.id = id;
            this.allocation = allocation;
            this.target = target;
            this.ref = ref;
            this.access = access;
            this.metadata = metadata;
            this.fence = fence;
            this.fenceSlot = fenceSlot;
            this.acquire = FenceTimeline.of(fenceSlot, Timeline.TIMELINE_ACQUIRE);
            this.release = FenceTimeline.of(fenceSlot, Timeline.TIMELINE_RELEASE);
        }
    }

    @Override
    public String name()
    {
        return "sink";
    }

    @Override
    public int roleBit()
    {
        return PeerSlotDescriptor.ROLE_SINK;
    }

    @Override
    public Set<Request.OpCase> operations()
    {
        return OPS;
    }

    @Override
    public void onRequest(final ClientConnection client, final Request request) throws ApiException
    {
        final long rid = request.getRequestId();
        switch (request.getOpCase())
        {
            case ALLOC -> alloc(client, rid, request.getAlloc());
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
                    unexport(e, "unexported");
                }
                else
                {
                    scheduleUnexport(e, delay);
                }
                client.reply(rid, Response.newBuilder());
            }
            case FREE -> {
                free(owned(client, request.getFree().getHandle()));
                client.reply(rid, Response.newBuilder());
            }
            case FENCE_SIGNAL -> {
                final FenceSignal f = request.getFenceSignal();
                final Export e = ownedExport(client, f.getId());
                if (f.getTimeline() != Timeline.TIMELINE_ACQUIRE)
                {
                    throw new ApiException(ErrorCode.EINVAL, "the exporter signals the acquire timeline; release " +
                        "is signalled by the importer");
                }
                checkTargetAlive(e);
                e.acquire.signal(f.getValue(), f.getError());
                ctx.ringWaiters(e.target, e.acquire);
                client.reply(rid, Response.newBuilder());
            }
            case FENCE_WAIT -> {
                final FenceWait f = request.getFenceWait();
                final Export e = ownedExport(client, f.getId());
                if (f.getTimeline() != Timeline.TIMELINE_RELEASE)
                {
                    throw new ApiException(ErrorCode.EINVAL, "the exporter waits on the release timeline");
                }
                ctx.fenceWaits().add(client, rid, e.release, f.getValue(), Integer.toUnsignedLong(f.getTimeoutMs()),
                    e.target, e.id);
            }
            case FENCE_DOORBELL -> {
                final Export e = ownedExport(client, request.getFenceDoorbell().getId());
                checkTargetAlive(e);
                client.replyWithFd(rid, Response.newBuilder(), ctx.fenceDoorbell(e.target,
                    request.getFenceDoorbell().getVector()));
            }
            case FENCE_WAKE -> {
                final Export e = ownedExport(client, request.getFenceWake().getId());
                checkTargetAlive(e);
                // The owner maps the slot writable: it sets its bit around each sleep itself.
                ctx.fenceWakes().lease(client, rid, e.id, e.release, false);
            }
            default -> throw new ApiException(ErrorCode.ENOTSUP, request.getOpCase() + " not a sink operation");
        }
    }

    private static void checkTargetAlive(final Export e) throws ApiException
    {
        if (e.peerLost)
        {
            throw new ApiException(ErrorCode.EPEERLOST, "VM " + e.target + " is gone");
        }
    }

        private void alloc(final ClientConnection client, final long rid, final org.hyperdmabuf.abi.v1.Alloc req)
        throws ApiException
    {
        final long size = req.getSize();
        final AllocIntent intent = allocIntent(req);
        final long max = ctx.backend().capabilities().maxBufferSize();
        if (size <= 0 || size > max) // a uint64 of 2^63 or more reads negative: reported unsigned
        {
            throw new ApiException(size > max && size <= ctx.backend().totalBytes() ? ErrorCode.EINVAL :
                size <= 0 ? ErrorCode.EINVAL : ErrorCode.ENOSPC,
                "ALLOC size " + Long.toUnsignedString(size) + " outside [1, " + max + "] (max_buffer_size in caps)");
        }
        checkQuotas(client, size);
        final BackendBuffer buffer;
        final ClientMapping mapping;
        try
        {
            buffer = ctx.backend().allocate(size, intent);
        }
        catch (final BackendException e)
        {
            throw new ApiException(e.code(), e.getMessage());
        }
        try
        {
            mapping = ctx.backend().mapAllocation(buffer);
        }
        catch (final BackendException e)
        {
            freeQuietly(buffer);
            throw new ApiException(e.code(), e.getMessage());
        }
        final Allocation a = new Allocation(nextHandle++, client, buffer);
        allocations.put(a.handle, a);
        account(a, +1);
        client.replyWithFd(rid, Response.newBuilder().setAllocated(Allocated.newBuilder().setHandle(a.handle)
            .setOffset(mapping.offset()).setLength(mapping.length())), mapping.fd());
    }

    /** The export target and access an ALLOC declares (ABI.md "ALLOC"), checked against the policy now: EACCES. */
    private AllocIntent allocIntent(final org.hyperdmabuf.abi.v1.Alloc req) throws ApiException
    {
        if (req.hasAccess() && req.getAccess() == Access.UNRECOGNIZED)
        {
            throw new ApiException(ErrorCode.EINVAL, "access=" + req.getAccessValue() + " is not a known Access value");
        }
        final AllocIntent.Access access = !req.hasAccess() ? AllocIntent.Access.UNDECLARED :
            req.getAccess() == Access.ACCESS_READ_ONLY ? AllocIntent.Access.READ_ONLY : AllocIntent.Access.READ_WRITE;
        if (!req.hasTargetVm())
        {
            return new AllocIntent(AllocIntent.ANY_VM, access);
        }
        final int target = req.getTargetVm();
        if (target == ctx.backend().localVm() || target < 0)
        {
            throw new ApiException(ErrorCode.EINVAL, "declared target VM " + Integer.toUnsignedString(target) +
                (target < 0 ? " is out of range" : " is this VM"));
        }
        final Policy.Decision decision = ctx.policy().get().checkTarget(ctx.backend().localVm(), target,
            access != AllocIntent.Access.READ_WRITE);
        if (!decision.allowed())
        {
            throw new ApiException(ErrorCode.EACCES, decision.denial());
        }
        return new AllocIntent(target, access);
    }

    private void export(final ClientConnection client, final long rid, final org.hyperdmabuf.abi.v1.Export req)
        throws ApiException
    {
        ExportTrace.mark(ExportTrace.Point.SINK_REQUEST, req.getMetadata());
        final Allocation a = owned(client, req.getHandle());
        if (req.getAccess() == Access.UNRECOGNIZED)
        {
            throw new ApiException(ErrorCode.EINVAL, "access=" + req.getAccessValue() + " is not a known Access value");
        }
        MetadataValidator.validate(req.getMetadata(), a.buffer.length());
        final Policy policy = ctx.policy().get();
        if (req.getMetadata().getSerializedSize() > policy.maxMetadataBytes())
        {
            throw new ApiException(ErrorCode.EINVAL, "metadata is " + req.getMetadata().getSerializedSize() +
                " bytes encoded; the policy allows " + policy.maxMetadataBytes());
        }
        final int target = req.getTargetVm();
        if (target == ctx.backend().localVm())
        {
            throw new ApiException(ErrorCode.EINVAL, "target VM " + target + " is this VM");
        }
        final Policy.Decision decision = policy.checkShare(ctx.backend().localVm(), target,
            req.getMetadata().getContentType(), req.getAccess() == Access.ACCESS_READ_ONLY);
        if (!decision.allowed())
        {
            throw new ApiException(ErrorCode.EACCES, decision.denial());
        }
        final Export existing = a.exportsByTarget.get(target);
        if (existing != null)
        {
            if (existing.access != req.getAccess())
            {
                throw new ApiException(ErrorCode.EINVAL, "access of an export cannot change on re-export; " +
                    "unexport it first");
            }
            if (existing.peerLost)
            {
                throw new ApiException(ErrorCode.EPEERLOST, "VM " + target + " is gone; unexport and export again");
            }
            // Send first, change state after: a failed re-export leaves the export exactly as it was.
            ctx.messenger().send(target, announce(existing, req.getMetadata(), existing.revision + 1));
            cancelPendingUnexport(existing);
            existing.metadata = req.getMetadata();
            existing.revision++;
            client.reply(rid, Response.newBuilder().setExported(Exported.newBuilder().setId(existing.id)
                .setReexport(true).setFenceOffset(existing.fence.regionOffset())));
            return;
        }
        final PeerInfo peer = ctx.backend().peers().stream().filter(p -> p.vm() == target).findFirst()
            .orElseThrow(() -> new ApiException(ErrorCode.ENOPEER, "VM " + target + " is not reachable"));
        if (!peer.isSource())
        {
            throw new ApiException(ErrorCode.ENOPEER, "VM " + target + " runs no source daemon");
        }
        final org.hyperdmabuf.hv.spi.ShareRef ref;
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
            fence = ctx.backend().allocateFence(a.buffer);
        }
        catch (final BackendException ex)
        {
            unshareQuietly(a, ref);
            throw new ApiException(ex.code(), ex.getMessage());
        }
        final BufferId id = BufferId.newBuilder().setExporterVm(ctx.backend().localVm())
            .setExportNumber(++exportCounter).setNonce(random.nextLong()).build();
        final Export e = new Export(id, a, target, ref, req.getAccess(), req.getMetadata(), fence,
            ctx.backend().fenceWindow(fence.index()));
        ExportTrace.mark(ExportTrace.Point.SINK_CHECKED, req.getMetadata());
        ExportTag.write(e.fenceSlot, id);
        try
        {
            ctx.messenger().send(target, announce(e, e.metadata, e.revision));
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
            .setFenceOffset(fence.regionOffset())));
        ExportTrace.mark(ExportTrace.Point.SINK_REPLIED, req.getMetadata());
    }

    private static PeerMessage announce(final Export e, final org.hyperdmabuf.abi.v1.Metadata metadata,
        final int revision)
    {
        return PeerMessage.newBuilder().setExport(ExportAnnounce.newBuilder().setId(e.id).setOffset(e.ref.offset())
            .setLength(e.ref.length()).setAccess(e.access).setMetadata(metadata).setRevision(revision)
            .setFenceSlot(e.fence.index())).build();
    }

    /** Delayed unexport: the export stays usable until the window ends or a re-export reuses it. */
    private void scheduleUnexport(final Export e, final long delayMillis)
    {
        cancelPendingUnexport(e);
        e.state = "unexport-pending";
        final ScheduledFuture<?>[] self = new ScheduledFuture<?>[1];
        self[0] = ctx.loop().schedule(() ->
        {
            if (exports.get(e.id) == e && e.pendingUnexport == self[0])
            {
                unexport(e, "unexported");
            }
        }, delayMillis, TimeUnit.MILLISECONDS);
        e.pendingUnexport = self[0];
    }

    private static void cancelPendingUnexport(final Export e)
    {
        if (e.pendingUnexport != null)
        {
            e.pendingUnexport.cancel(false);
            e.pendingUnexport = null;
            e.state = e.peerLost ? "peer-lost" : "exported";
        }
    }

    private void unexport(final Export e, final String reason)
    {
        if (e.pendingUnexport != null)
        {
            e.pendingUnexport.cancel(false);
            e.pendingUnexport = null;
        }
        exports.remove(e.id);
        e.allocation.exportsByTarget.remove(e.target);
        e.state = "unexport-pending";
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
                    .setId(e.id).setReason(reason)).build());
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
            ctx.backend().freeFence(e.fence);
        }
        catch (final BackendException ex)
        {
            LOG.error("freeing fence slot {} of {} failed: {}", e.fence.index(), BufferIds.format(e.id),
                ex.getMessage());
        }
    }

    private void free(final Allocation a)
    {
        a.freed = true;
        allocations.remove(a.handle);
        for (final Export e : new ArrayList<>(a.exportsByTarget.values()))
        {
            unexport(e, "unexported");
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
        a.reclaimed = true;
        account(a, -1);
        freeQuietly(a.buffer);
    }

    /**
     * Pinned memory counts from ALLOC until the pages are back in the pool (after FREE and the importers'
     * release), per this VM and per client uid: like the kernel's mlock accounting.
     */
    private void checkQuotas(final ClientConnection client, final long size) throws ApiException
    {
        final Policy policy = ctx.policy().get();
        final long bytes = roundToPage(size);
        final Quota vm = policy.vmQuota(ctx.backend().localVm());
        if (!vm.admits(vmUsage[0], vmUsage[1], bytes))
        {
            throw new ApiException(ErrorCode.EDQUOT, "VM quota of " + policy.vmName(ctx.backend().localVm()) +
                " exceeded: " + vmUsage[0] + " of " + limit(vm.maxBytes()) + " bytes and " + vmUsage[1] + " of " +
                limit(vm.maxBuffers()) + " buffers pinned, asked for " + bytes + " bytes");
        }
        final long[] used = uidUsage.getOrDefault(client.uid(), new long[2]);
        final Quota mine = policy.clientQuota(client.uid());
        if (!mine.admits(used[0], used[1], bytes))
        {
            throw new ApiException(ErrorCode.EDQUOT, "quota of uid " + client.uid() + " exceeded: " + used[0] +
                " of " + limit(mine.maxBytes()) + " bytes and " + used[1] + " of " + limit(mine.maxBuffers()) +
                " buffers pinned, asked for " + bytes + " bytes");
        }
    }

    private static String limit(final long value)
    {
        return value == Long.MAX_VALUE ? "unlimited" : Long.toString(value);
    }

    private long roundToPage(final long size)
    {
        final long page = ctx.backend().capabilities().pageSize();
        return (size + page - 1) / page * page;
    }

    private void account(final Allocation a, final int sign)
    {
        vmUsage[0] += sign * a.buffer.length();
        vmUsage[1] += sign;
        final long[] used = uidUsage.computeIfAbsent(a.uid(), k -> new long[2]);
        used[0] += sign * a.buffer.length();
        used[1] += sign;
        if (used[1] == 0)
        {
            uidUsage.remove(a.uid());
        }
    }

    @Override
    public void stats(final StatsResult.Builder out)
    {
        final Policy policy = ctx.policy().get();
        final int vm = ctx.backend().localVm();
        out.addUsage(usage("vm", vm, vmUsage, policy.vmQuota(vm)));
        for (final Map.Entry<Integer, long[]> e : new java.util.TreeMap<>(uidUsage).entrySet())
        {
            out.addUsage(usage("uid", e.getKey(), e.getValue(), policy.clientQuota(e.getKey())));
        }
    }

    private static Usage usage(final String scope, final int id, final long[] used, final Quota quota)
    {
        return Usage.newBuilder().setScope(scope).setId(id).setBytes(used[0]).setBuffers(used[1])
            .setMaxBytes(quota.maxBytes() == Long.MAX_VALUE ? -1L : quota.maxBytes())
            .setMaxBuffers(quota.maxBuffers() == Long.MAX_VALUE ? -1L : quota.maxBuffers()).build();
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
                publishState(e, "revoked");
                unexport(e, "policy");
            }
        }
    }

    private void freeQuietly(final BackendBuffer buffer)
    {
        try
        {
            ctx.backend().free(buffer);
        }
        catch (final BackendException e)
        {
            LOG.error("freeing {} failed: {}", buffer, e.getMessage());
        }
    }

    private void unshareQuietly(final Allocation a, final org.hyperdmabuf.hv.spi.ShareRef ref)
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

    private Allocation owned(final ClientConnection client, final long handle) throws ApiException
    {
        final Allocation a = allocations.get(handle);
        if (a == null || a.owner != client)
        {
            throw new ApiException(ErrorCode.ENOENT, "no allocation with handle " + handle + " for this client");
        }
        return a;
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
                e.state = "peer-lost";
                e.release.poison(ErrorCode.EPEERLOST);
                ctx.wakeLocalWaiters(e.release);
                publishState(e, "peer-lost");
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
                    publishState(e, "imported");
                }
            }
            case RELEASE -> {
                final BufferId id = message.getRelease().getId();
                final Export live = exports.get(id);
                if (live != null && live.target == vm && live.importedByPeer)
                {
                    live.importedByPeer = false;
                    publishState(live, "released");
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
                    e.state = "rejected: " + message.getReject().getError() + " " + message.getReject().getMessage();
                    publishState(e, "rejected");
                }
            }
            default -> {
            }
        }
    }

    @Override
    public void onDisconnected(final ClientConnection client)
    {
        for (final Allocation a : new ArrayList<>(allocations.values()))
        {
            if (a.owner == client)
            {
                free(a);
            }
        }
    }

    @Override
    public void list(final ClientConnection client, final BufferList.Builder out)
    {
        for (final Allocation a : allocations.values())
        {
            if (a.owner != client)
            {
                continue;
            }
            out.addAllocations(Allocated.newBuilder().setHandle(a.handle).setOffset(a.buffer.offset())
                .setLength(a.buffer.length()));
            for (final Export e : a.exportsByTarget.values())
            {
                out.addBuffers(info(e));
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
    private void publishState(final Export e, final String state)
    {
        if (!ctx.events().hasSubscriptions(e.allocation.owner))
        {
            ctx.events().publishUnseen(); // the owner cannot see it: skip building it (one per import/release)
            return;
        }
        ctx.events().publishTo(e.allocation.owner, BufferEvents.builder(ctx.events(), BufferEvents.CHANGE, e.id, e.target,
            e.allocation.buffer.length(), e.access, e.metadata, e.revision, null).put("STATE", state).build());
    }

    @Override
    public Optional<BufferInfo> query(final ClientConnection client, final BufferId id)
    {
        final Export e = exports.get(id);
        return e == null || e.allocation.owner != client ? Optional.empty() : Optional.of(info(e));
    }

    private BufferInfo info(final Export e)
    {
        return BufferInfo.newBuilder().setId(e.id).setExporterVm(e.id.getExporterVm()).setTargetVm(e.target)
            .setLength(e.allocation.buffer.length()).setMetadata(e.metadata).setAccess(e.access)
            .setImportCount(e.importedByPeer ? 1 : 0).setHandle(e.allocation.handle).setState(e.state).build();
    }
}
