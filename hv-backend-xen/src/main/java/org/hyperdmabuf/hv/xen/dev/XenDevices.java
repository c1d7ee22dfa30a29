package org.hyperdmabuf.hv.xen.dev;

import org.hyperdmabuf.hv.nativeio.NativeIoException;
import org.hyperdmabuf.hv.xen.store.XenStoreClient;

import java.io.IOException;

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

    /**
     * This domain's connection to xenstore, as libxenstore opens it: {@code socketPath} if given, else
     * {@code $XENSTORED_PATH}, the default socket, then {@code /dev/xen/xenbus}.
     */
    default XenStoreClient openXenStore(final String socketPath, final XenStoreClient.WatchListener watches)
        throws IOException
    {
        return XenStoreClient.open(socketPath, watches);
    }

    @Override
    void close();
}
