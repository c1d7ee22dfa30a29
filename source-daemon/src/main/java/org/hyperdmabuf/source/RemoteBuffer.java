package org.hyperdmabuf.source;

import org.hyperdmabuf.abi.v1.Access;
import org.hyperdmabuf.abi.v1.BufferId;
import org.hyperdmabuf.abi.v1.BufferInfo;
import org.hyperdmabuf.abi.v1.Metadata;
import org.hyperdmabuf.abi.v1.Timeline;
import org.hyperdmabuf.daemon.BufferOrigin;
import org.hyperdmabuf.daemon.ClientConnection;
import org.hyperdmabuf.daemon.FenceEnd;
import org.hyperdmabuf.daemon.FenceTimeline;
import org.hyperdmabuf.hv.shm.MemoryWindow;
import org.hyperdmabuf.hv.spi.ShareRef;

import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

/** A buffer another VM exported to this one, with its fence slot and the local clients' imports of it. */
final class RemoteBuffer
{
    final BufferId id;
    final int exporter;
    final ShareRef ref;
    final Access access;
    final int fenceSlot;
    final MemoryWindow fenceWindow;
    final FenceTimeline acquire;
    final FenceTimeline release;
    /** The importer's end of the fences, for the fence requests of the clients that hold it. */
    final FenceEnd fences;
    Metadata metadata;
    int revision;
    boolean removed;
    boolean exporterLost;
    /** Imports held, per client (a client may import a buffer more than once). */
    final Map<ClientConnection, Integer> imports = new HashMap<>();
    /** Clients holding a dma-buf import: they cannot reach the fence slot, so the daemon holds their wake bit. */
    final Set<ClientConnection> dmaBufClients = new HashSet<>();

    RemoteBuffer(final BufferId id, final int exporter, final ShareRef ref, final Access access,
        final Metadata metadata, final int revision, final int fenceSlot, final MemoryWindow fence)
    {
        this.id = id;
        this.exporter = exporter;
        this.ref = ref;
        this.access = access;
        this.metadata = metadata;
        this.revision = revision;
        this.fenceSlot = fenceSlot;
        this.fenceWindow = fence;
        this.acquire = FenceTimeline.of(fence, Timeline.TIMELINE_ACQUIRE);
        this.release = FenceTimeline.of(fence, Timeline.TIMELINE_RELEASE);
        this.fences = new FenceEnd(BufferOrigin.EXPORTED_ELSEWHERE, id, exporter, acquire, release);
    }

    int importCount()
    {
        int n = 0;
        for (final int c : imports.values())
        {
            n += c;
        }
        return n;
    }

    ImportState state()
    {
        return removed ? ImportState.REMOVED : importCount() > 0 ? ImportState.IMPORTED : ImportState.EXPORTED;
    }

    /** What QUERY and LIST tell a client of VM {@code localVm}. */
    BufferInfo info(final int localVm)
    {
        return BufferInfo.newBuilder().setId(id).setExporterVm(exporter).setTargetVm(localVm)
            .setLength(ref.length()).setMetadata(metadata).setAccess(access).setImportCount(importCount())
            .setState(state().text()).build();
    }
}
