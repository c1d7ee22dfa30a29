package org.hyperdmabuf.hv.xen.abi;

/** Linux {@code _IOC(_IOC_NONE, type, nr, size)}: {@code size << 16 | type << 8 | nr} (direction bits zero). */
final class XenIoctls
{
    private XenIoctls()
    {
    }

    static int ioc(final char type, final int nr, final int size)
    {
        return size << 16 | type << 8 | nr;
    }
}
