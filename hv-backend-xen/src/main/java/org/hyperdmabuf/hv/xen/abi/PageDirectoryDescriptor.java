package org.hyperdmabuf.hv.xen.abi;

/**
 * A buffer's page directory (ABI.md "Xen specifics"), after displif's but self-describing: a chain of 4 KiB
 * directory pages, each holding a magic, the buffer's data page count, the ref of its fence page, the grant ref
 * of the next directory page (0 ends the chain; refs 0-7 are reserved by Xen) and up to 1020 data-page refs in
 * order. The export message
 * carries only the first directory page's ref and the buffer's length; the importer checks every directory page's
 * magic and count and the chain length against that length, so a ref that is not a directory is EINVAL.
 * <pre>
 *  +-------------+-------------------+------------------+------------------+-----------------------------+
 *  | magic u32 @0| data_pages u32 @4 | fence_ref u32 @8 | next_ref u32 @12 | data refs u32[1020] @16      |
 *  +-------------+-------------------+------------------+------------------+-----------------------------+
 * </pre>
 * Directory pages are granted read-only to the importer, in their own gntalloc file, so the fd a client gets
 * for the data holds the data pages only.
 */
public final class PageDirectoryDescriptor
{
    /** "HDPD" little-endian. */
    public static final int MAGIC = 0x44504448;
    public static final int MAGIC_OFFSET = 0;
    public static final int DATA_PAGES_OFFSET = 4;
    public static final int FENCE_REF_OFFSET = 8;
    public static final int NEXT_REF_OFFSET = 12;
    public static final int REFS_OFFSET = 16;
    public static final int REFS_PER_PAGE = (XenLimits.PAGE_SIZE - REFS_OFFSET) / 4;

    private PageDirectoryDescriptor()
    {
    }

    /** Data pages of a buffer of {@code length} bytes. */
    public static long dataPages(final long length)
    {
        return (length + XenLimits.PAGE_SIZE - 1) / XenLimits.PAGE_SIZE;
    }

    /** Directory pages needed for {@code dataPages} refs. */
    public static int directoryPages(final long dataPages)
    {
        return (int)((dataPages + REFS_PER_PAGE - 1) / REFS_PER_PAGE);
    }
}
