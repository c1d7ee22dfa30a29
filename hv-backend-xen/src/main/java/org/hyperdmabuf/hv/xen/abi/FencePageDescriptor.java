package org.hyperdmabuf.hv.xen.abi;

/**
 * The fence page of a Xen buffer (ABI.md "Xen specifics"): page 0 of the buffer's gntalloc file, granted
 * writable to the importer, before the data pages (which start at {@link #DATA_OFFSET} of the same file). It
 * holds one fence slot (FenceSlotDescriptor layout) at 0 and a magic the exporter clears when the buffer goes.
 * <pre>
 *  +------------------------------+---------------------------+------------------+
 *  | fence slot (192 bytes) @0    | zero                      | magic u32 @4092  |
 *  +------------------------------+---------------------------+------------------+
 * </pre>
 */
public final class FencePageDescriptor
{
    public static final int SLOT_OFFSET = 0;
    public static final int MAGIC_OFFSET = XenLimits.PAGE_SIZE - 4;
    /** "HDFN" little-endian. */
    public static final int MAGIC = 0x4E464448;
    /** Where the data pages start in the buffer's gntalloc (exporter) and gntdev (importer) files. */
    public static final int DATA_OFFSET = XenLimits.PAGE_SIZE;

    private FencePageDescriptor()
    {
    }
}
