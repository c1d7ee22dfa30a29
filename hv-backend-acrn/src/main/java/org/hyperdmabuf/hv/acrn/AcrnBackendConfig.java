package org.hyperdmabuf.hv.acrn;

import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.hv.kvm.GuestNotification;
import org.hyperdmabuf.hv.kvm.IvshmemBackend;
import org.hyperdmabuf.hv.kvm.IvshmemPciTransport;
import org.hyperdmabuf.hv.kvm.IvshmemTransport;
import org.hyperdmabuf.hv.pci.IvshmemDeviceSelector;
import org.hyperdmabuf.hv.pci.IvshmemPciDevice;
import org.hyperdmabuf.hv.pci.IvshmemPciScanner;
import org.hyperdmabuf.hv.pci.PciDeviceException;
import org.hyperdmabuf.hv.spi.BackendException;
import org.hyperdmabuf.hv.spi.BackendOptions;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The ACRN backend's options, checked, and the {@link IvshmemBackend} they make: ACRN's ivshmem device is QEMU's
 * (same BARs and registers), so the region protocol is the KVM backend's, over an ACRN-configured transport.
 * <ul>
 *   <li>{@code region} (required): {@code hv:/NAME} or {@code dm:/NAME}, as the scenario and acrn-dm name it.</li>
 *   <li>{@code regions}: the platform's regions, {@code LAND:/NAME,SIZE_MB[,REGION_ID];...}
 *   ({@link AcrnRegionTable}); {@code region} is looked up there.</li>
 *   <li>{@code region-id} (hex, 0x1000-0xffff) and {@code size-mb}: the region's id and size when there is no
 *   table (or the table leaves them out).</li>
 *   <li>{@code mode}: {@code guest} (default; the VM's ivshmem PCI device through sysfs) or {@code service-vm}
 *   (dm-land only: the Service VM's POSIX shm {@code shm-dir/NAME}, default {@code /dev/shm}).</li>
 *   <li>{@code vm-id}: this VM's id, required on dm-land (no usable IVPosition there), refused on hv-land
 *   (IVPosition is the VM id).</li>
 *   <li>Guest mode: {@code device} (PCI address; needed when no region id is known, e.g. QEMU's ivshmem, which
 *   cannot carry subsystem 8086:ID), {@code sysfs}, {@code enable}, {@code poll-max-park-us}; a device is chosen
 *   by region id (subsystem 8086:ID) and/or address, exactly one must match.</li>
 *   <li>{@code notification} (hv-land): {@code auto} (default), {@code interrupt} or {@code polling}, as
 *   kvm-ivshmem's guest mode: the hv-land device's MSI-X through vfio-pci where the device is bound to it in an
 *   IOMMU group, else polling. dm-land has no doorbell: only {@code polling} is taken there.</li>
 *   <li>The region protocol's options ({@link IvshmemBackend#COMMON_OPTIONS}) pass through.</li>
 * </ul>
 * Doorbells ring {@code (vm << 16) | vector} with vectors below {@link AcrnRegion#HV_VECTORS}, on hv-land only;
 * they cannot be received from sysfs: a daemon receives them as interrupts only through vfio (the same transport
 * as kvm-ivshmem's guest mode), and polls otherwise.
 */
public final class AcrnBackendConfig
{
    public static final String OPTION_REGION = "region";
    public static final String OPTION_REGIONS = "regions";
    public static final String OPTION_REGION_ID = "region-id";
    public static final String OPTION_SIZE_MB = "size-mb";
    public static final String OPTION_MODE = "mode";
    public static final String MODE_GUEST = "guest";
    public static final String MODE_SERVICE_VM = "service-vm";
    public static final String OPTION_VM_ID = "vm-id";
    public static final String OPTION_DEVICE = "device";
    public static final String OPTION_SYSFS = "sysfs";
    public static final String OPTION_ENABLE = "enable";
    public static final String OPTION_POLL_MAX_PARK_US = "poll-max-park-us";
    public static final String OPTION_NOTIFICATION = IvshmemBackend.OPTION_NOTIFICATION;
    public static final String OPTION_SHM_DIR = "shm-dir";
    public static final Path DEFAULT_SHM_DIR = Path.of("/dev/shm");

    private static final String NAME = AcrnIvshmemBackendProvider.NAME;
    private static final List<String> GUEST_OPTIONS = List.of(OPTION_DEVICE, OPTION_SYSFS, OPTION_ENABLE,
        OPTION_NOTIFICATION);
    private static final List<String> SERVICE_VM_OPTIONS = List.of(OPTION_SHM_DIR);

    private final AcrnRegion region;
    private final boolean serviceVm;
    private final int vmId;
    private final String device;
    private final Path sysfs;
    private final boolean enable;
    private final long maxParkNs;
    private final GuestNotification notification;
    private final Path shmDir;
    private final Map<String, String> common;

    private AcrnBackendConfig(final AcrnRegion region, final boolean serviceVm, final int vmId, final String device,
        final Path sysfs, final boolean enable, final long maxParkNs, final GuestNotification notification,
        final Path shmDir, final Map<String, String> common)
    {
        this.region = region;
        this.serviceVm = serviceVm;
        this.vmId = vmId;
        this.device = device;
        this.sysfs = sysfs;
        this.enable = enable;
        this.maxParkNs = maxParkNs;
        this.notification = notification;
        this.shmDir = shmDir;
        this.common = common;
    }

    /** Checks {@code options}; a typed {@code EINVAL} (or {@code ENOENT} for a region not in the table) otherwise. */
    public static AcrnBackendConfig parse(final Map<String, String> options) throws BackendException
    {
        try
        {
            return parseChecked(options);
        }
        catch (final IllegalArgumentException e)
        {
            throw new BackendException(ErrorCode.EINVAL, NAME + ": " + e.getMessage(), e);
        }
    }

    private static AcrnBackendConfig parseChecked(final Map<String, String> options) throws BackendException
    {
        final BackendOptions o = new BackendOptions(NAME, options);
        final String mode = o.choice(OPTION_MODE, MODE_GUEST, List.of(MODE_GUEST, MODE_SERVICE_VM));
        final boolean serviceVm = mode.equals(MODE_SERVICE_VM);
        final List<String> known = new ArrayList<>(IvshmemBackend.COMMON_OPTIONS);
        known.addAll(List.of(OPTION_REGION, OPTION_REGIONS, OPTION_REGION_ID, OPTION_SIZE_MB, OPTION_MODE,
            OPTION_VM_ID, OPTION_POLL_MAX_PARK_US));
        known.addAll(serviceVm ? SERVICE_VM_OPTIONS : GUEST_OPTIONS);
        o.checkKnown(known, " in " + mode + " mode");
        final Map<String, String> common = new HashMap<>();
        for (final String key : IvshmemBackend.COMMON_OPTIONS)
        {
            if (o.has(key))
            {
                common.put(key, o.string(key, null));
            }
        }
        final AcrnRegion region = region(o);
        final boolean vmIdGiven = o.has(OPTION_VM_ID);
        if (region.land() == AcrnRegion.Land.HV && vmIdGiven)
        {
            throw o.invalid(region.spec() + ": option '" + OPTION_VM_ID + "' is not taken on hv-land, where the " +
                "hypervisor sets IVPosition to the VM id");
        }
        if (region.land() == AcrnRegion.Land.DM && !vmIdGiven)
        {
            throw o.invalid(region.spec() + ": option '" + OPTION_VM_ID + "' is required on dm-land (acrn-dm gives " +
                "no usable IVPosition); the scenario's VM ids are the natural choice");
        }
        if (serviceVm && region.land() != AcrnRegion.Land.DM)
        {
            throw o.invalid(region.spec() + ": mode " + MODE_SERVICE_VM + " opens dm-land regions' POSIX shm; an " +
                "hv-land region is reached through the VM's own ivshmem device (mode " + MODE_GUEST + ")");
        }
        final int vmId = o.integer(OPTION_VM_ID, -1, 0, 0xFFFF);
        final long maxParkNs = o.number(OPTION_POLL_MAX_PARK_US, 1000, 1, IvshmemBackend.POLL_INTERVAL_MS * 1000L) *
            1000L;
        final boolean enable = o.bool(OPTION_ENABLE, true);
        final String device = o.string(OPTION_DEVICE, null);
        if (device != null)
        {
            new IvshmemDeviceSelector(device, 0, -1); // checks the address format now
        }
        if (!serviceVm && device == null && region.regionId() < 0)
        {
            throw o.invalid(region.spec() + ": no region id to find its device by (subsystem 8086:ID): give '" +
                OPTION_REGION_ID + "', a '" + OPTION_REGIONS + "' entry with the id, or '" + OPTION_DEVICE + "'");
        }
        final GuestNotification notification = GuestNotification.of(o, region.land() == AcrnRegion.Land.HV ?
            GuestNotification.AUTO : GuestNotification.POLLING);
        if (region.land() == AcrnRegion.Land.DM && notification != GuestNotification.POLLING)
        {
            throw o.invalid(region.spec() + ": " + OPTION_NOTIFICATION + "=" + notification.option() + ": a dm-land region " +
                "has no doorbell (acrn-dm's ivshmem rings nothing), so its daemons poll");
        }
        return new AcrnBackendConfig(region, serviceVm, vmId, device,
            Path.of(o.string(OPTION_SYSFS, IvshmemPciScanner.SYSFS_PCI_DEVICES.toString())), enable, maxParkNs,
            notification, Path.of(o.string(OPTION_SHM_DIR, DEFAULT_SHM_DIR.toString())), common);
    }

    /** {@code region} looked up in {@code regions} if given, then {@code region-id} and {@code size-mb} applied. */
    private static AcrnRegion region(final BackendOptions o) throws BackendException
    {
        final String spec = o.string(OPTION_REGION, null);
        if (spec == null)
        {
            throw o.invalid("option '" + OPTION_REGION + "' (hv:/NAME or dm:/NAME) is required");
        }
        AcrnRegion region = AcrnRegion.parse(spec);
        final String table = o.string(OPTION_REGIONS, null);
        if (table != null)
        {
            region = AcrnRegionTable.parse(table).lookup(region);
        }
        final String id = o.string(OPTION_REGION_ID, null);
        if (id != null)
        {
            final int regionId = AcrnRegion.parseRegionId(id);
            if (region.regionId() >= 0 && region.regionId() != regionId)
            {
                throw o.invalid(region.spec() + ": " + OPTION_REGION_ID + "=" + AcrnRegion.hex(regionId) +
                    " contradicts the region table's " + AcrnRegion.hex(region.regionId()));
            }
            region = region.withRegionId(regionId);
        }
        if (o.has(OPTION_SIZE_MB))
        {
            final int sizeMiB = o.integer(OPTION_SIZE_MB, 0, 1, Integer.MAX_VALUE);
            if (region.sizeMiB() != 0 && region.sizeMiB() != sizeMiB)
            {
                throw o.invalid(region.spec() + ": " + OPTION_SIZE_MB + "=" + sizeMiB + " contradicts the region " +
                    "table's " + region.sizeMiB());
            }
            region = region.withSize(sizeMiB);
        }
        return region;
    }

    public AcrnRegion region()
    {
        return region;
    }

    public boolean serviceVm()
    {
        return serviceVm;
    }

    /** The backend, not started. */
    public IvshmemBackend newBackend() throws BackendException
    {
        final String attachment = serviceVm ? "dm-land region " + region + " in " + shmDir :
            "the ACRN ivshmem device of " + region + (device != null ? " at " + device : "") + " in " + sysfs;
        return new IvshmemBackend(NAME, common, attachment, this::openTransport);
    }

    private IvshmemTransport openTransport(final IvshmemTransport.Events events) throws IOException, BackendException
    {
        if (serviceVm)
        {
            return ServiceVmShmTransport.open(region, shmDir, vmId, maxParkNs);
        }
        final IvshmemPciScanner scanner = new IvshmemPciScanner(sysfs);
        final IvshmemPciDevice found = selectDevice(scanner.scan());
        region.checkActualSize(found.regionSize(), "PCI " + found.address() + " BAR2");
        final boolean hv = region.land() == AcrnRegion.Land.HV;
        if (hv && !found.msix())
        {
            throw new BackendException(ErrorCode.EINVAL, NAME + ": " + region.spec() + ": " + found + " has no " +
                "MSI-X, so it is not an hv-land device (no " +
                "IVPosition); a dm-land region is named dm:/NAME");
        }
        return IvshmemPciTransport.open(scanner, new IvshmemDeviceSelector(found.address(), 0, -1),
            hv ? -1 : vmId, enable, maxParkNs, hv ? AcrnRegion.HV_VECTORS : 0, notification);
    }

    /** By region id (subsystem 8086:ID, never QEMU's 1af4:1100) and/or address: exactly one device. */
    private IvshmemPciDevice selectDevice(final List<IvshmemPciDevice> devices) throws PciDeviceException
    {
        final List<IvshmemPciDevice> candidates = new ArrayList<>();
        for (final IvshmemPciDevice d : devices)
        {
            if (region.regionId() < 0 || d.acrnRegionId() == region.regionId())
            {
                candidates.add(d);
            }
        }
        if (candidates.isEmpty())
        {
            throw new PciDeviceException(ErrorCode.ENODEV, "no ivshmem device with subsystem 8086:" +
                AcrnRegion.hex(region.regionId()).substring(2) + " for " + region.spec() + "; found " +
                (devices.isEmpty() ? "none" : devices.toString()));
        }
        return new IvshmemDeviceSelector(device, 0, -1).selectFrom(candidates);
    }
}
