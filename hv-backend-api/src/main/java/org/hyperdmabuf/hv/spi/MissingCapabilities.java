package org.hyperdmabuf.hv.spi;

import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.hv.shm.MemoryWindow;

/** What a backend without a capability answers: the refusals, no-ops and zeros callers fall back on. */
final class MissingCapabilities
{
    static final PeerFenceDoorbells NO_DOORBELLS = peerVm -> false;
    static final PeerMemoryReclaim NOTHING_TO_RECLAIM = (vm, sessionId) -> 0;

    private MissingCapabilities()
    {
    }

    /** No fence table: exports get no slot (ENOTSUP) and no peer's slot is valid. */
    record NoFenceSlots(String backend) implements FenceSlots
    {
        @Override
        public FenceRef allocateFence() throws BackendException
        {
            throw new BackendException(ErrorCode.ENOTSUP, backend + " has no fence slots");
        }

        @Override
        public void freeFence(final FenceRef fence) throws BackendException
        {
            throw new BackendException(ErrorCode.ENOTSUP, backend + " has no fence slots");
        }

        @Override
        public MemoryWindow fenceWindow(final int index)
        {
            throw new UnsupportedOperationException(backend + " has no fence slots");
        }

        @Override
        public boolean validateFence(final int exporterVm, final int index)
        {
            return false;
        }

        @Override
        public long fenceRegionOffset(final int index)
        {
            throw new UnsupportedOperationException(backend + " has no fence slots");
        }
    }

    /** No doorbell fds nor wake vectors: clients ring and wait through their daemon. */
    record NoDirectWakeups(String backend) implements DirectFenceWakeups
    {
        @Override
        public int openFenceDoorbell(final int peerVm) throws BackendException
        {
            throw new BackendException(ErrorCode.ENOTSUP, backend + " cannot hand out fence doorbells: use FENCE_SIGNAL");
        }

        @Override
        public int openFenceDoorbell(final int peerVm, final int vector) throws BackendException
        {
            if (vector <= 1)
            {
                return openFenceDoorbell(peerVm);
            }
            throw new BackendException(ErrorCode.ENOTSUP, backend + " has no wake vectors: use FENCE_SIGNAL");
        }

        @Override
        public FenceWake leaseFenceWake() throws BackendException
        {
            throw new BackendException(ErrorCode.ENOTSUP, backend + " has no wake vectors: use FENCE_WAIT");
        }

        @Override
        public void returnFenceWake(final int vector)
        {
        }

        @Override
        public void wakeLocal(final int wakeMask)
        {
        }
    }
}
