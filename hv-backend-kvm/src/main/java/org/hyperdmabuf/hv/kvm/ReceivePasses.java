package org.hyperdmabuf.hv.kvm;

import org.hyperdmabuf.hv.shm.MemoryWindow;
import org.hyperdmabuf.hv.shm.PeerSlotDescriptor;
import org.hyperdmabuf.hv.spi.BackendListener;
import org.hyperdmabuf.hv.spi.PeerLiveness;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.util.concurrent.locks.LockSupport;

/**
 * The receive work of a joined peer: our heartbeat, the peers, the rings, the fence bell and the fence tick, one
 * pass at a time, on our receive thread ({@link #receiveLoop}) or on the daemon's loop (passes driven by
 * {@link IvshmemBackend}, while our thread only beats: {@link #heartbeatLoop}).
 */
final class ReceivePasses
{
    private static final Logger LOG = LoggerFactory.getLogger(ReceivePasses.class);
    static final long TICK_NS = IvshmemBackend.POLL_INTERVAL_MS * 1_000_000L;

    private final String name;
    private final IvshmemTransport transport;
    private final MemoryWindow ownSlot;
    private final MemoryWindow[] slots;
    private final PeerLiveness liveness;
    private final PeerTracker tracker;
    private final RingChannels rings;
    private final BackendListener listener;
    /** The daemon's loop runs the passes: our thread does not beat in them. */
    private final boolean driven;
    /** The longest time between two passes, and the fence tick's period ({@link IvshmemTransport#scanIntervalNs}). */
    private final long scanNs;
    /** The last value of our fence bell a pass saw. */
    private long fenceBell;
    private long nextTick;
    /** The thread that runs passes: the receive thread, or the daemon's loop when driven. */
    private volatile Thread passThread;
    private volatile boolean running = true;

    ReceivePasses(final String name, final IvshmemTransport transport, final MemoryWindow[] slots, final int localVm,
        final PeerLiveness liveness, final PeerTracker tracker, final RingChannels rings,
        final BackendListener listener, final boolean driven, final long scanNs)
    {
        this.name = name;
        this.transport = transport;
        this.slots = slots;
        this.ownSlot = slots[localVm];
        this.liveness = liveness;
        this.tracker = tracker;
        this.rings = rings;
        this.listener = listener;
        this.driven = driven;
        this.scanNs = scanNs;
        this.fenceBell = ownSlot.getLongVolatile(PeerSlotDescriptor.FENCE_BELL_OFFSET);
        final long now = System.nanoTime();
        liveness.startBeating(now);
        this.nextTick = now + scanNs;
    }

    boolean running()
    {
        return running;
    }

    void stop()
    {
        running = false;
    }

    /** Whether the calling thread runs the passes (server announcements count only there). */
    boolean onPassThread()
    {
        return Thread.currentThread() == passThread;
    }

    /** Our receive thread: waits on the transport and runs a pass, until stopped. */
    void receiveLoop()
    {
        passThread = Thread.currentThread();
        boolean busy = false;
        while (running)
        {
            try
            {
                final long before = System.nanoTime();
                final long waitNs = Math.min(Math.min(liveness.untilBeat(before), nextTick - before), scanNs);
                final int rung = transport.await(busy, busy ? 0 : waitNs);
                if (!running)
                {
                    break;
                }
                busy = pass(rung);
            }
            catch (final IOException | RuntimeException e)
            {
                LOG.error("{} receive loop error", name, e);
                LockSupport.parkNanos(TICK_NS);
            }
        }
    }

    /** The only work of our thread when the daemon's loop drives the receive work: the heartbeat. */
    void heartbeatLoop(final long heartbeatNs)
    {
        while (running)
        {
            LockSupport.parkNanos(heartbeatNs);
            if (running)
            {
                ownSlot.putLongRelease(PeerSlotDescriptor.HEARTBEAT_OFFSET, liveness.nextBeat());
            }
        }
    }

    /** A pass on the daemon's loop; {@code index} < 0: poll the transport first (server messages too). */
    boolean drivenPass(final int index) throws IOException
    {
        passThread = Thread.currentThread();
        return pass(index < 0 ? transport.await(true, 0) : transport.consume(index));
    }

    /**
     * One pass of the receive work after the transport reported {@code rung}: heartbeat, peers, the rings, the
     * fence bell and the fence tick. Returns true if it found work (look again before sleeping).
     */
    private boolean pass(final int rung)
    {
        final long bell = ownSlot.getLongVolatile(PeerSlotDescriptor.FENCE_BELL_OFFSET);
        final boolean fenceDoorbell = (rung & IvshmemTransport.FENCE_RUNG) != 0 || bell != fenceBell;
        fenceBell = bell;
        final long now = System.nanoTime();
        if (!driven)
        {
            final long beat = liveness.beatIfDue(now);
            if (beat != 0)
            {
                ownSlot.putLongRelease(PeerSlotDescriptor.HEARTBEAT_OFFSET, beat);
            }
        }
        tracker.track(now);
        final boolean busy = rings.drain(slots, ch -> tracker.down(ch, "corrupt")) | fenceDoorbell;
        if (fenceDoorbell)
        {
            notify("onFenceDoorbell()", listener::onFenceDoorbell);
        }
        if (now - nextTick >= 0)
        {
            nextTick = now + scanNs;
            notify("onFenceTick()", listener::onFenceTick);
        }
        return busy;
    }

    private static void notify(final String callback, final Runnable call)
    {
        try
        {
            call.run();
        }
        catch (final RuntimeException e)
        {
            LOG.error("listener failed in {}", callback, e);
        }
    }
}
