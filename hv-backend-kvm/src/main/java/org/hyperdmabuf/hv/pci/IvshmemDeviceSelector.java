package org.hyperdmabuf.hv.pci;

import org.hyperdmabuf.abi.v1.ErrorCode;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Which ivshmem device a daemon uses when a guest has several: by PCI address, by region size, by subsystem id
 * (the ACRN region id) or any combination; a criterion left unset matches every device. Exactly one device
 * must match, so a guest with two same-sized regions needs an address or a subsystem id.
 *
 * @param address         {@code 0000:00:04.0} (a short {@code 00:04.0} means domain 0000), or null
 * @param regionSize      BAR2 size in bytes, or 0
 * @param subsystemDevice PCI subsystem id, or -1
 */
public record IvshmemDeviceSelector(String address, long regionSize, int subsystemDevice)
{
    public static final IvshmemDeviceSelector ANY = new IvshmemDeviceSelector(null, 0, -1);

    public IvshmemDeviceSelector
    {
        if (address != null)
        {
            address = normalize(address);
        }
        if (regionSize < 0)
        {
            throw new IllegalArgumentException("region size " + regionSize + " is negative");
        }
        if (subsystemDevice < -1 || subsystemDevice > 0xFFFF)
        {
            throw new IllegalArgumentException("subsystem id " + subsystemDevice + " outside [0, 0xffff]");
        }
    }

    public boolean matches(final IvshmemPciDevice device)
    {
        return (address == null || address.equals(device.address())) &&
            (regionSize == 0 || regionSize == device.regionSize()) &&
            (subsystemDevice < 0 || subsystemDevice == device.subsystemDevice());
    }

    /** The one device of {@code devices} that matches; a typed error naming the candidates otherwise. */
    public IvshmemPciDevice selectFrom(final List<IvshmemPciDevice> devices) throws PciDeviceException
    {
        final List<IvshmemPciDevice> matching = new ArrayList<>();
        for (final IvshmemPciDevice device : devices)
        {
            if (matches(device))
            {
                matching.add(device);
            }
        }
        if (matching.size() == 1)
        {
            return matching.get(0);
        }
        if (matching.isEmpty())
        {
            throw new PciDeviceException(ErrorCode.ENODEV, "no ivshmem device matches " + this + "; found " +
                (devices.isEmpty() ? "none" : devices.toString()));
        }
        throw new PciDeviceException(ErrorCode.EINVAL,
            matching.size() + " ivshmem devices match " + this + ": " + matching +
            "; choose one by address, region size or subsystem id");
    }

    private static String normalize(final String address)
    {
        final String a = address.trim().toLowerCase(Locale.ROOT);
        final String full = a.chars().filter(c -> c == ':').count() == 1 ? "0000:" + a : a;
        if (!full.matches("[0-9a-f]{4}:[0-9a-f]{2}:[0-1][0-9a-f]\\.[0-7]"))
        {
            throw new IllegalArgumentException("PCI address '" + address + "' is not DOMAIN:BUS:DEVICE.FUNCTION");
        }
        return full;
    }

    @Override
    public String toString()
    {
        final List<String> parts = new ArrayList<>();
        if (address != null)
        {
            parts.add("address " + address);
        }
        if (regionSize != 0)
        {
            parts.add("region size " + regionSize);
        }
        if (subsystemDevice >= 0)
        {
            parts.add(String.format("subsystem id 0x%04x", subsystemDevice));
        }
        return parts.isEmpty() ? "(any)" : String.join(", ", parts);
    }
}
