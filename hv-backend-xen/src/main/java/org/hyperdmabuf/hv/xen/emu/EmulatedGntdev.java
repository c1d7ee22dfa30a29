package org.hyperdmabuf.hv.xen.emu;

import org.hyperdmabuf.hv.nativeio.Native;
import org.hyperdmabuf.hv.nativeio.NativeIoException;
import org.hyperdmabuf.hv.xen.abi.XenLimits;
import org.hyperdmabuf.hv.xen.dev.GrantMapDevice;

/**
 * EMULATION of a gntdev file: after {@link #map}, {@link #fd()} is the granter's memfd (O_RDONLY if any grant
 * mapped in this file is read-only) and each map's index is its pages' offset in it.
 */
final class EmulatedGntdev extends EmulatedDeviceFile implements GrantMapDevice
{
    private int mappedFd = -1;

    EmulatedGntdev(final String socketPath, final int domid) throws NativeIoException
    {
        super(socketPath, EmuWire.HELLO_GNTDEV, domid, "gntdev");
    }

    @Override
    public synchronized int fd()
    {
        return mappedFd;
    }

    @Override
    public long map(final int granterDomid, final int[] refs, final int count) throws NativeIoException
    {
        final int[] w = new int[3 + count];
        w[0] = EmuWire.GNT_MAP;
        w[1] = granterDomid;
        w[2] = count;
        System.arraycopy(refs, 0, w, 3, count);
        final EmuWire.Frame reply = call(w, "MAP_GRANT_REF(" + count + " refs of dom" + granterDomid + ")");
        synchronized (this)
        {
            Native.closeQuietly(mappedFd); // the new fd covers every map of this file, with their common access
            mappedFd = reply.fd();
        }
        return (long)reply.words()[1] * XenLimits.PAGE_SIZE;
    }

    @Override
    public void unmap(final long index, final int count) throws NativeIoException
    {
        call(new int[] {EmuWire.GNT_UNMAP, (int)(index / XenLimits.PAGE_SIZE), count}, "UNMAP_GRANT_REF");
    }

    @Override
    public synchronized void close()
    {
        Native.closeQuietly(mappedFd);
        mappedFd = -1;
        super.close();
    }
}
