package org.hyperdmabuf.hv.xen.dev;

import org.hyperdmabuf.hv.nativeio.NativeIoException;

/**
 * Opens the Xen device files of one domain: the real {@code /dev/xen/*} ({@link LinuxXenDevices}) or the test
 * emulation. Everything above this boundary is the same code for both.
 */
public interface XenDevices extends AutoCloseable
{
    /** This domain's id (from xenstore's {@code domid} key on Xen; declared to the emulator in tests). */
    int localDomid();

    GrantAllocDevice openGrantAlloc() throws NativeIoException;

    GrantMapDevice openGrantMap() throws NativeIoException;

    EventChannelDevice openEventChannel() throws NativeIoException;

    @Override
    void close();
}
