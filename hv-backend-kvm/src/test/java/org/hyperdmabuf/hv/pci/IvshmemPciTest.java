package org.hyperdmabuf.hv.pci;

import org.hyperdmabuf.hv.nativeio.MappedMemory;
import org.hyperdmabuf.hv.nativeio.Native;
import org.hyperdmabuf.hv.nativeio.NativeIoException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The sysfs PCI layer against an {@link EmulatedIvshmemSysfs} tree whose BAR2 files are real shared files. */
class IvshmemPciTest
{
    private static final long MIB = 1 << 20;

    @TempDir
    Path tmp;

    @Test
    void scanFindsOnlyIvshmemDevicesWithTheirAttributes() throws Exception
    {
        final EmulatedIvshmemSysfs sysfs = new EmulatedIvshmemSysfs(tmp);
        sysfs.addHostBridge("0000:00:00.0");
        sysfs.addIvshmem("0000:00:05.0", EmulatedIvshmemSysfs.createMemory(tmp.resolve("acrn"), 2 * MIB), 3, true,
            IvshmemPciDevice.ACRN_SUBSYSTEM_VENDOR, 0x1234);
        sysfs.addIvshmem("0000:00:04.0", EmulatedIvshmemSysfs.createMemory(tmp.resolve("plain"), 4 * MIB), 0, false);

        final List<IvshmemPciDevice> devices = new IvshmemPciScanner(sysfs.devicesDir()).scan();

        assertEquals(2, devices.size(), devices.toString());
        final IvshmemPciDevice plain = devices.get(0);
        assertEquals("0000:00:04.0", plain.address());
        assertEquals(4 * MIB, plain.regionSize());
        assertFalse(plain.msix(), "ivshmem-plain has no BAR1");
        assertEquals(IvshmemPciDevice.VENDOR_ID, plain.subsystemVendor());
        assertEquals(0x1100, plain.subsystemDevice());
        assertEquals(1, plain.revision());
        assertEquals(-1, plain.acrnRegionId());
        final IvshmemPciDevice acrn = devices.get(1);
        assertTrue(acrn.msix());
        assertEquals(2 * MIB, acrn.regionSize());
        assertEquals(0x1234, acrn.acrnRegionId());
    }

    @Test
    void selectorPicksByAddressSizeOrSubsystemAndRefusesAmbiguity() throws Exception
    {
        final EmulatedIvshmemSysfs sysfs = new EmulatedIvshmemSysfs(tmp);
        sysfs.addIvshmem("0000:00:04.0", EmulatedIvshmemSysfs.createMemory(tmp.resolve("a"), 4 * MIB), 0, false);
        sysfs.addIvshmem("0000:00:05.0", EmulatedIvshmemSysfs.createMemory(tmp.resolve("b"), 4 * MIB), 1, true,
            IvshmemPciDevice.ACRN_SUBSYSTEM_VENDOR, 0x1001);
        sysfs.addIvshmem("0000:00:06.0", EmulatedIvshmemSysfs.createMemory(tmp.resolve("c"), 8 * MIB), 1, true);
        final IvshmemPciScanner scanner = new IvshmemPciScanner(sysfs.devicesDir());

        assertEquals("0000:00:05.0", scanner.select(new IvshmemDeviceSelector("00:05.0", 0, -1)).address());
        assertEquals("0000:00:06.0", scanner.select(new IvshmemDeviceSelector(null, 8 * MIB, -1)).address());
        assertEquals("0000:00:05.0", scanner.select(new IvshmemDeviceSelector(null, 0, 0x1001)).address());
        assertEquals("0000:00:04.0", scanner.select(new IvshmemDeviceSelector(null, 4 * MIB, 0x1100)).address());

        final PciDeviceException ambiguous = assertThrows(PciDeviceException.class,
            () -> scanner.select(new IvshmemDeviceSelector(null, 4 * MIB, -1)));
        assertEquals("EINVAL", ambiguous.code().name());
        assertTrue(ambiguous.getMessage().contains("0000:00:04.0") &&
            ambiguous.getMessage().contains("0000:00:05.0"), ambiguous.getMessage());
        final PciDeviceException none = assertThrows(PciDeviceException.class,
            () -> scanner.select(new IvshmemDeviceSelector("0000:00:07.0", 0, -1)));
        assertEquals("ENODEV", none.code().name());
        assertThrows(IllegalArgumentException.class, () -> new IvshmemDeviceSelector("04.0", 0, -1));
        assertThrows(IllegalArgumentException.class, () -> new IvshmemDeviceSelector(null, 0, 0x10000));
    }

    @Test
    void aMissingSysfsDirectoryIsEnodev()
    {
        final PciDeviceException e = assertThrows(PciDeviceException.class,
            () -> new IvshmemPciScanner(tmp.resolve("nothing")).scan());
        assertEquals("ENODEV", e.code().name());
    }

    @Test
    void twoOpenedDevicesOnOneFileShareMemoryAndDriveTheirRegisters() throws Exception
    {
        final Path memory = EmulatedIvshmemSysfs.createMemory(Files.createTempFile(Path.of("/dev/shm"), "pci", ""),
            2 * MIB);
        try
        {
            final EmulatedIvshmemSysfs guest1 = new EmulatedIvshmemSysfs(tmp.resolve("g1"));
            final EmulatedIvshmemSysfs guest2 = new EmulatedIvshmemSysfs(tmp.resolve("g2"));
            final Path dir1 = guest1.addIvshmem("0000:00:04.0", memory, 1, true);
            guest2.addIvshmem("0000:00:04.0", memory, 2, true);
            final IvshmemPciDevice dev1 = new IvshmemPciScanner(guest1.devicesDir()).select(IvshmemDeviceSelector.ANY);
            final IvshmemPciDevice dev2 = new IvshmemPciScanner(guest2.devicesDir()).select(IvshmemDeviceSelector.ANY);
            try (IvshmemDeviceHandle h1 = IvshmemDeviceHandle.open(dev1, true);
                IvshmemDeviceHandle h2 = IvshmemDeviceHandle.open(dev2, false);
                MappedMemory m1 = h1.map(MIB, MIB);
                MappedMemory m2 = h2.map(MIB, MIB))
            {
                assertEquals("1", Files.readString(dir1.resolve("enable"), StandardCharsets.US_ASCII).trim());
                assertEquals(1, h1.registers().ivPosition());
                assertEquals(2, h2.registers().ivPosition());
                m1.buffer().order(ByteOrder.LITTLE_ENDIAN).putLong(4096, 0x1122334455667788L);
                assertEquals(0x1122334455667788L, m2.buffer().order(ByteOrder.LITTLE_ENDIAN).getLong(4096));

                h1.registers().ringDoorbell(2, 1);
                assertEquals(2 << 16 | 1, EmulatedIvshmemSysfs.lastDoorbell(dir1));
                assertThrows(IllegalArgumentException.class, () -> h1.registers().ringDoorbell(0x10000, 0));
                assertThrows(IllegalArgumentException.class, () -> h1.registers().ringDoorbell(0, 256));

                assertThrows(NativeIoException.class, () -> h1.map(2 * MIB - 4096, 8192));
                final int ro = h2.openMemory(true);
                try
                {
                    final NativeIoException denied = assertThrows(NativeIoException.class,
                        () -> MappedMemory.map(ro, 0, 4096, false));
                    assertEquals("EACCES", denied.errnoName());
                    try (MappedMemory view = MappedMemory.map(ro, MIB, 8192, true))
                    {
                        assertEquals(0x1122334455667788L, view.buffer().order(ByteOrder.LITTLE_ENDIAN).getLong(4096));
                    }
                }
                finally
                {
                    Native.closeQuietly(ro);
                }
            }
        }
        finally
        {
            Files.deleteIfExists(memory);
        }
    }

    @Test
    void aDeviceWhoseRegisterFileIsNotABarIsRefused() throws Exception
    {
        final EmulatedIvshmemSysfs sysfs = new EmulatedIvshmemSysfs(tmp);
        final Path dir = sysfs.addIvshmem("0000:00:04.0", EmulatedIvshmemSysfs.createMemory(tmp.resolve("m"), MIB), 0,
            false);
        Files.write(dir.resolve("resource0"), new byte[8]);
        final IvshmemPciDevice dev = new IvshmemPciScanner(sysfs.devicesDir()).select(IvshmemDeviceSelector.ANY);
        assertEquals("EIO",
            assertThrows(PciDeviceException.class, () -> IvshmemDeviceHandle.open(dev, false)).code().name());
    }
}
