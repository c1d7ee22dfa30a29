package org.hyperdmabuf.daemon;

import org.hyperdmabuf.abi.FenceAbi;
import org.hyperdmabuf.abi.Limits;
import io.netty.channel.EventLoop;
import io.netty.util.concurrent.ScheduledFuture;
import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.abi.v1.FenceState;
import org.hyperdmabuf.abi.v1.Response;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * FENCE_WAIT requests blocked in the daemon. Each is answered exactly once: when its timeline reaches the
 * value (checked on every fence doorbell, on the backend's periodic tick and after local signals), when
 * its timeout passes (ETIMEDOUT), when the other VM is declared gone (EPEERLOST), or when the buffer goes
 * away (ENOENT). Event-loop confined.
 */
public final class FenceWaits
{
    private final EventLoop loop;
    private final List<Wait> waits = new ArrayList<>();
    private ScheduledFuture<?> timer;

    private record Wait(ClientConnection client, long requestId, FenceTimeline timeline, long target,
        long deadlineNanos, int peerVm, Object key)
    {
    }

    public FenceWaits(final EventLoop loop)
    {
        this.loop = loop;
    }

    /** Answers at once if the value is reached, else parks the request. */
    public void add(final ClientConnection client, final long requestId, final FenceTimeline timeline,
        final long target, final long timeoutMillis, final int peerVm, final Object key) throws ApiException
    {
        if (target < 0)
        {
            throw new ApiException(ErrorCode.EINVAL, "fence values are below 2^63; got " + Long.toUnsignedString(target));
        }
        if (client.parkedFenceWaits >= Limits.MAX_FENCE_WAITS_PER_CLIENT)
        {
            throw new ApiException(ErrorCode.EAGAIN, "this connection already has " +
                Limits.MAX_FENCE_WAITS_PER_CLIENT + " FENCE_WAITs pending");
        }
        timeline.addWaiter(); // raise the flag before the re-check, so a signaller cannot miss us
        final Wait w = new Wait(client, requestId, timeline, target, System.nanoTime() +
            TimeUnit.MILLISECONDS.toNanos(timeoutMillis), peerVm, key);
        if (!tryComplete(w, System.nanoTime()))
        {
            waits.add(w);
            client.parkedFenceWaits++;
            armTimer();
        }
    }

    public boolean isEmpty()
    {
        return waits.isEmpty();
    }

    /** Re-checks every parked wait. */
    public void check()
    {
        final long now = System.nanoTime();
        waits.removeIf(w -> tryComplete(w, now) && unparked(w));
        armTimer();
    }

    /** Fails the waits on timelines shared with {@code vm}. */
    public void failPeer(final int vm, final String why)
    {
        fail(w -> w.peerVm == vm, ErrorCode.EPEERLOST, why);
    }

    /** Fails the waits on one buffer (unexported, freed). */
    public void failKey(final Object key, final ErrorCode code, final String why)
    {
        fail(w -> w.key.equals(key), code, why);
    }

    public void dropClient(final ClientConnection client)
    {
        waits.removeIf(w ->
        {
            if (w.client == client)
            {
                w.timeline.removeWaiter();
                return unparked(w);
            }
            return false;
        });
    }

    private void fail(final java.util.function.Predicate<Wait> which, final ErrorCode code, final String why)
    {
        for (final Iterator<Wait> it = waits.iterator(); it.hasNext(); )
        {
            final Wait w = it.next();
            if (which.test(w))
            {
                it.remove();
                unparked(w);
                w.timeline.removeWaiter();
                w.client.replyError(w.requestId, code, why);
            }
        }
    }

    private static boolean unparked(final Wait w)
    {
        w.client.parkedFenceWaits--;
        return true;
    }

    private boolean tryComplete(final Wait w, final long now)
    {
        final long value = w.timeline.valueAfterWaiterRaised();
        if (value == FenceAbi.POISON_VALUE)
        {
            // The other side is gone (or the buffer unexported): answer its error, never a value.
            w.timeline.removeWaiter();
            final ErrorCode code = ErrorCode.forNumber(w.timeline.error());
            w.client.replyError(w.requestId, code == null || code == ErrorCode.OK ? ErrorCode.EPEERLOST : code,
                "the timeline was closed: " + (code == ErrorCode.ENOENT ? "the buffer was unexported" :
                    "the other VM is gone"));
            return true;
        }
        if (value >= w.target)
        {
            w.timeline.removeWaiter();
            final int error = w.timeline.error();
            w.client.reply(w.requestId, Response.newBuilder().setFence(FenceState.newBuilder().setValue(value)
                .setError(error)));
            return true;
        }
        if (now - w.deadlineNanos >= 0)
        {
            w.timeline.removeWaiter();
            w.client.replyError(w.requestId, ErrorCode.ETIMEDOUT, "fence value " + w.target + " not reached (at " +
                value + ")");
            return true;
        }
        return false;
    }

    /** One timer for the earliest deadline, so timeouts are answered on time without polling. */
    private void armTimer()
    {
        if (timer != null)
        {
            timer.cancel(false);
            timer = null;
        }
        long earliest = Long.MAX_VALUE;
        for (final Wait w : waits)
        {
            earliest = Math.min(earliest, w.deadlineNanos);
        }
        if (earliest != Long.MAX_VALUE)
        {
            timer = loop.schedule(this::check, Math.max(0, earliest - System.nanoTime()), TimeUnit.NANOSECONDS);
        }
    }
}
