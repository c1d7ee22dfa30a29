package org.hyperdmabuf.daemon;

import edu.umd.cs.findbugs.annotations.SuppressFBWarnings;
import io.netty.channel.EventLoop;
import org.hyperdmabuf.hv.spi.BackendException;
import org.hyperdmabuf.hv.spi.DirectFenceWakeups;
import org.hyperdmabuf.hv.spi.DmaBufExports;
import org.hyperdmabuf.hv.spi.FenceSlots;
import org.hyperdmabuf.hv.spi.HypervisorBackend;
import org.hyperdmabuf.hv.spi.PeerFenceDoorbells;

/**
 * What a role gets from the runtime. {@code fences}, {@code doorbells} and {@code wakeups} are the backend's fence
 * capabilities, {@code dmaBufs} its dma-buf exports, looked up once by the runtime: the backend's own, or the
 * refusals of a backend without them.
 */
@SuppressFBWarnings(value = {"EI_EXPOSE_REP", "EI_EXPOSE_REP2"},
    justification = "hands the roles the runtime's shared collaborators (event hub, fence waits, policy), not copies")
public record DaemonContext(String name, HypervisorBackend backend, FenceSlots fences, PeerFenceDoorbells doorbells,
    DirectFenceWakeups wakeups, EventLoop loop, EventHub events, PeerMessenger messenger, FenceWaits fenceWaits,
    FenceWakes fenceWakes, PolicyHolder policy, DmaBufExports dmaBufs)
{
    /** DEVPATH of a buffer in events: {@code /hyperdmabuf/vm<exporter>/<id>}. */
    public static String devpath(final int exporterVm, final String bufferId)
    {
        return "/hyperdmabuf/vm" + exporterVm + "/" + bufferId;
    }

    /**
     * FENCE_DOORBELL: a new fd ringing {@code peerVm}'s doorbell {@code vector} (0/1 the fence doorbell, 2 up a
     * wake vector), or the backend's error as the API's.
     */
    public int fenceDoorbell(final int peerVm, final int vector) throws ApiException
    {
        try
        {
            return wakeups.openFenceDoorbell(peerVm, vector);
        }
        catch (final BackendException e)
        {
            throw new ApiException(e.code(), e.getMessage());
        }
    }

    /**
     * After this daemon signalled or closed {@code timeline} (shared with {@code peerVm}): rings that VM's fence
     * doorbell if a wait is blocked in its daemon, and its wake vectors the timeline's wake mask names.
     */
    public void ringWaiters(final int peerVm, final FenceTimeline timeline)
    {
        doorbells.ringFence(peerVm, timeline.wakeMask());
    }

    /** After this daemon closed {@code timeline}, one of ours: wakes the local clients polling it themselves. */
    public void wakeLocalWaiters(final FenceTimeline timeline)
    {
        wakeups.wakeLocal(timeline.wakeMask());
    }
}
