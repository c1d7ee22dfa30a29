package org.hyperdmabuf.daemon;

import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.abi.v1.Response;
import org.hyperdmabuf.abi.v1.WakeLease;
import org.hyperdmabuf.hv.spi.BackendException;
import org.hyperdmabuf.hv.spi.DirectFenceWakeups;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Predicate;

/**
 * Wake vectors leased to local clients (FENCE_WAKE, ABI.md "Direct fence wake-ups"): at most one per client
 * and buffer. A signal from the other VM rings the client's eventfd directly, without this daemon in between,
 * whenever the vector's bit is set in the timeline's wake mask: set by the client around each sleep, or, for
 * a client that cannot write the slot (a read-only import), by this daemon for the whole lease. A lease ends,
 * and the bit is cleared, when the client lets go of the buffer or disconnects, or the buffer goes away.
 * Event-loop confined.
 */
public final class FenceWakes
{
    private final DirectFenceWakeups wakeups;
    private final List<Lease> leases = new ArrayList<>();

    private record Lease(ClientConnection client, Object key, FenceTimeline timeline, int vector)
    {
    }

    /** @param wakeups the backend's, or {@link DirectFenceWakeups#of} one without them (every lease ENOTSUP) */
    public FenceWakes(final DirectFenceWakeups wakeups)
    {
        this.wakeups = wakeups;
    }

    /**
     * FENCE_WAKE: leases a wake vector for {@code client}'s waits on {@code timeline} of buffer {@code key} and
     * answers request {@code requestId} with it. With {@code holdBit} (the client cannot write the slot) the
     * mask bit is set before the answer leaves and stays set for the lease.
     */
    public void lease(final ClientConnection client, final long requestId, final Object key,
        final FenceTimeline timeline, final boolean holdBit) throws ApiException
    {
        for (final Lease l : leases)
        {
            if (l.client == client && l.key.equals(key))
            {
                throw new ApiException(ErrorCode.EBUSY, "this connection already holds the wake vector of this " +
                    "buffer (vector " + l.vector + ")");
            }
        }
        final DirectFenceWakeups.FenceWake w;
        try
        {
            w = wakeups.leaseFenceWake();
        }
        catch (final BackendException e)
        {
            throw new ApiException(e.code(), e.getMessage());
        }
        if (holdBit)
        {
            timeline.markWake(w.vector(), true);
        }
        leases.add(new Lease(client, key, timeline, w.vector()));
        client.replyWithFd(requestId, Response.newBuilder().setWakeLease(WakeLease.newBuilder()
            .setVector(w.vector()).setBitHeldByDaemon(holdBit)), w.fd());
    }

    /** Ends {@code client}'s lease on buffer {@code key} (it released or unexported it). */
    public void drop(final ClientConnection client, final Object key)
    {
        end(l -> l.client == client && l.key.equals(key));
    }

    public void dropClient(final ClientConnection client)
    {
        end(l -> l.client == client);
    }

    /**
     * Ends every lease on buffer {@code key} (it is gone: unexported, removed, or its exporter lost), whether or
     * not clients still hold imports of it: wake vectors are few. Each vector is rung once more, so a client still
     * asleep on it wakes and finds the timeline closed (the next lease drains that count).
     */
    public void dropKey(final Object key)
    {
        final int rung = end(l -> l.key.equals(key));
        if (rung != 0)
        {
            wakeups.wakeLocal(rung);
        }
    }

    /** Ends the leases {@code which} selects; returns the mask of their vectors. */
    private int end(final Predicate<Lease> which)
    {
        final int[] vectors = {0};
        leases.removeIf(l ->
        {
            if (!which.test(l))
            {
                return false;
            }
            l.timeline.markWake(l.vector, false);
            wakeups.returnFenceWake(l.vector);
            vectors[0] |= 1 << l.vector;
            return true;
        });
        return vectors[0];
    }
}
