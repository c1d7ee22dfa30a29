package org.hyperdmabuf.hv.pci;

import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.hv.nativeio.EventFd;
import org.hyperdmabuf.hv.nativeio.MappedMemory;
import org.hyperdmabuf.hv.nativeio.Native;
import org.hyperdmabuf.hv.nativeio.NativeIoException;
import org.hyperdmabuf.hv.nativeio.VfioAbi;
import org.hyperdmabuf.hv.nativeio.VfioDevice;
import org.hyperdmabuf.hv.nativeio.VfioException;
import org.hyperdmabuf.hv.spi.ErrorCodes;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The doorbell interrupts of an ivshmem device bound to vfio-pci: MSI-X armed with one eventfd per vector, so a
 * Doorbell write by another VM makes an eventfd of ours readable. Bus mastering is set through the config region
 * (without it the device's MSI-X writes never arrive).
 * <p>
 * Only BAR0 may be mapped through vfio ({@link #mapRegisters}): once vfio maps a BAR the kernel refuses sysfs
 * mappings of it (and breaks existing ones, with {@code CONFIG_IO_STRICT_DEVMEM}), so BAR2, the shared memory
 * handed to clients as {@code resource2} fds, stays on sysfs.
 */
public final class IvshmemInterrupts implements AutoCloseable
{
    public static final Path VFIO_DIR = Path.of("/dev/vfio");
    public static final String VFIO_DRIVER = "vfio-pci";
    /** PCI command register and its bus-master bit. */
    private static final int PCI_COMMAND = 0x04;
    private static final int PCI_COMMAND_MASTER = 0x4;

    private final VfioDevice vfio;
    private final int[] eventFds;
    private final EventFd signalling = new EventFd();
    private boolean closed;

    private IvshmemInterrupts(final VfioDevice vfio, final int[] eventFds)
    {
        this.vfio = vfio;
        this.eventFds = eventFds;
    }

    /**
     * Why {@code device}'s interrupts cannot be had through vfio (what to enable), or null if they can be tried.
     * Looks only at sysfs and {@code /dev/vfio}: the ioctls may still refuse ({@link #open} says why).
     */
    public static String unavailability(final IvshmemPciDevice device)
    {
        if (!device.msix())
        {
            return device.address() + " has no interrupts (ivshmem-plain; use ivshmem-doorbell)";
        }
        final int group = iommuGroup(device);
        if (group < 0)
        {
            return device.address() + " has no IOMMU group: the VM needs a virtual IOMMU (QEMU: -machine q35 " +
                "-device intel-iommu,intremap=on, plus -machine kernel-irqchip=split under KVM) and the guest kernel " +
                "intel_iommu=on";
        }
        if (!VFIO_DRIVER.equals(device.driver()))
        {
            return device.address() + " is bound to " + (device.driver() == null ? "no driver" : device.driver()) +
                ", not vfio-pci: modprobe vfio-pci; echo 1af4 1110 > /sys/bus/pci/drivers/vfio-pci/new_id";
        }
        final Path groupFile = VFIO_DIR.resolve(Integer.toString(group));
        if (!Files.isReadable(groupFile) || !Files.isWritable(groupFile))
        {
            return groupFile + " is not readable and writable by this user (chown it to the daemon's user)";
        }
        return null;
    }

    /** The device's IOMMU group number, or -1 without one. */
    static int iommuGroup(final IvshmemPciDevice device)
    {
        final Path link = device.directory().resolve("iommu_group");
        try
        {
            final Path target = Files.isSymbolicLink(link) ? Files.readSymbolicLink(link).getFileName() : null;
            return target == null ? -1 : Integer.parseInt(target.toString());
        }
        catch (final IOException | NumberFormatException e)
        {
            return -1;
        }
    }

    /**
     * Takes {@code device} through vfio and arms up to {@code maxVectors} of its MSI-X vectors. Doorbells rung
     * before this returns are lost: the caller scans shared memory once afterwards.
     */
    public static IvshmemInterrupts open(final IvshmemPciDevice device, final int maxVectors)
        throws PciDeviceException
    {
        final int group = iommuGroup(device);
        final VfioDevice vfio;
        try
        {
            vfio = VfioDevice.open(VFIO_DIR, group, device.address());
        }
        catch (final VfioException e)
        {
            throw failure(device, e);
        }
        int[] fds = new int[0];
        try
        {
            final VfioDevice.Region config = vfio.region(VfioAbi.PCI_CONFIG_REGION_INDEX);
            vfio.write16(config, PCI_COMMAND, vfio.read16(config, PCI_COMMAND) | PCI_COMMAND_MASTER);
            final int count = Math.min(maxVectors, vfio.irqCount(VfioAbi.PCI_MSIX_IRQ_INDEX));
            if (count <= 0)
            {
                throw new PciDeviceException(ErrorCode.ENOTSUP, device.address() + " has no MSI-X vectors");
            }
            fds = new int[count];
            for (int v = 0; v < count; v++)
            {
                fds[v] = EventFd.create();
            }
            vfio.triggerEventFds(VfioAbi.PCI_MSIX_IRQ_INDEX, fds);
            return new IvshmemInterrupts(vfio, fds);
        }
        catch (final VfioException e)
        {
            closeAll(vfio, fds);
            throw failure(device, e);
        }
        catch (final NativeIoException e)
        {
            closeAll(vfio, fds);
            throw new PciDeviceException(ErrorCodes.of(e), device.address() + ": " + e.getMessage(), e);
        }
        catch (final PciDeviceException | RuntimeException e)
        {
            closeAll(vfio, fds);
            throw e;
        }
    }

    private static void closeAll(final VfioDevice vfio, final int[] fds)
    {
        for (final int fd : fds)
        {
            Native.closeQuietly(fd);
        }
        vfio.close();
    }

    private static PciDeviceException failure(final IvshmemPciDevice device, final VfioException e)
    {
        final ErrorCode code;
        switch (e.kind())
        {
            case BUSY:
                code = ErrorCode.EBUSY;
                break;
            case PERMISSION:
                code = ErrorCode.EACCES;
                break;
            case UNAVAILABLE:
            case NO_IOMMU:
            case NOT_VIABLE:
                code = ErrorCode.ENOTSUP;
                break;
            default:
                code = ErrorCode.EIO;
        }
        return new PciDeviceException(code, device.address() + " through vfio: " + e.getMessage(), e);
    }

    /** BAR0 (the registers) mapped through vfio; the caller owns the mapping. */
    public MappedMemory mapRegisters() throws PciDeviceException
    {
        try
        {
            final VfioDevice.Region bar0 = vfio.region(VfioAbi.PCI_BAR0_REGION_INDEX);
            return vfio.map(bar0, Math.min(bar0.size(), IvshmemRegisters.LENGTH));
        }
        catch (final VfioException e)
        {
            throw new PciDeviceException(ErrorCode.EIO, vfio.address() + ": BAR0 through vfio: " + e.getMessage(), e);
        }
    }

    /** Armed vectors: 0 to {@code vectors() - 1}. */
    public int vectors()
    {
        return eventFds.length;
    }

    /** The eventfd of {@code vector} (owned by this object: dup it to hand it out). */
    public int eventFd(final int vector)
    {
        return eventFds[vector];
    }

    /** Reads and resets {@code vector}'s counter; 0 if it had not fired. */
    public long drain(final int vector) throws NativeIoException
    {
        return signalling.drain(eventFds[vector]);
    }

    /** Makes {@code vector}'s eventfd readable, as an interrupt would (wakes our own waiter). */
    public void signal(final int vector) throws NativeIoException
    {
        signalling.signal(eventFds[vector]);
    }

    /** Disarms MSI-X and gives the device back (vfio-pci also does this when the process dies). */
    @Override
    public synchronized void close()
    {
        if (closed)
        {
            return;
        }
        closed = true;
        try
        {
            vfio.disableIrqs(VfioAbi.PCI_MSIX_IRQ_INDEX);
        }
        catch (final VfioException e)
        {
            // closing the device below disables them as well
        }
        closeAll(vfio, eventFds);
    }
}
