package org.hyperdmabuf.hv.xen.dev;

import org.hyperdmabuf.hv.nativeio.NativeIoException;

import java.nio.ByteBuffer;

import static org.hyperdmabuf.hv.xen.abi.GntdevDescriptor.GRANT_REF_DOMID_OFFSET;
import static org.hyperdmabuf.hv.xen.abi.GntdevDescriptor.GRANT_REF_LENGTH;
import static org.hyperdmabuf.hv.xen.abi.GntdevDescriptor.GRANT_REF_REF_OFFSET;
import static org.hyperdmabuf.hv.xen.abi.GntdevDescriptor.IOCTL_MAP_GRANT_REF;
import static org.hyperdmabuf.hv.xen.abi.GntdevDescriptor.IOCTL_UNMAP_GRANT_REF;
import static org.hyperdmabuf.hv.xen.abi.GntdevDescriptor.MAP_COUNT_OFFSET;
import static org.hyperdmabuf.hv.xen.abi.GntdevDescriptor.MAP_INDEX_OFFSET;
import static org.hyperdmabuf.hv.xen.abi.GntdevDescriptor.MAP_REFS_OFFSET;
import static org.hyperdmabuf.hv.xen.abi.GntdevDescriptor.UNMAP_COUNT_OFFSET;
import static org.hyperdmabuf.hv.xen.abi.GntdevDescriptor.UNMAP_INDEX_OFFSET;
import static org.hyperdmabuf.hv.xen.abi.GntdevDescriptor.UNMAP_LENGTH;
import static org.hyperdmabuf.hv.xen.abi.GntdevDescriptor.mapLength;

/** {@code /dev/xen/gntdev}: one file per imported buffer. */
public final class LinuxGntdevDevice extends LinuxDeviceFile implements GrantMapDevice
{
    public static final String PATH = "/dev/xen/gntdev";

    public LinuxGntdevDevice() throws NativeIoException
    {
        super(PATH);
    }

    @Override
    public long map(final int granterDomid, final int[] refs, final int count) throws NativeIoException
    {
        final ByteBuffer arg = argument(mapLength(count));
        arg.putInt(MAP_COUNT_OFFSET, count);
        for (int i = 0; i < count; i++)
        {
            final int at = MAP_REFS_OFFSET + GRANT_REF_LENGTH * i;
            arg.putInt(at + GRANT_REF_DOMID_OFFSET, granterDomid);
            arg.putInt(at + GRANT_REF_REF_OFFSET, refs[i]);
        }
        ioctl(IOCTL_MAP_GRANT_REF, arg, "MAP_GRANT_REF(" + count + " refs of dom" + granterDomid + ")");
        return arg.getLong(MAP_INDEX_OFFSET);
    }

    @Override
    public void unmap(final long index, final int count) throws NativeIoException
    {
        final ByteBuffer arg = argument(UNMAP_LENGTH);
        arg.putLong(UNMAP_INDEX_OFFSET, index);
        arg.putInt(UNMAP_COUNT_OFFSET, count);
        ioctl(IOCTL_UNMAP_GRANT_REF, arg, "UNMAP_GRANT_REF");
    }
}
