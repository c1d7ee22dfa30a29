package org.hyperdmabuf.hv.shm;

/**
 * The page table: one little-endian u64 owner word per pool page (ABI.md "Page table"). 0 means free;
 * otherwise the low 32 bits are {@code peer_id + 1} and the high 32 bits the low half of the owner's
 * session id, so pages of a dead or restarted peer are recognizable. A peer claims a page by CAS from 0 to
 * its owner word and frees it by CAS back; every peer keeps its own allocations in private memory and
 * only uses this table to coordinate, never as its bookkeeping.
 */
public final class PageTableDescriptor
{
    public static final int ENTRY_LENGTH = 8;
    public static final long FREE = 0L;

    private PageTableDescriptor()
    {
    }

    public static long ownerWord(final int peerId, final long sessionId)
    {
        return ((sessionId & 0xFFFF_FFFFL) << 32) | ((peerId + 1L) & 0xFFFF_FFFFL);
    }

    /** The peer id in an owner word, or -1 for a free page. */
    public static int ownerPeer(final long ownerWord)
    {
        return ownerWord == FREE ? -1 : (int)((ownerWord & 0xFFFF_FFFFL) - 1);
    }
}
