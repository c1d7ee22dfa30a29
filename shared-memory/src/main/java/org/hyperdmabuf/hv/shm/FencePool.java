package org.hyperdmabuf.hv.shm;

import edu.umd.cs.findbugs.annotations.SuppressFBWarnings;

import java.util.BitSet;

import static org.hyperdmabuf.hv.shm.FenceSlotDescriptor.ACQUIRE_ERROR_OFFSET;
import static org.hyperdmabuf.hv.shm.FenceSlotDescriptor.ACQUIRE_VALUE_OFFSET;
import static org.hyperdmabuf.hv.shm.FenceSlotDescriptor.ACQUIRE_WAITERS_OFFSET;
import static org.hyperdmabuf.hv.shm.FenceSlotDescriptor.OWNER_OFFSET;
import static org.hyperdmabuf.hv.shm.FenceSlotDescriptor.RELEASE_ERROR_OFFSET;
import static org.hyperdmabuf.hv.shm.FenceSlotDescriptor.RELEASE_VALUE_OFFSET;
import static org.hyperdmabuf.hv.shm.FenceSlotDescriptor.RELEASE_WAITERS_OFFSET;
import static org.hyperdmabuf.hv.shm.FenceSlotDescriptor.SLOT_LENGTH;

/**
 * Allocates fence slots of the shared fence table for one peer, like {@link PagePool} does pages: a slot is
 * claimed by CAS of its owner word from 0 to this peer's owner word, and what this peer owns is kept in a
 * private set, which is the truth for freeing. Both timelines are zeroed after the claim and before the
 * slot is handed out, and again before it is released, so a new export never sees an old export's values.
 * Thread-safe.
 */
public final class FencePool
{
    private final MemoryWindow fenceTable;
    private final RegionLayout layout;
    /** Changed under the lock by rebind; volatile, since reclaimSession reads it without the lock. */
    private volatile long ownerWord;
    private final BitSet owned = new BitSet();
    private int hint;
    private long foreignOverwrites;

    @SuppressFBWarnings(value = "EI_EXPOSE_REP2",
        justification = "the pool claims and frees slots in the region's fence table itself, shared with the other peers")
    public FencePool(final MemoryWindow fenceTable, final RegionLayout layout, final int peerId, final long sessionId)
    {
        this.fenceTable = fenceTable;
        this.layout = layout;
        this.ownerWord = PageTableDescriptor.ownerWord(peerId, sessionId);
    }

    /** Number of slots in the table. */
    public int slots()
    {
        return layout.fenceSlots();
    }

    /** Claims a free slot and zeroes its timelines; returns its index, or -1 if every slot is taken (ENOSPC). */
    public synchronized int allocate()
    {
        final int slots = layout.fenceSlots();
        for (int n = 0; n < slots; n++)
        {
            final int index = (hint + n) % slots;
            if (fenceTable.compareAndSetLong(base(index) + OWNER_OFFSET, PageTableDescriptor.FREE, ownerWord))
            {
                zeroTimelines(index);
                owned.set(index);
                hint = index + 1;
                return index;
            }
        }
        return -1;
    }

    /**
     * Zeroes and releases a slot returned by {@link #allocate}. Returns false if this pool does not own it
     * (the caller reports EINVAL). A slot whose owner word another peer overwrote is left alone and counted in
     * {@link #foreignOverwrites()}.
     */
    public synchronized boolean free(final int index)
    {
        if (index < 0 || index >= layout.fenceSlots() || !owned.get(index))
        {
            return false;
        }
        owned.clear(index);
        final int owner = base(index) + OWNER_OFFSET;
        if (fenceTable.getLongVolatile(owner) != ownerWord)
        {
            foreignOverwrites++;
            return true;
        }
        zeroTimelines(index);
        if (!fenceTable.compareAndSetLong(owner, ownerWord, PageTableDescriptor.FREE))
        {
            foreignOverwrites++;
        }
        return true;
    }

    /**
     * Moves every slot this pool holds to the owner word of {@code sessionId}, our new session after a resync,
     * as {@link PagePool#rebind} does for pages; the timelines are left as they are.
     */
    public synchronized void rebind(final int peerId, final long sessionId)
    {
        final long word = PageTableDescriptor.ownerWord(peerId, sessionId);
        for (int i = owned.nextSetBit(0); i >= 0; i = owned.nextSetBit(i + 1))
        {
            if (!fenceTable.compareAndSetLong(base(i) + OWNER_OFFSET, ownerWord, word))
            {
                foreignOverwrites++;
            }
        }
        ownerWord = word;
    }

    /** Owner words found overwritten by another peer when freeing (evidence of a hostile peer). */
    public synchronized long foreignOverwrites()
    {
        return foreignOverwrites;
    }

    /** True if {@code index} is a slot of the table whose owner word names {@code peerId}. */
    public boolean isOwnedBy(final int index, final int peerId)
    {
        return isInRange(index) && peerId >= 0 &&
            PageTableDescriptor.ownerPeer(fenceTable.getLongAcquire(base(index) + OWNER_OFFSET)) == peerId;
    }

    /** True if {@code index} is a slot of the table owned by exactly that incarnation (peer id and session). */
    public boolean isOwnedBy(final int index, final int peerId, final long sessionId)
    {
        return isInRange(index) && peerId >= 0 &&
            fenceTable.getLongAcquire(base(index) + OWNER_OFFSET) == PageTableDescriptor.ownerWord(peerId, sessionId);
    }

    public boolean isInRange(final int index)
    {
        return index >= 0 && index < layout.fenceSlots();
    }

    /** Region offset of slot {@code index}: {@code fence_table_offset + index * 192}. */
    public long slotOffset(final int index)
    {
        if (!isInRange(index))
        {
            throw new IllegalArgumentException("fence slot " + index + " outside [0, " + layout.fenceSlots() + ")");
        }
        return layout.fenceTableOffset() + FenceSlotDescriptor.slotOffset(index);
    }

    /** Free slots of the whole table, counted from the owner words. */
    public int freeSlots()
    {
        int free = 0;
        for (int i = 0; i < layout.fenceSlots(); i++)
        {
            if (fenceTable.getLongAcquire(base(i) + OWNER_OFFSET) == PageTableDescriptor.FREE)
            {
                free++;
            }
        }
        return free;
    }

    /** Slots this peer holds. */
    public synchronized int ownedSlots()
    {
        return owned.cardinality();
    }

    /**
     * Zeroes and releases every slot whose owner word is exactly that of ({@code peerId}, {@code sessionId}),
     * a dead or restarted incarnation; slots of any other incarnation, a newer one of the same peer included,
     * are left alone. Returns the number of slots freed.
     */
    public long reclaimSession(final int peerId, final long sessionId)
    {
        final long word = PageTableDescriptor.ownerWord(peerId, sessionId);
        if (word == ownerWord)
        {
            throw new IllegalArgumentException("reclaiming our own live session " + Long.toHexString(sessionId));
        }
        long freed = 0;
        for (int i = 0; i < layout.fenceSlots(); i++)
        {
            final int owner = base(i) + OWNER_OFFSET;
            if (fenceTable.getLongAcquire(owner) == word)
            {
                // Zero before the release: once the owner word is 0 another peer may claim the slot.
                zeroTimelines(i);
                if (fenceTable.compareAndSetLong(owner, word, PageTableDescriptor.FREE))
                {
                    freed++;
                }
            }
        }
        return freed;
    }

    private void zeroTimelines(final int index)
    {
        final int base = base(index);
        fenceTable.putInt(base + ACQUIRE_ERROR_OFFSET, 0);
        fenceTable.putInt(base + ACQUIRE_WAITERS_OFFSET, 0);
        fenceTable.putInt(base + FenceSlotDescriptor.ACQUIRE_WAKE_OFFSET, 0);
        fenceTable.putLongVolatile(base + ACQUIRE_VALUE_OFFSET, 0);
        fenceTable.putInt(base + RELEASE_ERROR_OFFSET, 0);
        fenceTable.putInt(base + RELEASE_WAITERS_OFFSET, 0);
        fenceTable.putInt(base + FenceSlotDescriptor.RELEASE_WAKE_OFFSET, 0);
        fenceTable.putLongVolatile(base + RELEASE_VALUE_OFFSET, 0);
    }

    private static int base(final int index)
    {
        return index * SLOT_LENGTH;
    }
}
