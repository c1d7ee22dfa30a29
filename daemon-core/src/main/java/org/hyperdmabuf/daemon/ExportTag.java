package org.hyperdmabuf.daemon;

import org.hyperdmabuf.abi.v1.BufferId;
import org.hyperdmabuf.hv.shm.FenceSlotDescriptor;
import org.hyperdmabuf.hv.shm.MemoryWindow;

/**
 * The export a fence slot fences, named in the slot itself ({@code export_number}, {@code export_nonce}; ABI.md
 * "Fence table"). The sink writes it before it announces an export and clears it before it frees the slot; the
 * source checks it on IMPORT, so an id the source still holds after its export went (a stall it has not yet
 * recovered from, a lost UNEXPORT) is refused instead of mapping pages that may now hold another buffer.
 */
public final class ExportTag
{
    private ExportTag()
    {
    }

    /** Names {@code id} in {@code slot}; the nonce is stored last, with release. */
    public static void write(final MemoryWindow slot, final BufferId id)
    {
        slot.putLong(FenceSlotDescriptor.EXPORT_NUMBER_OFFSET, id.getExportNumber());
        slot.putLongRelease(FenceSlotDescriptor.EXPORT_NONCE_OFFSET, id.getNonce());
    }

    /** Names no export: before the slot is released, so whatever claims it next starts clean. */
    public static void clear(final MemoryWindow slot)
    {
        slot.putLongRelease(FenceSlotDescriptor.EXPORT_NONCE_OFFSET, 0);
        slot.putLong(FenceSlotDescriptor.EXPORT_NUMBER_OFFSET, 0);
    }

    /** True if {@code slot} names {@code id} (a slot the other VM writes: any content is only compared). */
    public static boolean names(final MemoryWindow slot, final BufferId id)
    {
        return slot.getLongAcquire(FenceSlotDescriptor.EXPORT_NONCE_OFFSET) == id.getNonce() &&
            slot.getLong(FenceSlotDescriptor.EXPORT_NUMBER_OFFSET) == id.getExportNumber();
    }
}
