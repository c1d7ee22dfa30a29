package org.hyperdmabuf.daemon;

import io.netty.channel.EventLoop;
import org.hyperdmabuf.hv.spi.BackendException;
import org.hyperdmabuf.hv.spi.HypervisorBackend;

/** What a role gets from the runtime. */
public record DaemonContext(String name, HypervisorBackend backend, EventLoop loop, EventHub events,
    PeerMessenger messenger, FenceWaits fenceWaits, FenceWakes fenceWakes, PolicyHolder policy)
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
            return backend.openFenceDoorbell(peerVm, vector);
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
        backend.ringFence(peerVm, timeline.wakeMask());
    }

    /** After this daemon closed {@code timeline}, one of ours: wakes the local clients polling it themselves. */
    public void wakeLocalWaiters(final FenceTimeline timeline)
    {
        backend.wakeLocal(timeline.wakeMask());
    }
}
