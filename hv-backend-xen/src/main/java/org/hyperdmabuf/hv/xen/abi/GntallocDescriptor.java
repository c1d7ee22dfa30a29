package org.hyperdmabuf.hv.xen.abi;

/**
 * {@code /dev/xen/gntalloc} ({@code <xen/gntalloc.h>}): the granting side. The producer passes the
 * <b>grantee's</b> domid; pages come zeroed and are reached by mmap(MAP_SHARED) at the returned index.
 * <pre>
 * struct ioctl_gntalloc_alloc_gref    domid u16 @0 | flags u16 @2 | count u32 @4 | index u64 @8 (OUT) | gref_ids u32[] @16 (OUT)
 *                                     sizeof 24; the kernel reads 24 bytes first: buffer = max(24, 16 + 4n)
 * struct ioctl_gntalloc_dealloc_gref  index u64 @0 | count u32 @8 | pad; sizeof 16
 * struct ioctl_gntalloc_unmap_notify  index u64 @0 | action u32 @8 | event_channel_port u32 @12; sizeof 16
 * </pre>
 * Checked against the kernel header by {@code XenUapiConformanceTest}.
 */
public final class GntallocDescriptor
{
    public static final int ALLOC_DOMID_OFFSET = 0;
    public static final int ALLOC_FLAGS_OFFSET = 2;
    public static final int ALLOC_COUNT_OFFSET = 4;
    public static final int ALLOC_INDEX_OFFSET = 8;
    public static final int ALLOC_GREF_IDS_OFFSET = 16;
    public static final int ALLOC_LENGTH = 24;
    public static final int FLAG_WRITABLE = 1;

    public static final int DEALLOC_INDEX_OFFSET = 0;
    public static final int DEALLOC_COUNT_OFFSET = 8;
    public static final int DEALLOC_LENGTH = 16;

    public static final int NOTIFY_INDEX_OFFSET = 0;
    public static final int NOTIFY_ACTION_OFFSET = 8;
    public static final int NOTIFY_PORT_OFFSET = 12;
    public static final int NOTIFY_LENGTH = 16;
    public static final int UNMAP_NOTIFY_CLEAR_BYTE = 1;
    public static final int UNMAP_NOTIFY_SEND_EVENT = 2;

    public static final int IOCTL_ALLOC_GREF = XenIoctls.ioc('G', 5, ALLOC_LENGTH);
    public static final int IOCTL_DEALLOC_GREF = XenIoctls.ioc('G', 6, DEALLOC_LENGTH);
    public static final int IOCTL_SET_UNMAP_NOTIFY = XenIoctls.ioc('G', 7, NOTIFY_LENGTH);

    private GntallocDescriptor()
    {
    }

    /** Bytes of the ALLOC_GREF argument for {@code count} refs. */
    public static int allocLength(final int count)
    {
        return Math.max(ALLOC_LENGTH, ALLOC_GREF_IDS_OFFSET + 4 * count);
    }
}
