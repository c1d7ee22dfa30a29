package org.hyperdmabuf.hv.shm;

/**
 * One fence slot of the fence table (ABI.md "Fence table"): an owner word and two timelines, each on its
 * own 64-byte cache line so producer and consumer never write the same line. Values only increase; an
 * error word is stored before its value with release semantics.
 * <pre>
 *  +------------------------------------------------------+
 *  | owner u64 (as in the page table) | reserved to 64    |   0
 *  +------------------------------------------------------+
 *  | acquire value u64 | acquire error u32 | reserved     |  64  producer -&gt; consumer
 *  +------------------------------------------------------+
 *  | release value u64 | release error u32 | reserved     | 128  consumer -&gt; producer
 *  +------------------------------------------------------+
 * </pre>
 */
public final class FenceSlotDescriptor
{
    public static final int SLOT_LENGTH = 192;
    public static final int OWNER_OFFSET = 0;
    public static final int ACQUIRE_VALUE_OFFSET = 64;
    public static final int ACQUIRE_ERROR_OFFSET = 72;
    public static final int RELEASE_VALUE_OFFSET = 128;
    public static final int RELEASE_ERROR_OFFSET = 136;

    private FenceSlotDescriptor()
    {
    }
}
