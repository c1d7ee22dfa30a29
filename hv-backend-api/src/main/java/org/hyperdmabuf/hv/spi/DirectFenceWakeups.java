package org.hyperdmabuf.hv.spi;

import org.hyperdmabuf.abi.FenceAbi;

/**
 * Fence wake-ups without a daemon in between (ABI.md "Direct fence wake-ups"): doorbell fds a local client rings
 * a peer with itself (FENCE_DOORBELL) and wake vectors of this VM leased to local waiters (FENCE_WAKE). A backend
 * without them answers ENOTSUP ({@link #of}): its clients signal and wait through their daemon.
 */
public interface DirectFenceWakeups extends BackendCapability
{
    /**
     * A new fd a local client writes (an eventfd: an 8-byte 1) to ring {@code peerVm}'s fence doorbell itself,
     * without asking this daemon to. The caller owns the fd. ENOTSUP when that peer would not hear it (it
     * polls); ENOPEER when it is not connected.
     */
    default int openFenceDoorbell(final int peerVm) throws BackendException
    {
        return openFenceDoorbell(peerVm, FenceAbi.FENCE_VECTOR);
    }

    /**
     * As {@link #openFenceDoorbell(int)} for doorbell {@code vector} of {@code peerVm}: 0 or 1 is the fence
     * doorbell, from {@link FenceAbi#FIRST_WAKE_VECTOR} up a wake vector (EINVAL when that VM has no such vector).
     */
    int openFenceDoorbell(int peerVm, int vector) throws BackendException;

    /** One of this VM's wake vectors, leased to a local client: its number and a new fd (the caller owns it). */
    record FenceWake(int vector, int fd)
    {
    }

    /**
     * Leases a free wake vector of this VM until {@link #returnFenceWake}: the fd is an eventfd the peers'
     * signallers ring. EBUSY when all are leased.
     */
    FenceWake leaseFenceWake() throws BackendException;

    /** Ends the lease of {@code vector}; a stale count left on it is drained first. */
    void returnFenceWake(int vector);

    /** Rings this VM's own wake vectors named in {@code wakeMask} (this daemon closed their timeline). */
    void wakeLocal(int wakeMask);

    /** {@code backend}'s direct wake-ups, or for a backend without them the ENOTSUP answers it gave before. */
    static DirectFenceWakeups of(final HypervisorBackend backend)
    {
        return backend.capability(DirectFenceWakeups.class)
            .orElseGet(() -> new MissingCapabilities.NoDirectWakeups(backend.name()));
    }
}
