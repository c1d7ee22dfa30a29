package org.hyperdmabuf.sink;

import io.netty.util.concurrent.ScheduledFuture;
import org.hyperdmabuf.abi.v1.Access;
import org.hyperdmabuf.abi.v1.BufferId;
import org.hyperdmabuf.abi.v1.BufferInfo;
import org.hyperdmabuf.abi.v1.ExportAnnounce;
import org.hyperdmabuf.abi.v1.Metadata;
import org.hyperdmabuf.abi.v1.PeerMessage;
import org.hyperdmabuf.abi.v1.Timeline;
import org.hyperdmabuf.daemon.BufferOrigin;
import org.hyperdmabuf.daemon.FenceEnd;
import org.hyperdmabuf.daemon.FenceTimeline;
import org.hyperdmabuf.hv.shm.MemoryWindow;
import org.hyperdmabuf.hv.spi.FenceRef;
import org.hyperdmabuf.hv.spi.ShareRef;

/** One export of an allocation to one target VM, with its fence slot. */
final class Export
{
    final BufferId id;
    final Allocation allocation;
    final int target;
    final ShareRef ref;
    final Access access;
    final FenceRef fence;
    final MemoryWindow fenceSlot;
    final FenceTimeline acquire;
    final FenceTimeline release;
    /** The exporter's end of the fences, for its owner's fence requests. */
    final FenceEnd fences;
    Metadata metadata;
    int revision = 1;
    boolean importedByPeer;
    boolean peerLost;
    private ExportState state = ExportState.EXPORTED;
    /** Why the target refused it (its error and message), in state {@link ExportState#REJECTED}. */
    private String rejection;
    ScheduledFuture<?> pendingUnexport;

    Export(final BufferId id, final Allocation allocation, final int target, final ShareRef ref, final Access access,
        final Metadata metadata, final FenceRef fence, final MemoryWindow fenceSlot)
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
        this.fences = new FenceEnd(BufferOrigin.EXPORTED_HERE, id, target, acquire, release);
    }

    void state(final ExportState next)
    {
        state = next;
    }

    void rejected(final String why)
    {
        state = ExportState.REJECTED;
        rejection = why;
    }

    /** Cancels a delayed unexport, if one is running: the export is live again. */
    void cancelPendingUnexport()
    {
        if (pendingUnexport != null)
        {
            pendingUnexport.cancel(false);
            pendingUnexport = null;
            state = peerLost ? ExportState.PEER_LOST : ExportState.EXPORTED;
        }
    }

    /** The announcement of this export, with {@code metadata} as revision {@code revision}. */
    PeerMessage announce(final Metadata metadata, final int revision)
    {
        return PeerMessage.newBuilder().setExport(ExportAnnounce.newBuilder().setId(id).setOffset(ref.offset())
            .setLength(ref.length()).setAccess(access).setMetadata(metadata).setRevision(revision)
            .setFenceSlot(fence.index())).build();
    }

    /** What QUERY and LIST tell the owner. */
    BufferInfo info()
    {
        final String stateText = state == ExportState.REJECTED ? state.text() + ": " + rejection : state.text();
        return BufferInfo.newBuilder().setId(id).setExporterVm(id.getExporterVm()).setTargetVm(target)
            .setLength(allocation.buffer.length()).setMetadata(metadata).setAccess(access)
            .setImportCount(importedByPeer ? 1 : 0).setHandle(allocation.handle).setState(stateText).build();
    }
}
