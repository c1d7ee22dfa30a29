package org.hyperdmabuf.hv.kvm;

import org.hyperdmabuf.hv.shm.MemoryWindow;
import org.hyperdmabuf.hv.shm.PeerSlotDescriptor;
import org.hyperdmabuf.hv.shm.SharedRegion;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.util.concurrent.locks.LockSupport;
import java.util.function.IntConsumer;

/**
 * Which ivshmem peer holds which peer slot, through the slots' {@code claim} words (ABI.md "Peer table",
 * Claiming). The slot index is the peer id of the region protocol (rings, pages, fences, VM ids); the ivshmem id
 * is only where doorbells go and what the server's connect and disconnect messages name. They differ when a
 * peer's ivshmem id is beyond the slots (QEMU's server hands out ever larger ids) and it claimed a free slot.
 * <p>
 * Claiming, for a peer with ivshmem id {@code s}: its own slot {@code s} if {@code s < max_peers} and no other
 * connected peer holds it, else the lowest slot that is not the own slot of a connected peer and whose holder
 * is not connected; among those, free and gone slots first, then active ones whose heartbeat stands still for
 * the liveness timeout (a peer outside the server, ivshmem-plain, is seen only by its heartbeat). A slot is
 * taken by compare-and-swap of its claim word from the value read to ours, so two claimers never win the same
 * slot. The holder is judged connected after the claim word is read and the server's pending messages are
 * processed: a peer that claimed a slot did so after the server had announced it to us.
 */
final class SlotClaims
{
    /** The ivshmem server as the claimer sees it. */
    interface Server
    {
        /** Processes the server's pending messages (announcements of peers that connected meanwhile). */
        void refresh() throws IOException;

        boolean isConnected(int ivshmemId);
    }

    private static final Logger LOG = LoggerFactory.getLogger(SlotClaims.class);
    private static final int CAS_ATTEMPTS = 3;
    private static final long HEARTBEAT_POLL_NS = 10_000_000L;

    private final MemoryWindow[] slots;

    SlotClaims(final SharedRegion region)
    {
        slots = new MemoryWindow[region.layout().maxPeers()];
        for (int j = 0; j < slots.length; j++)
        {
            slots[j] = region.peerSlot(j);
        }
    }

    /** The ivshmem id of slot {@code slot}'s holder: doorbells for that slot go there. */
    int holder(final int slot)
    {
        return PeerSlotDescriptor.claimHolder(slots[slot].getLongVolatile(PeerSlotDescriptor.CLAIM_OFFSET), slot);
    }

    /** The ivshmem id doorbells for peer {@code peer} go to: its slot's holder; {@code peer} if no slot is known. */
    static int ivshmemId(final SlotClaims claims, final int peer)
    {
        return claims != null && peer >= 0 && peer < claims.slots.length ? claims.holder(peer) : peer;
    }

    /** Calls {@code action} with every slot that {@code ivshmemId} holds. */
    void forEachHeldBy(final int ivshmemId, final IntConsumer action)
    {
        for (int j = 0; j < slots.length; j++)
        {
            if (holder(j) == ivshmemId)
            {
                action.accept(j);
            }
        }
    }

    /**
     * Claims a slot for ivshmem peer {@code ownId} in session {@code session}; -1 if every slot is held. An active
     * slot whose holder is not connected is taken only if its heartbeat stands still for {@code stillNs}.
     */
    int claim(final int ownId, final long session, final Server server, final long stillNs) throws IOException
    {
        final long mine = PeerSlotDescriptor.claimWord(ownId, session);
        if (ownId < slots.length && take(ownId, ownId, mine, server, false))
        {
            return ownId;
        }
        for (final boolean active : new boolean[] {false, true})
        {
            final long[] beats = new long[slots.length];
            final boolean[] candidate = new boolean[slots.length];
            boolean any = false;
            for (int j = 0; j < slots.length; j++)
            {
                server.refresh();
                if (j != ownId && !server.isConnected(j) && isActive(j) == active)
                {
                    candidate[j] = true;
                    beats[j] = heartbeat(j);
                    any = true;
                }
            }
            if (active && any)
            {
                awaitStill(candidate, beats, stillNs);
            }
            for (int j = 0; j < slots.length; j++)
            {
                if (candidate[j] && take(j, ownId, mine, server, active))
                {
                    LOG.info("ivshmem peer {} claimed peer slot {} (its id is {} the region's {} slots)", ownId, j,
                        ownId < slots.length ? "held by another peer in" : "beyond", slots.length);
                    return j;
                }
            }
        }
        return -1;
    }

    /** Takes slot {@code j} if no other connected peer holds it (and, if {@code active}, it is still active). */
    private boolean take(final int j, final int ownId, final long mine, final Server server, final boolean active)
        throws IOException
    {
        for (int attempt = 0; attempt < CAS_ATTEMPTS; attempt++)
        {
            final long seen = slots[j].getLongVolatile(PeerSlotDescriptor.CLAIM_OFFSET);
            server.refresh(); // after reading the claim: its holder's announcement is then processed
            final int holder = PeerSlotDescriptor.claimHolder(seen, j);
            if (holder != ownId && server.isConnected(holder) || active && !isActive(j))
            {
                return false;
            }
            if (slots[j].compareAndSetLong(PeerSlotDescriptor.CLAIM_OFFSET, seen, mine))
            {
                return true;
            }
        }
        return false;
    }

    /** Drops candidates whose heartbeat moves within {@code stillNs}: a live peer the server does not know. */
    private void awaitStill(final boolean[] candidate, final long[] beats, final long stillNs)
    {
        final long deadline = System.nanoTime() + stillNs;
        boolean any = true;
        while (any && System.nanoTime() - deadline < 0)
        {
            any = false;
            for (int j = 0; j < slots.length; j++)
            {
                if (candidate[j] && heartbeat(j) != beats[j])
                {
                    candidate[j] = false;
                }
                any |= candidate[j];
            }
            LockSupport.parkNanos(HEARTBEAT_POLL_NS);
        }
    }

    private boolean isActive(final int j)
    {
        return slots[j].getIntAcquire(PeerSlotDescriptor.STATE_OFFSET) == PeerSlotDescriptor.STATE_ACTIVE;
    }

    private long heartbeat(final int j)
    {
        return slots[j].getLongVolatile(PeerSlotDescriptor.HEARTBEAT_OFFSET);
    }
}
