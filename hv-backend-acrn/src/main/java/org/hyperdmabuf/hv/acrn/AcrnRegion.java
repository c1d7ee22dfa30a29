package org.hyperdmabuf.hv.acrn;

import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.hv.pci.IvshmemPciDevice;
import org.hyperdmabuf.hv.spi.BackendException;

import java.util.Locale;

/**
 * One ACRN ivshmem region as the scenario and acrn-dm name it ({@code hv:/shm_region_0}, {@code dm:/ring0}),
 * with ACRN's constraints: a size that is a power of two from 2 to 512 MiB, and an optional region id in
 * {@code [0x1000, 0xffff]}, which the guest sees as the PCI subsystem id under subsystem vendor 0x8086.
 *
 * @param land     where the region is emulated: by the hypervisor or by acrn-dm
 * @param name     the name without its land prefix (for dm-land, the Service VM's POSIX shm name)
 * @param sizeMiB  the size in MiB, or 0 when not configured (then the device's BAR2 decides, and is checked)
 * @param regionId the region id, or -1 when not configured
 */
public record AcrnRegion(Land land, String name, int sizeMiB, int regionId)
{
    public static final int MIN_SIZE_MIB = 2;
    public static final int MAX_SIZE_MIB = 512;
    /** The hypervisor carves at most this many hv-land regions. */
    public static final int MAX_HV_REGIONS = 8;
    public static final int MIN_REGION_ID = IvshmemPciDevice.ACRN_MIN_REGION_ID;
    public static final int MAX_REGION_ID = 0xFFFF;
    /** MSI-X vectors of an hv-land device; dm-land devices have no working doorbell. */
    public static final int HV_VECTORS = 8;

    /** Where a region lives, prefixed as the scenario and acrn-dm spell it. VMs on different lands cannot talk. */
    public enum Land
    {
        HV("hv:/"),
        DM("dm:/");

        private final String prefix;

        Land(final String prefix)
        {
            this.prefix = prefix;
        }

        public String prefix()
        {
            return prefix;
        }
    }

    public AcrnRegion
    {
        if (sizeMiB != 0 && !validSizeMiB(sizeMiB))
        {
            throw new IllegalArgumentException(land.prefix() + name + ": size " + sizeMiB + " MiB is not a power of " +
                "two from " + MIN_SIZE_MIB + " to " + MAX_SIZE_MIB);
        }
        if (regionId != -1 && (regionId < MIN_REGION_ID || regionId > MAX_REGION_ID))
        {
            throw new IllegalArgumentException(land.prefix() + name + ": region id " + hex(regionId) + " outside [" +
                hex(MIN_REGION_ID) + ", " + hex(MAX_REGION_ID) + "]");
        }
    }

    /** {@code hv:/NAME} or {@code dm:/NAME}, nothing configured but the name. */
    public static AcrnRegion parse(final String spec) throws BackendException
    {
        final String s = spec.trim();
        for (final Land land : Land.values())
        {
            if (s.startsWith(land.prefix()))
            {
                final String name = s.substring(land.prefix().length());
                if (!name.matches("[A-Za-z0-9_.-]+") || name.startsWith("."))
                {
                    throw new BackendException(ErrorCode.EINVAL,
                        "ACRN region '" + spec + "': the name must be letters, " +
                        "digits, '_', '-' or '.' (a POSIX shm name without '/')");
                }
                return new AcrnRegion(land, name, 0, -1);
            }
        }
        throw new BackendException(ErrorCode.EINVAL, "ACRN region '" + spec + "' does not start with hv:/ or dm:/");
    }

    /** A region id as written in configuration: hex, with or without {@code 0x}. */
    public static int parseRegionId(final String value) throws BackendException
    {
        final int id;
        try
        {
            id = Integer.parseInt(value.trim().replaceFirst("^0[xX]", ""), 16);
        }
        catch (final NumberFormatException e)
        {
            throw new BackendException(ErrorCode.EINVAL, "ACRN region id '" + value + "' is not a hex number");
        }
        if (id < MIN_REGION_ID || id > MAX_REGION_ID)
        {
            throw new BackendException(ErrorCode.EINVAL,
                "ACRN region id " + hex(id) + " outside [" + hex(MIN_REGION_ID) +
                ", " + hex(MAX_REGION_ID) + "]");
        }
        return id;
    }

    /** Power of two from {@link #MIN_SIZE_MIB} to {@link #MAX_SIZE_MIB}. */
    public static boolean validSizeMiB(final long sizeMiB)
    {
        return sizeMiB >= MIN_SIZE_MIB && sizeMiB <= MAX_SIZE_MIB && Long.bitCount(sizeMiB) == 1;
    }

    /** Checks a region's actual size in bytes (a BAR2 or a shm file) against ACRN's rule and the configured size. */
    public void checkActualSize(final long bytes, final String where) throws BackendException
    {
        if ((bytes & ((1L << 20) - 1)) != 0 || !validSizeMiB(bytes >> 20))
        {
            throw new BackendException(ErrorCode.EINVAL,
                AcrnIvshmemBackendProvider.NAME + ": " + spec() + ": " + where +
                " has " + bytes + " bytes, not a power of " +
                "two from " + MIN_SIZE_MIB + " to " + MAX_SIZE_MIB + " MiB");
        }
        if (sizeMiB != 0 && bytes != (long)sizeMiB << 20)
        {
            throw new BackendException(ErrorCode.EINVAL,
                AcrnIvshmemBackendProvider.NAME + ": " + spec() + ": " + where +
                " has " + bytes + " bytes but the region " +
                "is configured as " + sizeMiB + " MiB");
        }
    }

    public AcrnRegion withSize(final int sizeMiB)
    {
        return new AcrnRegion(land, name, sizeMiB, regionId);
    }

    public AcrnRegion withRegionId(final int regionId)
    {
        return new AcrnRegion(land, name, sizeMiB, regionId);
    }

    /** As the scenario writes it: {@code hv:/shm_region_0}. */
    public String spec()
    {
        return land.prefix() + name;
    }

    static String hex(final int id)
    {
        return String.format(Locale.ROOT, "0x%04x", id);
    }

    @Override
    public String toString()
    {
        return spec() + (sizeMiB != 0 ? " (" + sizeMiB + " MiB" : " (size from the device") +
            (regionId >= 0 ? ", region id " + hex(regionId) + ")" : ")");
    }
}
