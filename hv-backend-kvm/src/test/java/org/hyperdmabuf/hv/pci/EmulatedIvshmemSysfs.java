package org.hyperdmabuf.hv.pci;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * An <b>emulation</b> of a guest's {@code /sys/bus/pci/devices} for tests where no real guest runs: each device
 * is a directory of plain files with sysfs's names and formats ({@code vendor} = {@code 0x1af4\n}...);
 * {@code resource0} is a 256-byte file holding the registers (IVPosition preset, Doorbell writes just land in
 * the file: no interrupt is delivered, as in a guest without vfio), {@code resource1} exists only for the
 * doorbell variant, and {@code resource2} is a symbolic link to a shared-memory file, so two emulated guests
 * given the same file share memory for real, as two QEMU guests on one {@code memory-backend-file} do.
 */
public final class EmulatedIvshmemSysfs
{
    private final Path devicesDir;

    public EmulatedIvshmemSysfs(final Path root) throws IOException
    {
        this.devicesDir = Files.createDirectories(root.resolve("bus/pci/devices"));
    }

    /** The directory to hand to {@link IvshmemPciScanner}. */
    public Path devicesDir()
    {
        return devicesDir;
    }

    /** A non-ivshmem device (the i440FX host bridge) that scanning must skip. */
    public Path addHostBridge(final String address) throws IOException
    {
        final Path dir = Files.createDirectories(devicesDir.resolve(address));
        write(dir, "vendor", "0x8086");
        write(dir, "device", "0x1237");
        write(dir, "subsystem_vendor", "0x1af4");
        write(dir, "subsystem_device", "0x1100");
        return dir;
    }

    /**
     * An ivshmem device at {@code address} whose BAR2 is {@code memory} (an existing file of the region's size)
     * and whose IVPosition reads {@code ivPosition}; {@code doorbell} adds BAR1 as {@code ivshmem-doorbell} has.
     */
    public Path addIvshmem(final String address, final Path memory, final int ivPosition, final boolean doorbell,
        final int subsystemVendor, final int subsystemDevice) throws IOException
    {
        final Path dir = Files.createDirectories(devicesDir.resolve(address));
        write(dir, "vendor", "0x1af4");
        write(dir, "device", "0x1110");
        write(dir, "class", "0x050000");
        write(dir, "revision", "0x01");
        write(dir, "subsystem_vendor", String.format("0x%04x", subsystemVendor));
        write(dir, "subsystem_device", String.format("0x%04x", subsystemDevice));
        write(dir, "enable", "0");
        final ByteBuffer bar0 = ByteBuffer.allocate(IvshmemRegisters.LENGTH).order(ByteOrder.LITTLE_ENDIAN);
        bar0.putInt(IvshmemRegisters.IV_POSITION_OFFSET, ivPosition);
        Files.write(dir.resolve("resource0"), bar0.array());
        if (doorbell)
        {
            Files.write(dir.resolve("resource1"), new byte[4096]);
        }
        Files.createSymbolicLink(dir.resolve("resource2"), memory.toAbsolutePath());
        return dir;
    }

    /** A QEMU-like device (subsystem 1af4:1100). */
    public Path addIvshmem(final String address, final Path memory, final int ivPosition, final boolean doorbell)
        throws IOException
    {
        return addIvshmem(address, memory, ivPosition, doorbell, IvshmemPciDevice.VENDOR_ID, 0x1100);
    }

    /** The last value written to the Doorbell register of the device in {@code dir}. */
    public static int lastDoorbell(final Path dir) throws IOException
    {
        return register(dir, IvshmemRegisters.DOORBELL_OFFSET);
    }

    public static int register(final Path dir, final int offset) throws IOException
    {
        final ByteBuffer bar0 = ByteBuffer.wrap(Files.readAllBytes(dir.resolve("resource0")))
            .order(ByteOrder.LITTLE_ENDIAN);
        return bar0.getInt(offset);
    }

    /** A zero-filled file of {@code size} bytes standing for a region's backing (put it on a tmpfs). */
    public static Path createMemory(final Path file, final long size) throws IOException
    {
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw"))
        {
            f.setLength(size);
        }
        return file;
    }

    private static void write(final Path dir, final String name, final String value) throws IOException
    {
        Files.write(dir.resolve(name), (value + "\n").getBytes(StandardCharsets.US_ASCII));
    }
}
