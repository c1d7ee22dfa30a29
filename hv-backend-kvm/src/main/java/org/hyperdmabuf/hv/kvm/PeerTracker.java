package org.hyperdmabuf.hv.kvm;

import org.hyperdmabuf.hv.nativeio.Native;
import org.hyperdmabuf.hv.shm.MemoryWindow;
import org.hyperdmabuf.hv.shm.PeerSlotDescriptor;
import org.hyperdmabuf.hv.shm.SharedRegion;
import org.hyperdmabuf.hv.spi.BackendListener;
import org.hyperdmabuf.hv.spi.PeerInfo;
import org.hyperdmabuf.hv.spi.PeerLiveness;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Brings the region's peers up and down (pass thread only): from what the transport announced, what their slots
 * say and whether their heartbeats move on our clock ({@link PeerLiveness}); and starts a new session of ours
 * when a peer says it declared the current one down (ABI.md "Liveness", "Resync").
 * <p>
 * <b>Liveness.</b> The receive thread advances our heartbeat every {@code heartbeat-ms} and watches the
 * others' on its own clock: a peer whose heartbeat has not moved for {@code liveness-timeout-ms} is declared
 * down with reason {@code timeout}, whether or not the ivshmem server is alive. Detection takes at most
 * {@code liveness-timeout-ms + heartbeat-ms + }{@link IvshmemBackend#POLL_INTERVAL_MS} after the peer
 * stopped. A session declared down (timeout or corrupt) stays down even if its heartbeat resumes (SIGSTOP, SIGCONT): the daemons
 * have already cleaned up after it; the peer comes back only with a new session id. We tell it so in
 * {@code dropped_session} of our ring to it, and a daemon that finds its own session there starts a new one by
 * itself and rejoins (ABI.md "Resync"). Because the heartbeat
 * is driven by our thread, listener callbacks (on the receive thread) that block for longer than the peers'
 * liveness timeout get this daemon declared dead; a busy driving loop does not.
 */
final class PeerTracker
{
    private static final Logger LOG = LoggerFactory.getLogger(PeerTracker.class);
    /** A new session id replaced the one we knew: nobody is left to tell that it was dropped. */
    private static final String REASON_RESTARTED = "restarted";

    private final String name;
    private final SharedRegion region;
    private final IvshmemTransport transport;
    private final MemoryWindow[] slots;
    private final int localVm;
    private final int roles;
    /** How our slot says we learn of fence doorbells ({@code PeerSlotDescriptor.NOTIFY_*}), for rejoining. */
    private final int notify;
    private final RingChannels rings;
    private final RegionMemory memory;
    private final PeerLiveness liveness;
    /** Server disconnect notices awaiting confirmation by a still heartbeat. */
    private final DisconnectNotices notices;
    private final BackendListener listener;
    /** Ours; a new one after a resync (changed by the pass thread, under the pools' and rings' locks). */
    private volatile long session;

    PeerTracker(final Parts parts, final long session)
    {
        this.name = parts.name;
        this.region = parts.region;
        this.transport = parts.transport;
        this.slots = parts.slots;
        this.localVm = parts.localVm;
        this.roles = parts.roles;
        this.notify = parts.notifyMode;
        this.rings = parts.rings;
        this.memory = parts.memory;
        this.liveness = parts.liveness;
        this.notices = parts.notices;
        this.listener = parts.listener;
        this.session = session;
    }

    /** What the tracker works on, named, for its constructor. */
    record Parts(String name, SharedRegion region, IvshmemTransport transport, MemoryWindow[] slots, int localVm,
        int roles, int notifyMode, RingChannels rings, RegionMemory memory, PeerLiveness liveness,
        DisconnectNotices notices, BackendListener listener)
    {
    }

    long session()
    {
        return session;
    }

    /** Brings peers up and down from their slots and heartbeats, judged at {@code now}. */
    void track(final long now)
    {
        // Time in which we did not run (the host stalled, a GC pause, a long task on the driving loop) is time
        // in which we could not watch heartbeats: it does not count against the peers, which may have been
        // stalled with us. A peer that stops while we run is still declared down within the bound.
        final long gap = liveness.discountStall(now);
        if (gap > 0)
        {
            if (gap > liveness.timeoutNs())
            {
                // Alone this proves nothing (the whole host may have stalled): a peer that did declare us down
                // says so on its ring to us, and that is what makes us rejoin, just below.
                LOG.warn("{} peer {}: not run for {} ms, longer than the liveness timeout; peers that declared " +
                    "this session down meanwhile will be rejoined with a new session", name, localVm, gap / 1_000_000L);
            }
            else
            {
                LOG.info("{} peer {}: not run for {} ms; that time is not counted against the peers' heartbeats",
                    name, localVm, gap / 1_000_000L);
            }
            notices.discount(gap);
        }
        resyncIfDropped(now);
        for (int j = 0; j < slots.length; j++)
        {
            if (j != localVm)
            {
                trackPeer(j, now);
            }
        }
    }

    private void trackPeer(final int j, final long now)
    {
        final MemoryWindow slot = slots[j];
        final int state = slot.getIntAcquire(PeerSlotDescriptor.STATE_OFFSET);
        final long slotSession = slot.getLongVolatile(PeerSlotDescriptor.SESSION_ID_OFFSET);
        final long beat = slot.getLongVolatile(PeerSlotDescriptor.HEARTBEAT_OFFSET);
        final int slotPeer = slot.getInt(PeerSlotDescriptor.PEER_ID_OFFSET);
        final int slotRoles = slot.getInt(PeerSlotDescriptor.ROLES_OFFSET);
        final boolean active = state == PeerSlotDescriptor.STATE_ACTIVE && slotSession != 0 && slotPeer == j &&
            slot.getIntAcquire(PeerSlotDescriptor.STATE_OFFSET) == PeerSlotDescriptor.STATE_ACTIVE;
        final boolean announced = transport.isPeerAttached(j);
        liveness.observe(j, slotSession, beat, now);
        if (rings.brokenBy(j, slotSession))
        {
            rings.discardFaulted(j, slot, slotSession);
        }
        final boolean stale = liveness.stale(j, now);
        final RingChannels.PeerChannel ch = rings.current(j);
        if (ch != null)
        {
            // A server's disconnect notice counts only once the heartbeat confirms it: a server that shuts
            // down announces every peer as gone (QEMU's does), and must not split the live ones.
            if (!active || notices.confirmed(j, ch.session, beat, now))
            {
                down(ch, "gone");
                return;
            }
            if (ch.writerFault != null)
            {
                LOG.warn("peer {} session {}: ring to it is corrupt ({}); closing its channel", j,
                    Long.toHexString(ch.session), ch.writerFault);
                down(ch, "corrupt");
                return;
            }
            if (slotSession == ch.session)
            {
                if (stale)
                {
                    LOG.warn("peer {} session {}: heartbeat stuck at {} for {} ms; declaring it down", j,
                        Long.toHexString(slotSession), beat, liveness.stillFor(j, now) / 1_000_000L);
                    liveness.timedOut(j, slotSession);
                    down(ch, "timeout");
                }
                return;
            }
            down(ch, REASON_RESTARTED);
        }
        if (announced && active && !stale && !liveness.isDead(j, slotSession))
        {
            up(j, slotSession, slotRoles);
        }
    }

    /** A server announced {@code peerId} gone: counted once its heartbeat confirms it. */
    void noticeGone(final int peerId)
    {
        final RingChannels.PeerChannel ch = rings.current(peerId);
        if (ch != null)
        {
            notices.notice(peerId, ch.session, slots[peerId].getLongVolatile(PeerSlotDescriptor.HEARTBEAT_OFFSET),
                System.nanoTime());
        }
    }

    /**
     * Starts a new session of ours when a peer says, on its ring to us, that it declared our current one down
     * (we were stopped, paused or starved for longer than its liveness timeout, or it took a false notice for
     * our death). It has dropped everything of ours; we do the same with everything of every peer's (each will
     * see our new session as a restart and do likewise), then rejoin. At most once per liveness timeout, so a
     * peer that keeps writing our session there cannot keep us resyncing.
     */
    private void resyncIfDropped(final long now)
    {
        if (!liveness.mayResync(now))
        {
            return;
        }
        for (int j = 0; j < slots.length; j++)
        {
            if (j != localVm && rings.droppedUs(j))
            {
                liveness.resyncing(now);
                resync(j);
                return;
            }
        }
    }

    private void resync(final int by)
    {
        final long old = session;
        final long fresh = PeerLiveness.newSessionId();
        LOG.warn("{} peer {} session {}: peer {} declared this session down; dropping everything of every peer and " +
            "rejoining as session {}", name, localVm, Long.toHexString(old), by, Long.toHexString(fresh));
        for (int j = 0; j < slots.length; j++)
        {
            final RingChannels.PeerChannel ch = rings.current(j);
            if (ch != null)
            {
                down(ch, BackendListener.REASON_RESYNC);
            }
        }
        memory.rebind(fresh);
        rings.renew(fresh);
        session = fresh;
        region.join(localVm, fresh, roles, Native.libc().getpid(), notify);
    }

    private void up(final int vm, final long peerSession, final int peerRoles)
    {
        rings.open(vm, peerSession, peerRoles);
        LOG.info("peer {} up, session {}", vm, Long.toHexString(peerSession));
        try
        {
            listener.onPeerUp(new PeerInfo(vm, peerSession, peerRoles));
        }
        catch (final RuntimeException e)
        {
            LOG.error("listener failed in onPeerUp({})", vm, e);
        }
    }

    /** Reports {@code ch}'s session down for {@code reason}. */
    void down(final RingChannels.PeerChannel ch, final String reason)
    {
        final boolean dead = !BackendListener.REASON_RESYNC.equals(reason);
        rings.close(ch, dead && !REASON_RESTARTED.equals(reason));
        if (dead)
        {
            // A session reported down never comes back: not when a new connection reuses the id before the new
            // daemon has published its slot, not when a stopped process resumes.
            liveness.dead(ch.vm, ch.session);
        }
        LOG.info("peer {} down ({}), session {}", ch.vm, reason, Long.toHexString(ch.session));
        try
        {
            listener.onPeerDown(ch.vm, ch.session, reason);
        }
        catch (final RuntimeException e)
        {
            LOG.error("listener failed in onPeerDown({})", ch.vm, e);
        }
    }
}
