package org.hyperdmabuf.hv.acrn;

import org.hyperdmabuf.hv.pci.EmulatedIvshmemSysfs;
import org.hyperdmabuf.hv.pci.IvshmemPciDevice;
import org.hyperdmabuf.hv.spi.BackendException;
import org.hyperdmabuf.hv.spi.BackendListener;
import org.hyperdmabuf.hv.spi.HypervisorBackend;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * An <b>emulation</b> of an ACRN platform for tests, since no ACRN hypervisor runs here. Each hv-land region the
 * hypervisor would carve is a file on {@code /dev/shm}; each dm-land region is the POSIX shm file acrn-dm would
 * {@code shm_open}. Each VM is an {@link EmulatedIvshmemSysfs} tree with one ivshmem device per region it is
 * given, as ACRN exposes them: subsystem vendor 0x8086 with the region id as subsystem id, IVPosition = VM id
 * and MSI-X (BAR1) on hv-land; no doorbell and IVPosition 0 on dm-land. Every VM also gets a QEMU-style device
 * (subsystem 1af4:1100) that selection by region id must skip.
 */
final class EmulatedAcrnPlatform implements AutoCloseable
{
    static final String REGIONS = "hv:/shm_region_0,2,0x1000;hv:/shm_region_1,4,0x1001;dm:/%s,4,0x1100";
    static final int MAX_PEERS = 8;
    static final int RING_CAPACITY = 16 * 1024;

    private final Path dir;
    private final Path hv0;
    private final Path hv1;
    private final Path decoy;
    /** The dm-land region's shm name (unique per platform, so tests don't share it). */
    private final String dmName;
    private final List<HypervisorBackend> backends = new ArrayList<>();
    private int nextVm;

    EmulatedAcrnPlatform() throws IOException
    {
        this.dir = Files.createTempDirectory("hdmabuf-acrn");
        this.hv0 = EmulatedIvshmemSysfs.createMemory(Files.createTempFile(Path.of("/dev/shm"), "hdmabuf-acrn-hv0", ""),
            2L << 20);
        this.hv1 = EmulatedIvshmemSysfs.createMemory(Files.createTempFile(Path.of("/dev/shm"), "hdmabuf-acrn-hv1", ""),
            4L << 20);
        this.decoy = EmulatedIvshmemSysfs.createMemory(Files.createTempFile(Path.of("/dev/shm"), "hdmabuf-acrn-q", ""),
            4L << 20);
        this.dmName = "hdmabuf-acrn-dm-" + ProcessHandle.current().pid() + "-" + System.nanoTime();
    }

    String regionTable()
    {
        return String.format(REGIONS, dmName);
    }

    String dmName()
    {
        return dmName;
    }

    Path dmFile()
    {
        return AcrnBackendConfig.DEFAULT_SHM_DIR.resolve(dmName);
    }

    Path hvRegion1()
    {
        return hv1;
    }

    /**
     * A post-launched VM with id {@code vmId}: hv-land devices for both hv regions (00:04.0, 00:05.0), a QEMU
     * device (00:06.0) and, once the dm-land file exists, a dm-land device (00:07.0). Returns its devices dir.
     */
    Path addVm(final int vmId) throws IOException
    {
        final EmulatedIvshmemSysfs sysfs = new EmulatedIvshmemSysfs(dir.resolve("vm" + vmId + "-" + nextVm++));
        sysfs.addIvshmem("0000:00:04.0", hv0, vmId, true, IvshmemPciDevice.ACRN_SUBSYSTEM_VENDOR, 0x1000);
        sysfs.addIvshmem("0000:00:05.0", hv1, vmId, true, IvshmemPciDevice.ACRN_SUBSYSTEM_VENDOR, 0x1001);
        sysfs.addIvshmem("0000:00:06.0", decoy, vmId, true);
        if (Files.exists(dmFile()))
        {
            sysfs.addIvshmem("0000:00:07.0", dmFile(), 0, false, IvshmemPciDevice.ACRN_SUBSYSTEM_VENDOR, 0x1100);
        }
        return sysfs.devicesDir();
    }

    /** Options every backend of this platform shares: the region table and the region protocol's sizes. */
    Map<String, String> baseOptions()
    {
        final Map<String, String> options = new HashMap<>();
        options.put(AcrnBackendConfig.OPTION_REGIONS, regionTable());
        options.put("max-peers", Integer.toString(MAX_PEERS));
        options.put("ring-capacity", Integer.toString(RING_CAPACITY));
        return options;
    }

    /** Guest-mode options for the VM whose sysfs is {@code devicesDir}, on region {@code region}. */
    Map<String, String> guestOptions(final Path devicesDir, final String region)
    {
        final Map<String, String> options = baseOptions();
        options.put(AcrnBackendConfig.OPTION_REGION, region);
        options.put(AcrnBackendConfig.OPTION_SYSFS, devicesDir.toString());
        return options;
    }

    /** Service VM options on the dm-land region (VM id 0). */
    Map<String, String> serviceVmOptions()
    {
        final Map<String, String> options = baseOptions();
        options.put(AcrnBackendConfig.OPTION_REGION, "dm:/" + dmName);
        options.put(AcrnBackendConfig.OPTION_MODE, AcrnBackendConfig.MODE_SERVICE_VM);
        options.put(AcrnBackendConfig.OPTION_VM_ID, "0");
        return options;
    }

    HypervisorBackend start(final Map<String, String> options, final BackendListener listener)
        throws BackendException
    {
        final HypervisorBackend backend = new AcrnIvshmemBackendProvider().create(options);
        backends.add(backend);
        backend.start(listener);
        return backend;
    }

    /** The platform's own temporary directory; anything a test puts in it is removed by {@link #close}. */
    Path dir()
    {
        return dir;
    }

    @Override
    public void close() throws IOException
    {
        for (final HypervisorBackend backend : backends)
        {
            backend.close();
        }
        Files.deleteIfExists(hv0);
        Files.deleteIfExists(hv1);
        Files.deleteIfExists(decoy);
        Files.deleteIfExists(dmFile());
        try (Stream<Path> paths = Files.walk(dir))
        {
            for (final Path p : (Iterable<Path>)paths.sorted(Comparator.reverseOrder())::iterator)
            {
                Files.deleteIfExists(p);
            }
        }
    }
}
