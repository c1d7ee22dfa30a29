package org.hyperdmabuf.hv.shm;

/**
 * One fence slot of the fence table (ABI.md "Fence table"): an owner word and two timelines, each on its
 * own 64-byte cache line so producer and consumer never write the same line. Values only increase; an
 * error word is stored before its value with release semantics.
 * <pre>
 *  +-----------------------------------------------------------------------+
 *  | owner u64 (as in the page table) | reserved to 16                     |   0
 *  | export_number u64 | export_nonce u64 | reserved to 64                 |  16
 *  +-----------------------------------------------------------------------+
 *  | acquire value u64 | acquire error u32 | acquire waiters u32 |         |  64  producer -&gt; consumer
 *  | acquire wake u32  | reserved to 128                                   |  80
 *  +-----------------------------------------------------------------------+
 *  | release value u64 | release error u32 | release waiters u32 |         | 128  consumer -&gt; producer
 *  | release wake u32  | reserved to 192                                   | 144
 *  +-----------------------------------------------------------------------+
 * </pre>
 * {@code export_number} and {@code export_nonce} name the export the slot fences (two of the three parts of its
 * buffer id; the owner word names the exporter): the exporting daemon writes them before it announces the
 * export and clears them before it releases the slot, and an importing daemon refuses an IMPORT whose id they
 * do not match, so a stale id never maps pages that now hold another buffer.
 * <p>
 * {@code waiters} lets a signaller skip the doorbell when nobody is blocked, without losing a wake-up
 * (a Dekker-style handshake, both sides need a store-load barrier):
 * <ul>
 *   <li>a daemon that blocks a client on a timeline first increments {@code waiters} (atomic add, a full
 *       barrier), then re-checks the value, and decrements {@code waiters} when the wait ends;</li>
 *   <li>a signaller stores the error word, then the value (release), then issues a full fence and loads
 *       {@code waiters} (Java: {@code putLongVolatile} of the value then {@code getIntVolatile}); if it is
 *       non-zero it has its daemon ring the other VM's fence doorbell.</li>
 * </ul>
 * Either the waiter's re-check sees the new value or the signaller sees the waiter. {@code waiters} is
 * written by both VMs, so it is only a hint: a wrong value costs a needless doorbell or a wake-up on the
 * periodic tick instead of the doorbell, never a missed completion.
 * <p>
 * {@code wake} is a bit mask of the waiting VM's doorbell vectors (bit k = vector k, k &ge; 2) on which a
 * client of that VM sleeps, waiting for this timeline (FENCE_WAKE leases the vector). The client sets its
 * bit (atomic OR, a full barrier) before it re-checks the value and sleeps, and clears it when it stops
 * waiting; for a client that cannot write the slot its daemon holds the bit for the whole lease. A
 * signaller loads {@code wake} after the same full fence as {@code waiters} and rings every vector it
 * names: the same handshake, so no wake-up is lost. A wrong mask (the other VM writes it) costs needless
 * doorbells to that VM's own vectors, never a missed completion of ours.
 */
public final class FenceSlotDescriptor
{
    public static final int SLOT_LENGTH = 192;
    public static final int OWNER_OFFSET = 0;
    public static final int EXPORT_NUMBER_OFFSET = 16;
    public static final int EXPORT_NONCE_OFFSET = 24;
    public static final int ACQUIRE_VALUE_OFFSET = 64;
    public static final int ACQUIRE_ERROR_OFFSET = 72;
    public static final int ACQUIRE_WAITERS_OFFSET = 76;
    public static final int ACQUIRE_WAKE_OFFSET = 80;
    public static final int RELEASE_VALUE_OFFSET = 128;
    public static final int RELEASE_ERROR_OFFSET = 136;
    public static final int RELEASE_WAITERS_OFFSET = 140;
    public static final int RELEASE_WAKE_OFFSET = 144;

    private FenceSlotDescriptor()
    {
    }

    /** Region-independent offset of slot {@code index} within the fence table. */
    public static long slotOffset(final int index)
    {
        return (long)index * SLOT_LENGTH;
    }
}
