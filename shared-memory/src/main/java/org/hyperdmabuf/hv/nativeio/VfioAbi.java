package org.hyperdmabuf.hv.nativeio;

/**
 * The numbers and struct layouts of Linux's {@code include/uapi/linux/vfio.h} that {@link VfioDevice} uses. The
 * ioctls are {@code _IO(';', 100 + n)}: the argument size is not encoded, every struct starts with its
 * {@code argsz}. Identical on x86-64 and aarch64 (all fields are fixed-width, naturally aligned).
 */
public final class VfioAbi
{
    public static final int API_VERSION = 0;
    public static final int TYPE1_IOMMU = 1;
    public static final int TYPE1V2_IOMMU = 3;

    public static final long GET_API_VERSION = io(0);
    public static final long CHECK_EXTENSION = io(1);
    public static final long SET_IOMMU = io(2);
    public static final long GROUP_GET_STATUS = io(3);
    public static final long GROUP_SET_CONTAINER = io(4);
    public static final long GROUP_GET_DEVICE_FD = io(6);
    public static final long DEVICE_GET_REGION_INFO = io(8);
    public static final long DEVICE_GET_IRQ_INFO = io(9);
    public static final long DEVICE_SET_IRQS = io(10);

    /** {@code struct vfio_group_status { u32 argsz; u32 flags; }}. */
    public static final int GROUP_STATUS_SIZE = 8;
    public static final int GROUP_FLAGS_VIABLE = 1;

    /** {@code struct vfio_region_info { u32 argsz, flags, index, cap_offset; u64 size, offset; }}. */
    public static final int REGION_INFO_SIZE = 32;
    public static final int REGION_INFO_FLAGS = 4;
    public static final int REGION_INFO_INDEX = 8;
    public static final int REGION_INFO_SIZE_FIELD = 16;
    public static final int REGION_INFO_OFFSET_FIELD = 24;
    public static final int REGION_INFO_FLAG_MMAP = 1 << 2;

    /** {@code struct vfio_irq_info { u32 argsz, flags, index, count; }}. */
    public static final int IRQ_INFO_SIZE = 16;
    public static final int IRQ_INFO_FLAGS = 4;
    public static final int IRQ_INFO_INDEX = 8;
    public static final int IRQ_INFO_COUNT = 12;
    public static final int IRQ_INFO_EVENTFD = 1;

    /** {@code struct vfio_irq_set { u32 argsz, flags, index, start, count; u8 data[]; }}: data is s32 fds here. */
    public static final int IRQ_SET_HEADER_SIZE = 20;
    public static final int IRQ_SET_DATA_NONE = 1;
    public static final int IRQ_SET_DATA_EVENTFD = 1 << 2;
    public static final int IRQ_SET_ACTION_TRIGGER = 1 << 5;

    /** vfio-pci region and interrupt indexes. */
    public static final int PCI_BAR0_REGION_INDEX = 0;
    public static final int PCI_CONFIG_REGION_INDEX = 7;
    public static final int PCI_MSIX_IRQ_INDEX = 2;

    private static final int TYPE = ';';
    private static final int BASE = 100;

    private VfioAbi()
    {
    }

    private static long io(final int n)
    {
        return TYPE << 8 | BASE + n;
    }
}
