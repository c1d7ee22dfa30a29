package org.hyperdmabuf.hv.spi;

/**
 * The daemon rings a peer VM's fence doorbell (ivshmem vector 1) after a signal that a wait blocked in that VM's
 * daemon may need. Doorbells are hints: a backend without them rings nothing ({@link #of}) and the peer's fence
 * tick finds the signal.
 */
public interface PeerFenceDoorbells extends BackendCapability
{
    /** Rings {@code peerVm}'s fence doorbell. False if the peer is not connected (nothing rung). */
    boolean ringFence(int peerVm);

    /**
     * Rings {@code peerVm}'s fence doorbell and each of its wake vectors named in {@code wakeMask} (a timeline's
     * wake word, written by that VM: vectors it does not have are skipped).
     */
    default boolean ringFence(final int peerVm, final int wakeMask)
    {
        return ringFence(peerVm);
    }

    /** {@code backend}'s fence doorbells, or for a backend without them one that rings nothing. */
    static PeerFenceDoorbells of(final HypervisorBackend backend)
    {
        return backend.capability(PeerFenceDoorbells.class).orElse(MissingCapabilities.NO_DOORBELLS);
    }
}
