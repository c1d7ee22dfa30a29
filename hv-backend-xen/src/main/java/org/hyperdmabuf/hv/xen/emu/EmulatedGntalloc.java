package org.hyperdmabuf.hv.xen.emu;

import org.hyperdmabuf.hv.nativeio.NativeIoException;
import org.hyperdmabuf.hv.xen.abi.XenLimits;
import org.hyperdmabuf.hv.xen.dev.GrantAllocDevice;

/** EMULATION of a gntalloc file: its fd is a memfd holding exactly the pages this file allocated. */
final class EmulatedGntalloc extends EmulatedDeviceFile implements GrantAllocDevice
{
    EmulatedGntalloc(final String socketPath, final int domid) throws NativeIoException
    {
        super(socketPath, EmuWire.HELLO_GNTALLOC, domid, "gntalloc");
    }

    @Override
    public int fd()
    {
        return openFd;
    }

    @Override
    public long allocate(final int granteeDomid, final int count, final boolean writable, final int[] refsOut)
        throws NativeIoException
    {
        final int[] w = call(new int[] {EmuWire.GNT_ALLOC, granteeDomid, writable ? 1 : 0, count},
            "ALLOC_GREF(" + count + " pages to dom" + granteeDomid + ")").words();
        System.arraycopy(w, 3, refsOut, 0, count);
        return (long)w[1] * XenLimits.PAGE_SIZE;
    }

    @Override
    public void deallocate(final long index, final int count) throws NativeIoException
    {
        call(new int[] {EmuWire.GNT_DEALLOC, (int)(index / XenLimits.PAGE_SIZE), count}, "DEALLOC_GREF");
    }
}
