package org.hyperdmabuf.hv.nativeio;

import org.junit.jupiter.api.Test;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class VfioAbiTest
{
    /** The values linux/vfio.h's _IO(';', 100 + n) expand to. */
    @Test
    void ioctlNumbersMatchTheKernelHeader()
    {
        assertEquals(0x3B64, VfioAbi.GET_API_VERSION);
        assertEquals(0x3B65, VfioAbi.CHECK_EXTENSION);
        assertEquals(0x3B66, VfioAbi.SET_IOMMU);
        assertEquals(0x3B67, VfioAbi.GROUP_GET_STATUS);
        assertEquals(0x3B68, VfioAbi.GROUP_SET_CONTAINER);
        assertEquals(0x3B6A, VfioAbi.GROUP_GET_DEVICE_FD);
        assertEquals(0x3B6C, VfioAbi.DEVICE_GET_REGION_INFO);
        assertEquals(0x3B6D, VfioAbi.DEVICE_GET_IRQ_INFO);
        assertEquals(0x3B6E, VfioAbi.DEVICE_SET_IRQS);
    }

    @Test
    void aMissingVfioDirectoryIsReportedAsUnavailable(@org.junit.jupiter.api.io.TempDir final Path dir)
    {
        final VfioException e = assertThrows(VfioException.class, () -> VfioDevice.open(dir, 3, "0000:00:04.0"));
        assertEquals(VfioException.Kind.UNAVAILABLE, e.kind());
        assertEquals(Errno.ENOENT, e.errno());
    }
}
