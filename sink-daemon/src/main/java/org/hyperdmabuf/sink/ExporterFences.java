package org.hyperdmabuf.sink;

import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.abi.v1.FenceSignal;
import org.hyperdmabuf.abi.v1.FenceWait;
import org.hyperdmabuf.abi.v1.Request;
import org.hyperdmabuf.abi.v1.Response;
import org.hyperdmabuf.abi.v1.Timeline;
import org.hyperdmabuf.daemon.ApiException;
import org.hyperdmabuf.daemon.ClientConnection;
import org.hyperdmabuf.daemon.DaemonContext;

/** The exporter's side of the fence operations: it signals acquire and waits on release of its own exports. */
final class ExporterFences
{
    private final DaemonContext ctx;

    ExporterFences(final DaemonContext ctx)
    {
        this.ctx = ctx;
    }

    /** Serves fence request {@code request} about {@code e}, an export of {@code client}. */
    void serve(final ClientConnection client, final Request request, final Export e) throws ApiException
    {
        final long rid = request.getRequestId();
        switch (request.getOpCase())
        {
            case FENCE_SIGNAL -> {
                final FenceSignal f = request.getFenceSignal();
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
                if (f.getTimeline() != Timeline.TIMELINE_RELEASE)
                {
                    throw new ApiException(ErrorCode.EINVAL, "the exporter waits on the release timeline");
                }
                ctx.fenceWaits().add(client, rid, e.release, f.getValue(), Integer.toUnsignedLong(f.getTimeoutMs()),
                    e.target, e.id);
            }
            case FENCE_DOORBELL -> {
                checkTargetAlive(e);
                client.replyWithFd(rid, Response.newBuilder(), ctx.fenceDoorbell(e.target,
                    request.getFenceDoorbell().getVector()));
            }
            case FENCE_WAKE -> {
                checkTargetAlive(e);
                // The owner maps the slot writable: it sets its bit around each sleep itself.
                ctx.fenceWakes().lease(client, rid, e.id, e.release, false);
            }
            default -> throw new ApiException(ErrorCode.ENOTSUP, request.getOpCase() + " is not a fence operation");
        }
    }

    private static void checkTargetAlive(final Export e) throws ApiException
    {
        if (e.peerLost)
        {
            throw new ApiException(ErrorCode.EPEERLOST, "VM " + e.target + " is gone");
        }
    }
}
