package org.hyperdmabuf.hv.pci;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * One ivshmem PCI function as sysfs describes it ({@code /sys/bus/pci/devices/DOMAIN:BUS:DEV.FN}).
 *
 * @param address          the sysfs name, e.g. {@code 0000:00:04.0}
 * @param directory        the device's sysfs directory
 * @param subsystemVendor  PCI subsystem vendor ({@code 0x1af4} from QEMU, {@code 0x8086} for ACRN regions)
 * @param subsystemDevice  PCI subsystem id ({@code 0x1100} from QEMU, the region id on ACRN)
 * @param revision         1 since QEMU 2.6 (MSI-X), 0 before
 * @param regionSize       size of BAR2, the shared memory ({@code resource2})
 * @param msix             whether BAR1 (MSI-X table) exists: {@code ivshmem-doorbell} and ACRN hv-land have it,
 *                         {@code ivshmem-plain} has no interrupts and no doorbell
 */
public record IvshmemPciDevice(String address, Path directory, int subsystemVendor, int subsystemDevice,
    int revision, long regionSize, boolean msix)
{
    public static final int VENDOR_ID = 0x1af4;
    public static final int DEVICE_ID = 0x1110;
    /** ACRN exposes a region id as subsystem id under this subsystem vendor (Intel). */
    public static final int ACRN_SUBSYSTEM_VENDOR = 0x8086;
    public static final int ACRN_MIN_REGION_ID = 0x1000;

    /** {@code resource0}: BAR0, the registers. */
    public Path registersFile()
    {
        return directory.resolve("resource0");
    }

    /** {@code resource2}: BAR2, the shared memory. */
    public Path memoryFile()
    {
        return directory.resolve("resource2");
    }

    /** The ACRN region id carried in the subsystem id, or -1 when the device is not an ACRN region with one. */
    public int acrnRegionId()
    {
        return subsystemVendor == ACRN_SUBSYSTEM_VENDOR && subsystemDevice >= ACRN_MIN_REGION_ID ?
            subsystemDevice : -1;
    }

    /** The driver bound to the device ({@code uio_pci_generic}, {@code vfio-pci}...), or null if none. */
    public String driver()
    {
        final Path link = directory.resolve("driver");
        try
        {
            if (!Files.isSymbolicLink(link))
            {
                return null;
            }
            final Path driver = Files.readSymbolicLink(link).getFileName(); // null for a link to "/" or ""
            return driver == null ? null : driver.toString();
        }
        catch (final java.io.IOException e)
        {
            return null;
        }
    }

    @Override
    public String toString()
    {
        return String.format("%s (ivshmem rev %d, subsystem %04x:%04x, %d bytes, %s)", address, revision,
            subsystemVendor, subsystemDevice, regionSize, msix ? "MSI-X" : "no interrupts");
    }
}
