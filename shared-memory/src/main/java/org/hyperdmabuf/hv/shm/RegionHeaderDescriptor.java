package org.hyperdmabuf.hv.shm;

/**
 * Layout of the region header at offset 0 of a shared region (ABI.md "Region header").
 * All fields little-endian. The header is written by the first daemon that finds the region blank
 * (it wins the CAS of {@code format_state} from 0 to 1); {@code magic} is stored last with release
 * semantics and is the ready flag: readers acquire-load it before reading anything else.
 * <pre>
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                  magic "HDMABUF1" (ready flag)                |  0
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |                        layout_version                         |  8
 *  +---------------------------------------------------------------+
 *  |                        header_length                          | 12
 *  +---------------------------------------------------------------+
 *  |                         region_size                           | 16
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |                          page_size                            | 24
 *  +---------------------------------------------------------------+
 *  |                          max_peers                            | 28
 *  +---------------------------------------------------------------+
 *  |                        ring_capacity                          | 32
 *  +---------------------------------------------------------------+
 *  |                        format_state                           | 36
 *  +---------------------------------------------------------------+
 *  |                      peer_table_offset                        | 40
 *  |                        ring_area_offset                       | 48
 *  |                         ring_stride                           | 56
 *  |                      page_table_offset                        | 64
 *  |                      fence_table_offset                       | 72
 *  +---------------------------------------------------------------+
 *  |                         fence_slots                           | 80
 *  +---------------------------------------------------------------+
 *  |                           reserved                            | 84
 *  +---------------------------------------------------------------+
 *  |                         pool_offset                           | 88
 *  |                          pool_pages                           | 96
 *  |                      formatter_session                        |104
 *  +---------------------------------------------------------------+
 *  |                    reserved (zero) to 4096                    |112
 *  +---------------------------------------------------------------+
 * </pre>
 */
public final class RegionHeaderDescriptor
{
    /** "HDMABUF1" as a little-endian u64. */
    public static final long MAGIC = 0x31465542414D4448L;
    public static final int LAYOUT_VERSION = 1;
    public static final int HEADER_LENGTH = 4096;

    public static final int MAGIC_OFFSET = 0;
    public static final int LAYOUT_VERSION_OFFSET = 8;
    public static final int HEADER_LENGTH_OFFSET = 12;
    public static final int REGION_SIZE_OFFSET = 16;
    public static final int PAGE_SIZE_OFFSET = 24;
    public static final int MAX_PEERS_OFFSET = 28;
    public static final int RING_CAPACITY_OFFSET = 32;
    public static final int FORMAT_STATE_OFFSET = 36;
    public static final int PEER_TABLE_OFFSET_OFFSET = 40;
    public static final int RING_AREA_OFFSET_OFFSET = 48;
    public static final int RING_STRIDE_OFFSET = 56;
    public static final int PAGE_TABLE_OFFSET_OFFSET = 64;
    public static final int FENCE_TABLE_OFFSET_OFFSET = 72;
    public static final int FENCE_SLOTS_OFFSET = 80;
    public static final int POOL_OFFSET_OFFSET = 88;
    public static final int POOL_PAGES_OFFSET = 96;
    public static final int FORMATTER_SESSION_OFFSET = 104;
    /** Bytes of defined fields; the rest of the header is reserved and zero. */
    public static final int DEFINED_LENGTH = 112;

    public static final int FORMAT_STATE_BLANK = 0;
    public static final int FORMAT_STATE_FORMATTING = 1;
    public static final int FORMAT_STATE_READY = 2;

    private RegionHeaderDescriptor()
    {
    }
}
