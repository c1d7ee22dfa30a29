package org.hyperdmabuf.hv.xen;

import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.hv.nativeio.Native;
import org.hyperdmabuf.hv.nativeio.NativeIoException;
import org.hyperdmabuf.hv.spi.BackendException;
import org.hyperdmabuf.hv.spi.BackendProvider;
import org.hyperdmabuf.hv.spi.ErrorCodes;
import org.hyperdmabuf.hv.spi.HypervisorBackend;
import org.hyperdmabuf.hv.xen.dev.LinuxXenDevices;
import org.hyperdmabuf.hv.xen.dev.XenDevices;
import org.hyperdmabuf.hv.xen.emu.EmulatedXenDevices;

import java.util.Map;

/**
 * ServiceLoader entry for {@link XenBackend}. Available where the three Xen devices exist; elsewhere only when
 * chosen by name with the {@code emulator} option (an EMULATED hypervisor for tests and demos), so the default
 * backend on a machine without Xen stays kvm-ivshmem.
 */
public final class XenBackendProvider implements BackendProvider
{
    @Override
    public String name()
    {
        return XenBackend.NAME;
    }

    @Override
    public boolean isAvailable()
    {
        return Native.isAvailable() && LinuxXenDevices.missingDevices() == null;
    }

    @Override
    public String unavailabilityCause()
    {
        if (!Native.isAvailable())
        {
            return "native layer unavailable: " + Native.unavailabilityCause();
        }
        final String missing = LinuxXenDevices.missingDevices();
        return missing == null ? null : "not a Xen domain with the grant devices: missing " + missing +
            "; to run on the Xen emulation instead, pass -O emulator=<socket> -O xenstore=<socket>";
    }

    /** See {@link XenBackend} for the options; {@code domid} is required. */
    @Override
    public HypervisorBackend create(final Map<String, String> options) throws BackendException
    {
        final String domid = options.get(XenConfig.OPTION_DOMID);
        if (domid == null || !domid.matches("[0-9]{1,5}"))
        {
            throw new BackendException(ErrorCode.EINVAL,
                "option domid=<this domain's id> is required (xen), got " + domid);
        }
        final String emulator = options.get(XenConfig.OPTION_EMULATOR);
        final XenDevices devices;
        if (emulator != null)
        {
            try
            {
                devices = new EmulatedXenDevices(emulator, Integer.parseInt(domid));
            }
            catch (final NativeIoException e)
            {
                throw new BackendException(ErrorCodes.of(e), "Xen emulator at " + emulator + ": " + e.getMessage(), e);
            }
        }
        else
        {
            if (!isAvailable())
            {
                throw new BackendException(ErrorCode.ENOTSUP, unavailabilityCause());
            }
            devices = new LinuxXenDevices(Integer.parseInt(domid));
        }
        try
        {
            return new XenBackend(options, devices);
        }
        catch (final BackendException | RuntimeException e)
        {
            devices.close();
            throw e;
        }
    }
}
