package org.hyperdmabuf.hv.acrn;

import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.hv.spi.BackendException;

import java.util.ArrayList;
import java.util.List;

/**
 * The ACRN regions a platform defines, as configuration mirrors the scenario: entries
 * {@code LAND:/NAME,SIZE_MB[,REGION_ID]} separated by {@code ;}, e.g.
 * {@code hv:/shm_region_0,2,0x1000;hv:/shm_region_1,64,0x1001}. The scenario's
 * {@code <IVSHMEM_REGION>hv:/shm_region_0, 2, 0:2</IVSHMEM_REGION>} gives name and size; the region id is what the
 * guest sees as PCI subsystem id, so naming a region selects its device. Checked as ACRN checks it: sizes, at most
 * {@link AcrnRegion#MAX_HV_REGIONS} hv-land regions, unique names and region ids.
 */
public final class AcrnRegionTable
{
    private final List<AcrnRegion> regions;

    private AcrnRegionTable(final List<AcrnRegion> regions)
    {
        this.regions = List.copyOf(regions);
    }

    public static AcrnRegionTable parse(final String value) throws BackendException
    {
        final List<AcrnRegion> regions = new ArrayList<>();
        int hvRegions = 0;
        for (final String entry : value.split(";"))
        {
            if (entry.isBlank())
            {
                continue;
            }
            final String[] fields = entry.split(",");
            if (fields.length < 2 || fields.length > 3)
            {
                throw new BackendException(ErrorCode.EINVAL, "ACRN region entry '" + entry.trim() +
                    "': expected LAND:/NAME,SIZE_MB[,REGION_ID]");
            }
            final AcrnRegion named = AcrnRegion.parse(fields[0]);
            final int sizeMiB;
            try
            {
                sizeMiB = Integer.parseInt(fields[1].trim());
            }
            catch (final NumberFormatException e)
            {
                throw new BackendException(ErrorCode.EINVAL,
                    named.spec() + ": size '" + fields[1].trim() + "' is not a " +
                    "number of MiB");
            }
            if (!AcrnRegion.validSizeMiB(sizeMiB))
            {
                throw new BackendException(ErrorCode.EINVAL,
                    named.spec() + ": size " + sizeMiB + " MiB is not a power of " +
                    "two from " + AcrnRegion.MIN_SIZE_MIB + " to " + AcrnRegion.MAX_SIZE_MIB);
            }
            final int regionId = fields.length == 3 ? AcrnRegion.parseRegionId(fields[2]) : -1;
            final AcrnRegion region = named.withSize(sizeMiB).withRegionId(regionId);
            for (final AcrnRegion other : regions)
            {
                if (other.land() == region.land() && other.name().equals(region.name()))
                {
                    throw new BackendException(ErrorCode.EINVAL, "ACRN region " + region.spec() + " is defined twice");
                }
                if (regionId >= 0 && other.regionId() == regionId)
                {
                    throw new BackendException(ErrorCode.EINVAL,
                        "ACRN region id " + AcrnRegion.hex(regionId) + " is used by " +
                        other.spec() + " and " + region.spec());
                }
            }
            if (region.land() == AcrnRegion.Land.HV && ++hvRegions > AcrnRegion.MAX_HV_REGIONS)
            {
                throw new BackendException(ErrorCode.EINVAL,
                    "more than " + AcrnRegion.MAX_HV_REGIONS + " hv-land regions: " +
                    "the hypervisor carves at most " + AcrnRegion.MAX_HV_REGIONS);
            }
            regions.add(region);
        }
        return new AcrnRegionTable(regions);
    }

    public List<AcrnRegion> regions()
    {
        return regions;
    }

    /** The entry for {@code named}'s land and name; a typed error listing the defined ones otherwise. */
    public AcrnRegion lookup(final AcrnRegion named) throws BackendException
    {
        for (final AcrnRegion region : regions)
        {
            if (region.land() == named.land() && region.name().equals(named.name()))
            {
                return region;
            }
        }
        throw new BackendException(ErrorCode.ENOENT,
            "ACRN region " + named.spec() + " is not in the region table " + regions);
    }
}
