package org.hyperdmabuf.hv.acrn;

import org.hyperdmabuf.hv.spi.BackendException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

import java.util.StringJoiner;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** ACRN's region rules as configuration states them: names, sizes, region ids, at most 8 hv-land regions. */
class AcrnRegionTableTest
{
    @Test
    void parsesTheScenarioRegionsAndLooksThemUpByLandAndName() throws Exception
    {
        final AcrnRegionTable table = AcrnRegionTable.parse(
            "hv:/shm_region_0, 2, 0x1000; hv:/shm_region_1,512,FFFF ;dm:/shm_region_0,64");
        assertEquals(3, table.regions().size());
        assertEquals(new AcrnRegion(AcrnRegion.Land.HV, "shm_region_1", 512, 0xFFFF),
            table.lookup(AcrnRegion.parse("hv:/shm_region_1")));
        assertEquals(new AcrnRegion(AcrnRegion.Land.DM, "shm_region_0", 64, -1),
            table.lookup(AcrnRegion.parse("dm:/shm_region_0")), "same name on another land is another region");
        assertError("ENOENT", () -> table.lookup(AcrnRegion.parse("hv:/shm_region_2")));
    }

    @Test
    void sizesArePowersOfTwoFrom2To512MiB()
    {
        for (final String size : new String[] {"0", "1", "3", "6", "1024", "-2", "2M", "x"})
        {
            assertError("EINVAL", () -> AcrnRegionTable.parse("hv:/r," + size + ",0x1000"));
        }
    }

    @Test
    void regionIdsAreHexFrom0x1000To0xffffAndUnique()
    {
        assertError("EINVAL", () -> AcrnRegionTable.parse("hv:/r,2,0xfff"));
        assertError("EINVAL", () -> AcrnRegionTable.parse("hv:/r,2,0x10000"));
        assertError("EINVAL", () -> AcrnRegionTable.parse("hv:/r,2,zz"));
        assertError("EINVAL", () -> AcrnRegionTable.parse("hv:/a,2,0x1000;dm:/b,2,0x1000"));
        assertError("EINVAL", () -> AcrnRegionTable.parse("hv:/a,2,0x1000;hv:/a,4,0x1001"));
    }

    @Test
    void atMostEightHvLandRegionsWhileDmLandDoesNotCount() throws Exception
    {
        final StringJoiner eight = new StringJoiner(";");
        for (int i = 0; i < AcrnRegion.MAX_HV_REGIONS; i++)
        {
            eight.add("hv:/shm_region_" + i + ",2," + Integer.toHexString(0x1000 + i));
        }
        assertEquals(10, AcrnRegionTable.parse(eight + ";dm:/a,2;dm:/b,2").regions().size());
        assertError("EINVAL", () -> AcrnRegionTable.parse(eight + ";hv:/shm_region_8,2"));
    }

    @Test
    void namesCarryTheirLandPrefixAndArePosixShmNames()
    {
        assertError("EINVAL", () -> AcrnRegion.parse("shm_region_0"));
        assertError("EINVAL", () -> AcrnRegion.parse("hv:shm_region_0"));
        assertError("EINVAL", () -> AcrnRegion.parse("hv:/"));
        assertError("EINVAL", () -> AcrnRegion.parse("dm:/a/b"));
        assertError("EINVAL", () -> AcrnRegion.parse("dm:/.."));
        assertError("EINVAL", () -> AcrnRegionTable.parse("hv:/r"));
        assertError("EINVAL", () -> AcrnRegionTable.parse("hv:/r,2,0x1000,0:2"));
    }

    static void assertError(final String error, final Executable action)
    {
        final BackendException e = assertThrows(BackendException.class, action);
        assertEquals(error, e.code().name(), e.getMessage());
    }
}
