package org.hyperdmabuf.hv.nativeio;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * A PCI device opened through vfio: a container with a type1 IOMMU, the device's group in it, and the device fd.
 * Nothing is DMA-mapped (the container exists because vfio hands out device fds only through one), so no memlock
 * limit applies. Region reads and writes go through {@code pread}/{@code pwrite} at the region's offset; a region
 * flagged mappable can be {@link #map mapped}.
 * <p>
 * Closing releases the group; so does the kernel when the process dies (even by SIGKILL): vfio-pci then disables
 * the interrupts and the device, and the next opener starts from a clean state.
 */
public final class VfioDevice implements AutoCloseable
{
    /** {@code struct vfio_region_info}: where region {@code index} lies in the device fd. */
    public record Region(int index, int flags, long size, long offset)
    {
        public boolean mappable()
        {
            return (flags & VfioAbi.REGION_INFO_FLAG_MMAP) != 0;
        }
    }

    private final String address;
    private final int containerFd;
    private final int groupFd;
    private final int deviceFd;
    /** ioctl arguments; guarded by {@code this}. */
    private final ByteBuffer scratch = ByteBuffer.allocateDirect(256).order(ByteOrder.nativeOrder());
    private final long scratchAddress = Native.address(scratch);
    private boolean closed;

    private VfioDevice(final String address, final int containerFd, final int groupFd, final int deviceFd)
    {
        this.address = address;
        this.containerFd = containerFd;
        this.groupFd = groupFd;
        this.deviceFd = deviceFd;
    }

    /**
     * Opens PCI device {@code address} (e.g. {@code 0000:00:04.0}) of IOMMU group {@code group}, whose files are
     * in {@code vfioDir} ({@code /dev/vfio}).
     */
    public static VfioDevice open(final Path vfioDir, final int group, final String address) throws VfioException
    {
        final LibC c = Native.libc();
        final Path containerPath = vfioDir.resolve("vfio");
        final int container = c.open(containerPath.toString(), Native.O_RDWR | Native.O_CLOEXEC, 0);
        if (container < 0)
        {
            final int errno = Native.errno();
            throw new VfioException(errno == Errno.ENOENT ? VfioException.Kind.UNAVAILABLE :
                VfioException.Kind.PERMISSION, "cannot open " + containerPath, errno);
        }
        int groupFd = -1;
        try
        {
            final int version = c.ioctl(container, VfioAbi.GET_API_VERSION, 0);
            if (version != VfioAbi.API_VERSION)
            {
                throw new VfioException(VfioException.Kind.UNAVAILABLE, "vfio API version " + version + ", expected " +
                    VfioAbi.API_VERSION, version < 0 ? Native.errno() : 0);
            }
            final int type = c.ioctl(container, VfioAbi.CHECK_EXTENSION, VfioAbi.TYPE1V2_IOMMU) > 0 ?
                VfioAbi.TYPE1V2_IOMMU : c.ioctl(container, VfioAbi.CHECK_EXTENSION, VfioAbi.TYPE1_IOMMU) > 0 ?
                VfioAbi.TYPE1_IOMMU : -1;
            if (type < 0)
            {
                throw new VfioException(VfioException.Kind.NO_IOMMU, "the vfio container offers no type1 IOMMU " +
                    "(is vfio_iommu_type1 loaded?)", 0);
            }
            final Path groupPath = vfioDir.resolve(Integer.toString(group));
            groupFd = c.open(groupPath.toString(), Native.O_RDWR | Native.O_CLOEXEC, 0);
            if (groupFd < 0)
            {
                final int errno = Native.errno();
                throw new VfioException(errno == Errno.EBUSY ? VfioException.Kind.BUSY : errno == Errno.ENOENT ?
                    VfioException.Kind.UNAVAILABLE : VfioException.Kind.PERMISSION, errno == Errno.EBUSY ?
                    groupPath + " is held by another process (another daemon on this device?)" :
                    "cannot open " + groupPath, errno);
            }
            return attach(container, groupFd, group, address, type);
        }
        catch (final VfioException | RuntimeException e)
        {
            Native.closeQuietly(groupFd);
            Native.closeQuietly(container);
            throw e;
        }
    }

    private static VfioDevice attach(final int container, final int groupFd, final int group, final String address,
        final int type) throws VfioException
    {
        final LibC c = Native.libc();
        final ByteBuffer arg = ByteBuffer.allocateDirect(64).order(ByteOrder.nativeOrder());
        final long at = Native.address(arg);
        arg.putInt(0, VfioAbi.GROUP_STATUS_SIZE).putInt(4, 0);
        ioctl(groupFd, VfioAbi.GROUP_GET_STATUS, at, VfioException.Kind.DEVICE, "VFIO_GROUP_GET_STATUS");
        if ((arg.getInt(4) & VfioAbi.GROUP_FLAGS_VIABLE) == 0)
        {
            throw new VfioException(VfioException.Kind.NOT_VIABLE, "IOMMU group " + group + " is not viable: bind " +
                "every device of /sys/kernel/iommu_groups/" + group + "/devices to vfio-pci", 0);
        }
        arg.putInt(0, container);
        ioctl(groupFd, VfioAbi.GROUP_SET_CONTAINER, at, VfioException.Kind.DEVICE, "VFIO_GROUP_SET_CONTAINER");
        if (c.ioctl(container, VfioAbi.SET_IOMMU, type) < 0)
        {
            final int errno = Native.errno();
            throw new VfioException(VfioException.Kind.NO_IOMMU, "VFIO_SET_IOMMU failed" + (errno == Errno.EPERM ?
                ": no interrupt remapping (QEMU: -device intel-iommu,intremap=on)" : ""), errno);
        }
        final byte[] name = address.getBytes(StandardCharsets.US_ASCII);
        if (name.length >= arg.capacity())
        {
            throw new VfioException(VfioException.Kind.DEVICE, "PCI address too long: " + address, Errno.EINVAL);
        }
        arg.put(0, name).put(name.length, (byte)0);
        final int deviceFd = c.ioctl(groupFd, VfioAbi.GROUP_GET_DEVICE_FD, at);
        if (deviceFd < 0)
        {
            throw new VfioException(VfioException.Kind.DEVICE, "VFIO_GROUP_GET_DEVICE_FD " + address,
                Native.errno());
        }
        return new VfioDevice(address, container, groupFd, deviceFd);
    }

    private static void ioctl(final int fd, final long request, final long arg, final VfioException.Kind kind,
        final String what) throws VfioException
    {
        if (Native.libc().ioctl(fd, request, arg) < 0)
        {
            throw new VfioException(kind, what + " failed", Native.errno());
        }
    }

    public String address()
    {
        return address;
    }

    /** {@code VFIO_DEVICE_GET_REGION_INFO} of region {@code index}. */
    public synchronized Region region(final int index) throws VfioException
    {
        scratch.putInt(0, VfioAbi.REGION_INFO_SIZE).putInt(VfioAbi.REGION_INFO_FLAGS, 0)
            .putInt(VfioAbi.REGION_INFO_INDEX, index).putInt(12, 0).putLong(16, 0).putLong(24, 0);
        ioctl(deviceFd, VfioAbi.DEVICE_GET_REGION_INFO, scratchAddress, VfioException.Kind.DEVICE,
            address + ": VFIO_DEVICE_GET_REGION_INFO " + index);
        return new Region(index, scratch.getInt(VfioAbi.REGION_INFO_FLAGS),
            scratch.getLong(VfioAbi.REGION_INFO_SIZE_FIELD), scratch.getLong(VfioAbi.REGION_INFO_OFFSET_FIELD));
    }

    /** The number of interrupts of {@code index} signalled through eventfds; 0 if it has none. */
    public synchronized int irqCount(final int index) throws VfioException
    {
        scratch.putInt(0, VfioAbi.IRQ_INFO_SIZE).putInt(VfioAbi.IRQ_INFO_FLAGS, 0).putInt(VfioAbi.IRQ_INFO_INDEX, index)
            .putInt(VfioAbi.IRQ_INFO_COUNT, 0);
        ioctl(deviceFd, VfioAbi.DEVICE_GET_IRQ_INFO, scratchAddress, VfioException.Kind.DEVICE,
            address + ": VFIO_DEVICE_GET_IRQ_INFO " + index);
        return (scratch.getInt(VfioAbi.IRQ_INFO_FLAGS) & VfioAbi.IRQ_INFO_EVENTFD) != 0 ?
            scratch.getInt(VfioAbi.IRQ_INFO_COUNT) : 0;
    }

    /** Enables interrupts {@code 0..eventFds.length-1} of {@code index}, each signalling its eventfd. */
    public synchronized void triggerEventFds(final int index, final int[] eventFds) throws VfioException
    {
        final int size = VfioAbi.IRQ_SET_HEADER_SIZE + 4 * eventFds.length;
        if (size > scratch.capacity())
        {
            throw new VfioException(VfioException.Kind.DEVICE, eventFds.length + " interrupts", Errno.E2BIG);
        }
        irqSetHeader(size, VfioAbi.IRQ_SET_DATA_EVENTFD | VfioAbi.IRQ_SET_ACTION_TRIGGER, index, eventFds.length);
        for (int i = 0; i < eventFds.length; i++)
        {
            scratch.putInt(VfioAbi.IRQ_SET_HEADER_SIZE + 4 * i, eventFds[i]);
        }
        ioctl(deviceFd, VfioAbi.DEVICE_SET_IRQS, scratchAddress, VfioException.Kind.DEVICE,
            address + ": VFIO_DEVICE_SET_IRQS " + index + " (" + eventFds.length + " eventfds)");
    }

    /** Disables every interrupt of {@code index} (count 0, no data). */
    public synchronized void disableIrqs(final int index) throws VfioException
    {
        irqSetHeader(VfioAbi.IRQ_SET_HEADER_SIZE, VfioAbi.IRQ_SET_DATA_NONE | VfioAbi.IRQ_SET_ACTION_TRIGGER, index, 0);
        ioctl(deviceFd, VfioAbi.DEVICE_SET_IRQS, scratchAddress, VfioException.Kind.DEVICE,
            address + ": VFIO_DEVICE_SET_IRQS " + index + " off");
    }

    private void irqSetHeader(final int size, final int flags, final int index, final int count)
    {
        scratch.putInt(0, size).putInt(4, flags).putInt(8, index).putInt(12, 0).putInt(16, count);
    }

    /** Reads a little-endian 16-bit word at {@code offset} of {@code region}. */
    public synchronized int read16(final Region region, final long offset) throws VfioException
    {
        if (Native.libc().pread(deviceFd, scratchAddress, 2, region.offset() + offset) != 2)
        {
            throw new VfioException(VfioException.Kind.DEVICE, address + ": read of region " + region.index() +
                " at " + offset, Native.errno());
        }
        return scratch.duplicate().order(ByteOrder.LITTLE_ENDIAN).getShort(0) & 0xFFFF;
    }

    /** Writes a little-endian 16-bit word at {@code offset} of {@code region}. */
    public synchronized void write16(final Region region, final long offset, final int value) throws VfioException
    {
        scratch.duplicate().order(ByteOrder.LITTLE_ENDIAN).putShort(0, (short)value);
        if (Native.libc().pwrite(deviceFd, scratchAddress, 2, region.offset() + offset) != 2)
        {
            throw new VfioException(VfioException.Kind.DEVICE, address + ": write of region " + region.index() +
                " at " + offset, Native.errno());
        }
    }

    /** Maps the first {@code length} bytes of a mappable {@code region}; the caller closes the mapping. */
    public MappedMemory map(final Region region, final long length) throws VfioException
    {
        if (!region.mappable() || length > region.size())
        {
            throw new VfioException(VfioException.Kind.DEVICE, address + ": region " + region.index() + " (" +
                region.size() + " bytes) cannot be mapped for " + length + " bytes", Errno.EINVAL);
        }
        try
        {
            return MappedMemory.map(deviceFd, region.offset(), length, false);
        }
        catch (final NativeIoException e)
        {
            throw new VfioException(VfioException.Kind.DEVICE, address + ": mmap of region " + region.index(),
                e.errno());
        }
    }

    /** Closes the device, the group and the container (vfio-pci disables the device's interrupts). */
    @Override
    public synchronized void close()
    {
        if (!closed)
        {
            closed = true;
            Native.closeQuietly(deviceFd);
            Native.closeQuietly(groupFd);
            Native.closeQuietly(containerFd);
        }
    }
}
