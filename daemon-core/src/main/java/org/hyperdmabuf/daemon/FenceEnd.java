package org.hyperdmabuf.daemon;

import edu.umd.cs.findbugs.annotations.SuppressFBWarnings;
import org.hyperdmabuf.abi.v1.BufferId;
import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.abi.v1.FenceSignal;
import org.hyperdmabuf.abi.v1.FenceWait;
import org.hyperdmabuf.abi.v1.Request;
import org.hyperdmabuf.abi.v1.Response;
import org.hyperdmabuf.abi.v1.Timeline;

/**
 * One side's end of a buffer's fences, as its daemon serves the fence requests of a client that holds the buffer
 * (ABI.md "Fences"): the exporter's side signals acquire and waits on release, the importer's side the other way
 * round; doorbells and wake vectors are the other VM's.
 */
public final class FenceEnd
{
    private final BufferOrigin origin;
    private final BufferId id;
    private final int peerVm;
    private final Timeline signalled;
    private final Timeline waited;
    private final FenceTimeline signals;
    private final FenceTimeline waits;

    /**
     * @param origin {@link BufferOrigin#EXPORTED_HERE} for the exporter's side
     * @param peerVm the other side's VM
     */
    @SuppressFBWarnings(value = "EI_EXPOSE_REP2",
        justification = "the id is a protobuf message (immutable); the timelines are the buffer's, shared by design")
    public FenceEnd(final BufferOrigin origin, final BufferId id, final int peerVm, final FenceTimeline acquire,
        final FenceTimeline release)
    {
        final boolean exporter = origin == BufferOrigin.EXPORTED_HERE;
        this.origin = origin;
        this.id = id;
        this.peerVm = peerVm;
        this.signalled = exporter ? Timeline.TIMELINE_ACQUIRE : Timeline.TIMELINE_RELEASE;
        this.waited = exporter ? Timeline.TIMELINE_RELEASE : Timeline.TIMELINE_ACQUIRE;
        this.signals = exporter ? acquire : release;
        this.waits = exporter ? release : acquire;
    }

    /**
     * Serves fence request {@code request} ({@link FenceRequests}) of {@code client}, which holds the buffer.
     *
     * @param peerLost     the other VM is gone
     * @param holdWakeBit  the daemon holds the client's wake bit for a FENCE_WAKE lease (it cannot store it)
     */
    public void serve(final DaemonContext ctx, final ClientConnection client, final Request request,
        final boolean peerLost, final boolean holdWakeBit) throws ApiException
    {
        final long rid = request.getRequestId();
        switch (request.getOpCase())
        {
            case FENCE_SIGNAL -> {
                final FenceSignal f = request.getFenceSignal();
                if (f.getTimeline() != signalled)
                {
                    throw new ApiException(ErrorCode.EINVAL, exporter() ? "the exporter signals the acquire " +
                        "timeline; release is signalled by the importer" : "an importer signals the release " +
                        "timeline; acquire is signalled by the exporter");
                }
                checkPeerAlive(peerLost);
                signals.signal(f.getValue(), f.getError());
                ctx.ringWaiters(peerVm, signals);
                client.reply(rid, Response.newBuilder());
            }
            case FENCE_WAIT -> {
                final FenceWait f = request.getFenceWait();
                if (f.getTimeline() != waited)
                {
                    throw new ApiException(ErrorCode.EINVAL, exporter() ? "the exporter waits on the release " +
                        "timeline" : "an importer waits on the acquire timeline");
                }
                ctx.fenceWaits().add(client, rid, waits, f.getValue(), Integer.toUnsignedLong(f.getTimeoutMs()),
                    peerVm, id);
            }
            case FENCE_DOORBELL -> {
                checkPeerAlive(peerLost);
                client.replyWithFd(rid, Response.newBuilder(), ctx.fenceDoorbell(peerVm,
                    request.getFenceDoorbell().getVector()));
            }
            case FENCE_WAKE -> {
                checkPeerAlive(peerLost);
                ctx.fenceWakes().lease(client, rid, id, waits, holdWakeBit);
            }
            default -> throw new ApiException(ErrorCode.ENOTSUP, request.getOpCase() + " is not a fence operation");
        }
    }

    private boolean exporter()
    {
        return origin == BufferOrigin.EXPORTED_HERE;
    }

    private void checkPeerAlive(final boolean peerLost) throws ApiException
    {
        if (peerLost)
        {
            throw new ApiException(ErrorCode.EPEERLOST, (exporter() ? "VM " : "exporter VM ") + peerVm + " is gone");
        }
    }
}
