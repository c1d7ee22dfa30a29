package org.hyperdmabuf.hv.xen.abi;

/**
 * {@code /dev/xen/gntdev} ({@code <xen/gntdev.h>}): the mapping side. The consumer passes the <b>granter's</b>
 * domid. MAP_GRANT_REF only records the refs and returns an index; the hypercall happens at
 * mmap(count * 4096, prot, MAP_SHARED, fd, index), read-only (GNTMAP_readonly) without PROT_WRITE.
 * <pre>
 * struct ioctl_gntdev_grant_ref           domid u32 @0 | ref u32 @4; sizeof 8
 * struct ioctl_gntdev_map_grant_ref       count u32 @0 | pad | index u64 @8 (OUT) | refs grant_ref[] @16; sizeof 24
 * struct ioctl_gntdev_unmap_grant_ref     index u64 @0 | count u32 @8 | pad; sizeof 16
 * struct ioctl_gntdev_get_offset_for_vaddr vaddr u64 @0 | offset u64 @8 (OUT) | count u32 @16 (OUT) | pad; sizeof 24
 * struct ioctl_gntdev_unmap_notify        index u64 @0 | action u32 @8 | event_channel_port u32 @12; sizeof 16
 * </pre>
 * Checked against the kernel header by {@code XenUapiConformanceTest}.
 */
public final class GntdevDescriptor
{
    public static final int GRANT_REF_DOMID_OFFSET = 0;
    public static final int GRANT_REF_REF_OFFSET = 4;
    public static final int GRANT_REF_LENGTH = 8;

    public static final int MAP_COUNT_OFFSET = 0;
    public static final int MAP_INDEX_OFFSET = 8;
    public static final int MAP_REFS_OFFSET = 16;
    public static final int MAP_LENGTH = 24;

    public static final int UNMAP_INDEX_OFFSET = 0;
    public static final int UNMAP_COUNT_OFFSET = 8;
    public static final int UNMAP_LENGTH = 16;

    public static final int VADDR_VADDR_OFFSET = 0;
    public static final int VADDR_OFFSET_OFFSET = 8;
    public static final int VADDR_COUNT_OFFSET = 16;
    public static final int VADDR_LENGTH = 24;

    public static final int NOTIFY_INDEX_OFFSET = 0;
    public static final int NOTIFY_ACTION_OFFSET = 8;
    public static final int NOTIFY_PORT_OFFSET = 12;
    public static final int NOTIFY_LENGTH = 16;

    public static final int IOCTL_MAP_GRANT_REF = XenIoctls.ioc('G', 0, MAP_LENGTH);
    public static final int IOCTL_UNMAP_GRANT_REF = XenIoctls.ioc('G', 1, UNMAP_LENGTH);
    public static final int IOCTL_GET_OFFSET_FOR_VADDR = XenIoctls.ioc('G', 2, VADDR_LENGTH);
    public static final int IOCTL_SET_UNMAP_NOTIFY = XenIoctls.ioc('G', 7, NOTIFY_LENGTH);

    private GntdevDescriptor()
    {
    }

    /** Bytes of the MAP_GRANT_REF argument for {@code count} refs. */
    public static int mapLength(final int count)
    {
        return Math.max(MAP_LENGTH, MAP_REFS_OFFSET + GRANT_REF_LENGTH * count);
    }
}
