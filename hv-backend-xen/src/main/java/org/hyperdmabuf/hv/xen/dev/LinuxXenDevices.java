package org.hyperdmabuf.hv.xen.dev;

import org.hyperdmabuf.hv.nativeio.NativeIoException;

import java.nio.file.Files;
import java.nio.file.Paths;

/** The real device files of the domain this process runs in. */
public final class LinuxXenDevices implements XenDevices
{
    private final int domid;

    public LinuxXenDevices(final int domid)
    {
        this.domid = domid;
    }

    /** Null when all three devices exist, else what is missing (and which module provides it). */
    public static String missingDevices()
    {
        final StringBuilder missing = new StringBuilder();
        check(missing, LinuxGntallocDevice.PATH, "xen-gntalloc");
        check(missing, LinuxGntdevDevice.PATH, "xen-gntdev");
        check(missing, LinuxEvtchnDevice.PATH, "xen-evtchn");
        return missing.length() == 0 ? null : missing.toString().trim();
    }

    private static void check(final StringBuilder missing, final String path, final String module)
    {
        if (!Files.exists(Paths.get(path)))
        {
            missing.append(' ').append(path).append(" (module ").append(module).append(")");
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
        return new LinuxGntallocDevice();
    }

    @Override
    public GrantMapDevice openGrantMap() throws NativeIoException
    {
        return new LinuxGntdevDevice();
    }

    @Override
    public EventChannelDevice openEventChannel() throws NativeIoException
    {
        return new LinuxEvtchnDevice();
    }

    @Override
    public void close()
    {
    }
}
