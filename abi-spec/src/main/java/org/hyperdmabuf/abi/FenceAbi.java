package org.hyperdmabuf.abi;

/**
 * Constants of the fence protocol (ABI.md "Fences", "Direct fence wake-ups", "ivshmem specifics"), defined once
 * for the daemons and the client; {@code hyperdmabuf_shm.h} carries the same values and the conformance test
 * compares them.
 */
public final class FenceAbi
{
    /** The value a daemon stores to close a timeline; its error word then says why (EPEERLOST, ENOENT). */
    public static final long POISON_VALUE = Long.MAX_VALUE;
    /** ivshmem vector 0: a message was queued on a control ring. */
    public static final int MESSAGE_VECTOR = 0;
    /** ivshmem vector 1: the fence doorbell, rung after a signal a wait blocked in a daemon may need. */
    public static final int FENCE_VECTOR = 1;
    /** The first wake vector a timeline's wake mask may name (FENCE_WAKE leases vectors from here up). */
    public static final int FIRST_WAKE_VECTOR = 2;

    private FenceAbi()
    {
    }
}
