package org.hyperdmabuf.hv.xen.emu;

import org.hyperdmabuf.hv.nativeio.NativeIoException;
import org.hyperdmabuf.hv.nativeio.UnixSocket;
import org.hyperdmabuf.hv.xen.dev.EventChannelDevice;
import org.hyperdmabuf.hv.xen.dev.GrantAllocDevice;
import org.hyperdmabuf.hv.xen.dev.GrantMapDevice;
import org.hyperdmabuf.hv.xen.dev.XenDevices;
import org.hyperdmabuf.hv.xen.store.XenStoreClient;

/**
 * EMULATION: the device files of one emulated domain, served by a {@link XenHypervisorEmulator}. Holding this
 * object open keeps the domain alive; closing it (or the process dying) destroys the domain.
 */
public final class EmulatedXenDevices implements XenDevices
{
    private final String socketPath;
    private final int domid;
    private final UnixSocket domain;

    /** Creates domain {@code domid} on the emulator at {@code socketPath}; EEXIST if it is alive already. */
    public EmulatedXenDevices(final String socketPath, final int domid) throws NativeIoException
    {
        this.socketPath = socketPath;
        this.domid = domid;
        this.domain = UnixSocket.connect(socketPath);
        try
        {
            EmuWire.send(domain, new int[] {EmuWire.HELLO_DOMAIN, domid}, 2, -1);
            final int status = EmuWire.receive(domain).words()[0];
            if (status < 0)
            {
                throw new NativeIoException("emulated domain " + domid + " creation", -status);
            }
        }
        catch (final NativeIoException e)
        {
            domain.close();
            throw e;
        }
        catch (final java.io.IOException e)
        {
            domain.close();
            throw new NativeIoException("emulated domain " + domid + " creation (" + e.getMessage() + ")",
                org.hyperdmabuf.hv.nativeio.Errno.EIO);
        }
    }

    @Override
    public int localDomid()
    {
        return domid;
    }

    @Override
    public GrantAllocDevice openGrantAlloc() throws NativeIoException
    {
        return new EmulatedGntalloc(socketPath, domid);
    }

    @Override
    public GrantMapDevice openGrantMap() throws NativeIoException
    {
        return new EmulatedGntdev(socketPath, domid);
    }

    @Override
    public EventChannelDevice openEventChannel() throws NativeIoException
    {
        return new EmulatedEvtchn(socketPath, domid);
    }

    /**
     * EMULATION of {@code /dev/xen/xenbus}: a connection to the fake xenstored at {@code socketPath} that declares
     * this domain, so xenstored applies the node permissions of a domain (not dom0's privilege) to it.
     */
    @Override
    public XenStoreClient openXenStore(final String socketPath, final XenStoreClient.WatchListener watches)
        throws java.io.IOException
    {
        if (socketPath == null)
        {
            throw new NativeIoException("the Xen emulation needs the fake xenstored's socket (option xenstore)",
                org.hyperdmabuf.hv.nativeio.Errno.EINVAL);
        }
        return XenStoreClient.over(EmuWire.connectAsDomain(socketPath, domid), watches, "dom" + domid);
    }

    @Override
    public void close()
    {
        domain.close();
    }
}
