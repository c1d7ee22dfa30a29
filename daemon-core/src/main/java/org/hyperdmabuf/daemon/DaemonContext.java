package org.hyperdmabuf.daemon;

import io.netty.channel.EventLoop;
import org.hyperdmabuf.hv.spi.BackendException;
import org.hyperdmabuf.hv.spi.HypervisorBackend;

/** What a role gets from the runtime. */
public record DaemonContext(String name, HypervisorBackend backend, EventLoop loop, EventHub events,
    PeerMessenger messenger, FenceWaits fenceWaits, PolicyHolder policy)
{
    /** DEVPATH of a buffer in events: {@code /hyperdmabuf/vm<exporter>/<id>}. */
    public static String devpath(final int exporterVm, final String bufferId)
    {
        return "/hyperdmabuf/vm" + exporterVm + "/" + bufferId;
    }

    /** FENCE_DOORBELL: a new fd ringing {@code peerVm}'s fence doorbell, or the backend's error as the API's. */
    public int fenceDoorbell(final int peerVm) throws ApiException
    {
        try
        {
            return backend.openFenceDoorbell(peerVm);
        }
        catch (final BackendException e)
        {
            throw new ApiException(ApiException.codeOf(e.error()), e.getMessage());
        }
    }
}
