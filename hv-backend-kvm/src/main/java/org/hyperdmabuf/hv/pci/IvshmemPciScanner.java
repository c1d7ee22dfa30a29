package org.hyperdmabuf.hv.pci;

import org.hyperdmabuf.abi.v1.ErrorCode;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * Finds ivshmem devices ({@code 1af4:1110}) in a sysfs PCI device directory. Only plain sysfs files are read
 * ({@code vendor}, {@code device}, {@code subsystem_vendor}, {@code subsystem_device}, {@code revision} and the
 * sizes of {@code resourceN}, which sysfs reports as the BAR sizes), so the directory can be a tree of ordinary
 * files for tests.
 */
public final class IvshmemPciScanner
{
    /** Where Linux lists PCI functions. */
    public static final Path SYSFS_PCI_DEVICES = Path.of("/sys/bus/pci/devices");

    private static final Logger LOG = LoggerFactory.getLogger(IvshmemPciScanner.class);

    private final Path devicesDir;

    /** Scans {@code devicesDir}, normally {@link #SYSFS_PCI_DEVICES}. */
    public IvshmemPciScanner(final Path devicesDir)
    {
        this.devicesDir = devicesDir;
    }

    public Path devicesDir()
    {
        return devicesDir;
    }

    /** Every ivshmem device with a shared-memory BAR, in address order. */
    public List<IvshmemPciDevice> scan() throws PciDeviceException
    {
        final List<IvshmemPciDevice> found = new ArrayList<>();
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(devicesDir))
        {
            for (final Path dir : entries)
            {
                final IvshmemPciDevice device = probe(dir);
                if (device != null)
                {
                    found.add(device);
                }
            }
        }
        catch (final NoSuchFileException e)
        {
            throw new PciDeviceException(ErrorCode.ENODEV,
                "no PCI device directory " + devicesDir + " (sysfs not mounted?)");
        }
        catch (final IOException e)
        {
            throw new PciDeviceException(ErrorCode.EIO, "cannot list " + devicesDir + ": " + e.getMessage(), e);
        }
        found.sort(Comparator.comparing(IvshmemPciDevice::address));
        return found;
    }

    /** The one device {@code selector} picks. */
    public IvshmemPciDevice select(final IvshmemDeviceSelector selector) throws PciDeviceException
    {
        return selector.selectFrom(scan());
    }

    /** The ivshmem device in {@code dir}, or null if it is another device or has no shared memory BAR. */
    private static IvshmemPciDevice probe(final Path dir) throws PciDeviceException
    {
        final Path address = dir.getFileName(); // the PCI address; null only for a root, never a device
        if (address == null || !Files.isDirectory(dir))
        {
            return null;
        }
        try
        {
            if (readHex(dir, "vendor", -1) != IvshmemPciDevice.VENDOR_ID ||
                readHex(dir, "device", -1) != IvshmemPciDevice.DEVICE_ID)
            {
                return null;
            }
            final Path memory = dir.resolve("resource2");
            if (!Files.exists(memory))
            {
                LOG.warn("ivshmem device {} has no resource2 (BAR2 not assigned); skipped", address);
                return null;
            }
            return new IvshmemPciDevice(address.toString(), dir, readHex(dir, "subsystem_vendor", 0),
                readHex(dir, "subsystem_device", 0), readHex(dir, "revision", 0), Files.size(memory),
                Files.exists(dir.resolve("resource1")));
        }
        catch (final IOException | NumberFormatException e)
        {
            throw new PciDeviceException(ErrorCode.EIO, "cannot read PCI device " + dir + ": " + e.getMessage(), e);
        }
    }

    /** A sysfs hex attribute like {@code 0x1af4}; {@code missing} if the file does not exist. */
    static int readHex(final Path dir, final String name, final int missing) throws IOException
    {
        final Path file = dir.resolve(name);
        if (!Files.exists(file))
        {
            return missing;
        }
        final String text = new String(Files.readAllBytes(file), StandardCharsets.US_ASCII).trim();
        return Integer.parseInt(text.startsWith("0x") || text.startsWith("0X") ? text.substring(2) : text, 16);
    }
}
