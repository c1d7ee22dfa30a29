package org.hyperdmabuf.hv.spi;

/**
 * Survivors free a dead session's shared memory. Only backends whose memory outlives its allocator (one region
 * for all peers) have it; elsewhere a session's memory goes with it and there is nothing to free ({@link #of}).
 */
public interface PeerMemoryReclaim extends BackendCapability
{
    /**
     * Zeroes and releases the shared memory (pool pages and fence slots) still held by the dead or restarted
     * session {@code sessionId} of {@code vm}; memory of any other session, a newer one of the same VM
     * included, is untouched. Call it only when no local consumer maps that memory any more. Returns the
     * number of pages plus slots freed. EBUSY if that session is up; EINVAL for our own session.
     */
    long reclaimPeerMemory(int vm, long sessionId) throws BackendException;

    /** {@code backend}'s reclaim, or for a backend without it one that frees nothing (0). */
    static PeerMemoryReclaim of(final HypervisorBackend backend)
    {
        return backend.capability(PeerMemoryReclaim.class).orElse(MissingCapabilities.NOTHING_TO_RECLAIM);
    }
}
