package org.hyperdmabuf.hv.acrn;

import org.hyperdmabuf.hv.nativeio.Native;
import org.hyperdmabuf.hv.pci.IvshmemPciDevice;
import org.hyperdmabuf.hv.pci.IvshmemPciScanner;
import org.hyperdmabuf.hv.pci.PciDeviceException;
import org.hyperdmabuf.hv.spi.BackendException;
import org.hyperdmabuf.hv.spi.BackendProvider;
import org.hyperdmabuf.hv.spi.HypervisorBackend;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/** ServiceLoader entry for the ACRN backend ({@link AcrnBackendConfig} lists the options). */
public final class AcrnIvshmemBackendProvider implements BackendProvider
{
    public static final String NAME = "acrn-ivshmem";
    /** The ACRN HSM, present in the Service VM. */
    static final Path HSM_DEVICE = Path.of("/dev/acrn_hsm");

    @Override
    public String name()
    {
        return NAME;
    }

    /**
     * Only on ACRN: in the Service VM ({@code /dev/acrn_hsm} exists; it is only looked at, never opened: it is
     * acrn-dm's) or in a VM with an ACRN region's device (subsystem 8086:ID). Elsewhere the backend still works
     * when named (emulations, a dm-land-like QEMU setup) but is not picked as the default.
     */
    @Override
    public boolean isAvailable()
    {
        return unavailabilityCause() == null;
    }

    @Override
    public String unavailabilityCause()
    {
        final Throwable cause = Native.unavailabilityCause();
        if (cause != null)
        {
            return "native layer unavailable: " + cause;
        }
        if (Files.exists(HSM_DEVICE))
        {
            return null;
        }
        try
        {
            for (final IvshmemPciDevice device : new IvshmemPciScanner(IvshmemPciScanner.SYSFS_PCI_DEVICES).scan())
            {
                if (device.acrnRegionId() >= 0)
                {
                    return null;
                }
            }
        }
        catch (final PciDeviceException e)
        {
            return "not on ACRN: " + e.getMessage();
        }
        return "not on ACRN: no " + HSM_DEVICE + " (Service VM) and no ivshmem device with subsystem vendor 8086 " +
            "and a region id (ACRN VM)";
    }

    @Override
    public HypervisorBackend create(final Map<String, String> options) throws BackendException
    {
        return AcrnBackendConfig.parse(options).newBackend();
    }
}
