package org.hyperdmabuf.hv.xen.abi;

/** Driver and hypervisor limits that are not in the uapi headers (drivers/xen/*.c, xen/common/grant_table.c). */
public final class XenLimits
{
    public static final int PAGE_SIZE = 4096;

    /**
     * gntalloc's default global page limit, shared by every user of the machine; past it ALLOC_GREF fails with
     * ENOSPC. Raise it with {@code echo N > /sys/module/xen_gntalloc/parameters/limit} (or the module parameter
     * {@code xen_gntalloc.limit=N}).
     */
    public static final int GNTALLOC_DEFAULT_PAGE_LIMIT = 1024;

    /** Most refs one gntdev MAP_GRANT_REF accepts; more is EINVAL. */
    public static final int GNTDEV_MAX_GRANTS_PER_MAP = 65536;

    /** Refs 0-7 are reserved by Xen: 0 is a safe "none" sentinel. */
    public static final int FIRST_USABLE_GRANT_REF = 8;

    /** Xen's default {@code gnttab_max_frames} (64) times 512 v1 entries per frame. */
    public static final int DEFAULT_GRANT_REFS_PER_DOMAIN = 64 * 512;

    /** domid_t values from DOMID_FIRST_RESERVED (0x7FF0) up are not domains. */
    public static final int DOMID_FIRST_RESERVED = 0x7FF0;

    private XenLimits()
    {
    }
}
