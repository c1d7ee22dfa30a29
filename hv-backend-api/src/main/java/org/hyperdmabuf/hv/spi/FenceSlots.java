package org.hyperdmabuf.hv.spi;

import org.hyperdmabuf.hv.shm.MemoryWindow;

/**
 * Fence slots (ABI.md "Fence table"): two timelines per export, in memory both VMs map. A backend without them
 * refuses exports' fences with ENOTSUP and accepts no peer's slot ({@link #of}).
 */
public interface FenceSlots extends BackendCapability
{
    /** Claims a fence slot with both timelines zeroed; ENOSPC when the table is full. */
    FenceRef allocateFence() throws BackendException;

    /**
     * Claims the fence slot for an export of {@code buffer}. Backends whose clients map fences from the buffer's
     * own fd (xen: the slot is a page of the buffer's grant file) need the buffer; the others ignore it.
     */
    default FenceRef allocateFence(final BackendBuffer buffer) throws BackendException
    {
        return allocateFence();
    }

    /** Zeroes and releases a slot from {@link #allocateFence}; EINVAL if it is not one of ours. */
    void freeFence(FenceRef fence) throws BackendException;

    /**
     * The daemon's own mapping of fence slot {@code index} ({@code FenceSlotDescriptor} offsets), for waits and
     * signals done in the daemon. Valid until the backend closes. IllegalArgumentException if out of range.
     */
    MemoryWindow fenceWindow(int index);

    /**
     * The daemon's mapping of fence slot {@code index} of {@code exporterVm} (after {@link #validateFence} of the
     * same pair accepted it). Backends whose slot indices are per exporter (xen: grant refs) need the VM.
     */
    default MemoryWindow fenceWindow(final int exporterVm, final int index)
    {
        return fenceWindow(index);
    }

    /**
     * The caller no longer reads {@code window}, obtained from {@link #fenceWindow(int, int)} for {@code exporterVm}
     * (the export is gone and no local import or wait uses it). Backends that map each exporter's fence page
     * separately (xen) unmap it after the last user; the others keep their fence table mapped and ignore it.
     */
    default void releaseFenceWindow(final int exporterVm, final MemoryWindow window)
    {
    }

    /**
     * True if {@code index} is a fence slot currently owned by {@code exporterVm} in the session this backend
     * knows it by: the check an importer applies to a slot index received in an export message.
     */
    boolean validateFence(int exporterVm, int index);

    /** Region offset of fence slot {@code index}, for clients that map it. IllegalArgumentException if out of range. */
    long fenceRegionOffset(int index);

    /** {@code backend}'s fence slots, or for a backend without them the refusals it answered before it had any. */
    static FenceSlots of(final HypervisorBackend backend)
    {
        return backend.capability(FenceSlots.class).orElseGet(() -> new MissingCapabilities.NoFenceSlots(backend.name()));
    }
}
