package org.hyperdmabuf.hv.shm;

import static org.hyperdmabuf.hv.shm.RegionHeaderDescriptor.HEADER_LENGTH;

/**
 * The offsets of every area of a region, derived from five parameters. Both the formatter and every
 * attaching peer compute it; an attaching peer compares it field by field with the header, so a header
 * scribbled on by a hostile peer is detected rather than used.
 * <pre>
 *  0                      header (4096)
 *  peer_table_offset      max_peers * 128
 *  ring_area_offset       max_peers^2 rings of ring_stride bytes (page-aligned start)
 *  page_table_offset      pool_pages * 8
 *  fence_table_offset     fence_slots * 192
 *  pool_offset            pool_pages * page_size (64 KiB-aligned start) ... region_size
 * </pre>
 */
public record RegionLayout(long regionSize, int pageSize, int maxPeers, int ringCapacity, int fenceSlots,
    long peerTableOffset, long ringAreaOffset, long ringStride, long pageTableOffset, long fenceTableOffset,
    long poolOffset, long poolPages)
{
    public static final int DEFAULT_MAX_PEERS = 8;
    public static final int DEFAULT_RING_CAPACITY = 64 * 1024;
    /** Exports live at once in a region (one slot each); 8192 slots take 1.5 MiB. */
    public static final int DEFAULT_FENCE_SLOTS = 8192;
    public static final int MAX_FENCE_SLOTS = 1 << 20;
    public static final int MAX_PEERS_LIMIT = 256;
    private static final long POOL_ALIGNMENT = 64 * 1024;

    /** Computes the layout; throws IllegalArgumentException naming the parameter when it cannot fit. */
    public static RegionLayout compute(final long regionSize, final int pageSize, final int maxPeers,
        final int ringCapacity, final int fenceSlots)
    {
        if (pageSize < 4096 || Integer.bitCount(pageSize) != 1)
        {
            throw new IllegalArgumentException("page_size=" + pageSize + " must be a power of two >= 4096");
        }
        if (maxPeers < 2 || maxPeers > MAX_PEERS_LIMIT)
        {
            throw new IllegalArgumentException("max_peers=" + maxPeers + " must be in [2, " + MAX_PEERS_LIMIT + "]");
        }
        RingDescriptor.checkCapacity(ringCapacity);
        if (fenceSlots < 0 || fenceSlots > MAX_FENCE_SLOTS)
        {
            throw new IllegalArgumentException("fence_slots=" + fenceSlots + " out of range");
        }
        final long peerTable = HEADER_LENGTH;
        final long ringArea = alignUp(peerTable + (long)maxPeers * PeerSlotDescriptor.SLOT_LENGTH, pageSize);
        final long stride = RingDescriptor.stride(ringCapacity);
        final long pageTable = ringArea + (long)maxPeers * maxPeers * stride;
        // Each pool page costs page_size bytes plus one 8-byte page-table entry.
        final long fixed = pageTable + (long)fenceSlots * FenceSlotDescriptor.SLOT_LENGTH + POOL_ALIGNMENT;
        long pages = (regionSize - fixed) / (pageSize + PageTableDescriptor.ENTRY_LENGTH);
        while (pages > 0)
        {
            final long fenceTable = pageTable + pages * PageTableDescriptor.ENTRY_LENGTH;
            final long pool = alignUp(fenceTable + (long)fenceSlots * FenceSlotDescriptor.SLOT_LENGTH,
                POOL_ALIGNMENT);
            if (pool + pages * pageSize <= regionSize)
            {
                return new RegionLayout(regionSize, pageSize, maxPeers, ringCapacity, fenceSlots, peerTable,
                    ringArea, stride, pageTable, fenceTable, pool, pages);
            }
            pages--;
        }
        throw new IllegalArgumentException("region_size=" + regionSize + " is too small for max_peers=" + maxPeers +
            " and ring_capacity=" + ringCapacity + " (rings alone need " + (pageTable - ringArea) +
            " bytes); use a bigger region, fewer peers or smaller rings");
    }

    /** Offset of the ring carrying records from peer {@code from} to peer {@code to}. */
    public long ringOffset(final int from, final int to)
    {
        return ringAreaOffset + ((long)from * maxPeers + to) * ringStride;
    }

    /** Bytes of the control area (everything before the pool) that daemons map. */
    public long controlLength()
    {
        return poolOffset;
    }

    public long poolBytes()
    {
        return poolPages * pageSize;
    }

    static long alignUp(final long value, final long alignment)
    {
        return (value + alignment - 1) & -alignment;
    }
}
