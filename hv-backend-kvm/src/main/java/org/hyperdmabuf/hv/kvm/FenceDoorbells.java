package org.hyperdmabuf.hv.kvm;

import org.hyperdmabuf.abi.FenceAbi;
import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.hv.shm.MemoryWindow;
import org.hyperdmabuf.hv.shm.PeerSlotDescriptor;
import org.hyperdmabuf.hv.spi.BackendException;
import org.hyperdmabuf.hv.spi.DirectFenceWakeups.FenceWake;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.util.function.IntPredicate;

/**
 * Fence doorbells between the peers of a region and the wake vectors leased to local fence waiters (ABI.md
 * "Fences", "Direct fence wake-ups"): vector 1 of a peer is its fence doorbell, 2 and up its wake vectors; a peer
 * that polls learns of a doorbell from the bell word of its slot.
 */
final class FenceDoorbells
{
    private static final Logger LOG = LoggerFactory.getLogger(FenceDoorbells.class);

    private final IvshmemTransport transport;
    private final MemoryWindow[] slots;
    private final int localVm;
    /** Whether a peer is up (reachable). */
    private final IntPredicate reachable;
    /** Guards {@link #leases}, a bit per own wake vector leased to a local client. */
    private final Object wakeLock = new Object();
    private int leases;

    FenceDoorbells(final IvshmemTransport transport, final MemoryWindow[] slots, final int localVm,
        final IntPredicate reachable)
    {
        this.transport = transport;
        this.slots = slots;
        this.localVm = localVm;
        this.reachable = reachable;
    }

    private boolean isOtherPeer(final int peerVm)
    {
        return peerVm >= 0 && peerVm < slots.length && peerVm != localVm;
    }

    /** Rings {@code peerVm}'s fence doorbell; true if it was rung or the peer is up (it polls its bell). */
    boolean ring(final int peerVm)
    {
        if (!isOtherPeer(peerVm))
        {
            return false;
        }
        // The bell word reaches a peer that polls (guest mode, ivshmem-plain); the doorbell one that sleeps.
        slots[peerVm].getAndAddLong(PeerSlotDescriptor.FENCE_BELL_OFFSET, 1);
        boolean rung = false;
        try
        {
            rung = transport.ring(peerVm, FenceAbi.FENCE_VECTOR);
        }
        catch (final IOException | IllegalArgumentException e)
        {
            LOG.debug("fence doorbell to peer {} failed: {}", peerVm, e.getMessage());
        }
        return rung || reachable.test(peerVm);
    }

    /** The fence doorbell and the wake vectors of {@code peerVm} named in {@code wakeMask}. */
    boolean ring(final int peerVm, final int wakeMask)
    {
        final boolean rung = ring(peerVm);
        if (!isOtherPeer(peerVm))
        {
            return rung;
        }
        return ringWakeVectors(peerVm, wakeMask) | rung;
    }

    /** Vector 0 or 1: the peer's fence doorbell; 2 and up: one of its wake vectors. */
    int open(final int peerVm, final int vector) throws BackendException
    {
        final boolean wakeVector = vector > FenceAbi.FENCE_VECTOR;
        if (!isOtherPeer(peerVm) || vector >= IvshmemBackend.VECTORS)
        {
            throw new BackendException(ErrorCode.EINVAL, "peer " + peerVm + (wakeVector ? " vector " + vector +
                " is not a wake vector of another peer" : " is not another peer") + " of this region");
        }
        if (!reachable.test(peerVm))
        {
            throw new BackendException(ErrorCode.ENOPEER, "peer " + peerVm + " is not reachable");
        }
        if (!wakeVector &&
            slots[peerVm].getIntVolatile(PeerSlotDescriptor.NOTIFY_OFFSET) != PeerSlotDescriptor.NOTIFY_DOORBELL)
        {
            throw new BackendException(ErrorCode.ENOTSUP, "peer " + peerVm + " polls its fence bell (guest mode): " +
                "its fences are rung through the daemon (FENCE_SIGNAL)");
        }
        final int fd;
        try
        {
            fd = transport.openDoorbell(peerVm, wakeVector ? vector : FenceAbi.FENCE_VECTOR);
        }
        catch (final IOException e)
        {
            throw new BackendException(ErrorCode.EIO, (wakeVector ? "wake vector " + vector : "fence doorbell") +
                " of peer " + peerVm + ": " + e.getMessage(), e);
        }
        if (fd >= 0)
        {
            return fd;
        }
        // ENOTSUP, not EINVAL, where no vector has an fd (guest mode): the client then kicks through
        // FENCE_SIGNAL, which rings the wake vectors by register write; EINVAL would make it skip them.
        throw wakeVector && transport.hasDoorbellFds() ? new BackendException(ErrorCode.EINVAL, "peer " + peerVm +
            " has no vector " + vector + " here") : new BackendException(ErrorCode.ENOTSUP, transport.describe() +
            " rings peers by register write, not by an fd a client could hold: use FENCE_SIGNAL");
    }

    /** Rings our own wake vectors named in {@code wakeMask}. */
    void wakeLocal(final int wakeMask)
    {
        ringWakeVectors(localVm, wakeMask);
    }

    /**
     * Rings the wake vectors of {@code vm} named in {@code wakeMask}. The mask comes from shared memory another
     * VM may write: only bits that can name a wake vector are rung, and a failure only skips that vector.
     */
    private boolean ringWakeVectors(final int vm, final int wakeMask)
    {
        boolean rung = false;
        for (int m = wakeMask & IvshmemBackend.WAKE_VECTORS_MASK; m != 0; m &= m - 1)
        {
            try
            {
                rung |= transport.ring(vm, Integer.numberOfTrailingZeros(m));
            }
            catch (final IOException | IllegalArgumentException e)
            {
                LOG.debug("wake vector doorbell to peer {} failed: {}", vm, e.getMessage());
            }
        }
        return rung;
    }

    /** Leases a free wake vector of ours to a local waiter. */
    FenceWake lease() throws BackendException
    {
        synchronized (wakeLock)
        {
            final int own = Math.min(IvshmemBackend.VECTORS, transport.ownVectorCount());
            if (own <= FenceAbi.FIRST_WAKE_VECTOR)
            {
                throw new BackendException(ErrorCode.ENOTSUP, transport.describe() + " gives this VM no wake " +
                    "vectors (" + own + " vectors): use FENCE_WAIT");
            }
            for (int v = FenceAbi.FIRST_WAKE_VECTOR; v < own; v++)
            {
                if ((leases & (1 << v)) == 0)
                {
                    final int fd;
                    try
                    {
                        transport.drainOwn(v); // a stale count from the previous lease would be a spurious wake-up
                        fd = transport.openOwnVector(v);
                    }
                    catch (final IOException e)
                    {
                        throw new BackendException(ErrorCode.EIO, "wake vector " + v + ": " + e.getMessage(), e);
                    }
                    if (fd < 0)
                    {
                        throw new BackendException(ErrorCode.ENOTSUP, transport.describe() + " has no fd for vector " +
                            v);
                    }
                    leases |= 1 << v;
                    return new FenceWake(v, fd);
                }
            }
            throw new BackendException(ErrorCode.EBUSY, "all " + (own - FenceAbi.FIRST_WAKE_VECTOR) + " wake " +
                "vectors of this VM are leased: use FENCE_WAIT");
        }
    }

    void returnLease(final int vector)
    {
        if (vector >= FenceAbi.FIRST_WAKE_VECTOR && vector < IvshmemBackend.VECTORS)
        {
            synchronized (wakeLock)
            {
                leases &= ~(1 << vector);
            }
        }
    }
}
