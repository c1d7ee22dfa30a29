package org.hyperdmabuf.daemon;

import org.hyperdmabuf.abi.v1.BufferId;
import org.hyperdmabuf.abi.v1.Request;

/** The fence operations of the client API, each about one buffer's fence slot. */
public final class FenceRequests
{
    private FenceRequests()
    {
    }

    /** The buffer a fence request is about; null if {@code request} is not a fence request. */
    public static BufferId bufferOf(final Request request)
    {
        return switch (request.getOpCase())
        {
            case FENCE_SIGNAL -> request.getFenceSignal().getId();
            case FENCE_WAIT -> request.getFenceWait().getId();
            case FENCE_DOORBELL -> request.getFenceDoorbell().getId();
            case FENCE_WAKE -> request.getFenceWake().getId();
            default -> null;
        };
    }
}
