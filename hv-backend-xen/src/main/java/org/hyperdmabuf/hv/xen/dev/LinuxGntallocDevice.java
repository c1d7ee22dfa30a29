package org.hyperdmabuf.hv.xen.dev;

import org.hyperdmabuf.hv.nativeio.NativeIoException;

import java.nio.ByteBuffer;

import static org.hyperdmabuf.hv.xen.abi.GntallocDescriptor.ALLOC_COUNT_OFFSET;
import static org.hyperdmabuf.hv.xen.abi.GntallocDescriptor.ALLOC_DOMID_OFFSET;
import static org.hyperdmabuf.hv.xen.abi.GntallocDescriptor.ALLOC_FLAGS_OFFSET;
import static org.hyperdmabuf.hv.xen.abi.GntallocDescriptor.ALLOC_GREF_IDS_OFFSET;
import static org.hyperdmabuf.hv.xen.abi.GntallocDescriptor.ALLOC_INDEX_OFFSET;
import static org.hyperdmabuf.hv.xen.abi.GntallocDescriptor.DEALLOC_COUNT_OFFSET;
import static org.hyperdmabuf.hv.xen.abi.GntallocDescriptor.DEALLOC_INDEX_OFFSET;
import static org.hyperdmabuf.hv.xen.abi.GntallocDescriptor.DEALLOC_LENGTH;
import static org.hyperdmabuf.hv.xen.abi.GntallocDescriptor.FLAG_WRITABLE;
import static org.hyperdmabuf.hv.xen.abi.GntallocDescriptor.IOCTL_ALLOC_GREF;
import static org.hyperdmabuf.hv.xen.abi.GntallocDescriptor.IOCTL_DEALLOC_GREF;
import static org.hyperdmabuf.hv.xen.abi.GntallocDescriptor.allocLength;

/** {@code /dev/xen/gntalloc}: one file per shared buffer. */
public final class LinuxGntallocDevice extends LinuxDeviceFile implements GrantAllocDevice
{
    public static final String PATH = "/dev/xen/gntalloc";

    public LinuxGntallocDevice() throws NativeIoException
    {
        super(PATH);
    }

    @Override
    public long allocate(final int granteeDomid, final int count, final boolean writable, final int[] refsOut)
        throws NativeIoException
    {
        final ByteBuffer arg = argument(allocLength(count));
        arg.putShort(ALLOC_DOMID_OFFSET, (short)granteeDomid);
        arg.putShort(ALLOC_FLAGS_OFFSET, (short)(writable ? FLAG_WRITABLE : 0));
        arg.putInt(ALLOC_COUNT_OFFSET, count);
        ioctl(IOCTL_ALLOC_GREF, arg, "ALLOC_GREF(" + count + " pages to dom" + granteeDomid + ")");
        for (int i = 0; i < count; i++)
        {
            refsOut[i] = arg.getInt(ALLOC_GREF_IDS_OFFSET + 4 * i);
        }
        return arg.getLong(ALLOC_INDEX_OFFSET);
    }

    @Override
    public void deallocate(final long index, final int count) throws NativeIoException
    {
        final ByteBuffer arg = argument(DEALLOC_LENGTH);
        arg.putLong(DEALLOC_INDEX_OFFSET, index);
        arg.putInt(DEALLOC_COUNT_OFFSET, count);
        ioctl(IOCTL_DEALLOC_GREF, arg, "DEALLOC_GREF");
    }
}
