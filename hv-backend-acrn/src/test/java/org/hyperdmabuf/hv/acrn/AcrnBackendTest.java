package org.hyperdmabuf.hv.acrn;

import org.hyperdmabuf.abi.FenceAbi;
import org.hyperdmabuf.hv.conformance.RecordingListener;
import org.hyperdmabuf.hv.kvm.IvshmemPciTransport;
import org.hyperdmabuf.hv.nativeio.SmallTmpfs;
import org.hyperdmabuf.hv.pci.EmulatedIvshmemSysfs;
import org.hyperdmabuf.hv.pci.IvshmemDeviceSelector;
import org.hyperdmabuf.hv.pci.IvshmemPciScanner;
import org.hyperdmabuf.hv.spi.BackendException;
import org.hyperdmabuf.hv.spi.BackendProvider;
import org.hyperdmabuf.hv.spi.Capabilities;
import org.hyperdmabuf.hv.spi.FenceRef;
import org.hyperdmabuf.hv.spi.FenceSlots;
import org.hyperdmabuf.hv.spi.HypervisorBackend;
import org.hyperdmabuf.hv.spi.PeerFenceDoorbells;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.ServiceLoader;
import java.util.concurrent.TimeUnit;

import static org.hyperdmabuf.hv.acrn.AcrnRegionTableTest.assertError;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** What the ACRN backend adds: option checks, choosing the region's device, IVPosition, doorbells, dm-land. */
class AcrnBackendTest
{
    private static final Duration TIMEOUT = Duration.ofSeconds(10);
    private static final String HV_DEVICE_1 = "0000:00:05.0";

    private EmulatedAcrnPlatform platform;

    @BeforeEach
    void createPlatform() throws Exception
    {
        platform = new EmulatedAcrnPlatform();
    }

    /** Nothing a test made stays in the temporary folder. */
    @AfterEach
    void closePlatform() throws Exception
    {
        platform.close();
        assertFalse(Files.exists(platform.dir()), "left behind: " + platform.dir());
    }

    private static Map<String, String> with(final Map<String, String> base, final String... keyValues)
    {
        final Map<String, String> options = new HashMap<>(base);
        for (int i = 0; i < keyValues.length; i += 2)
        {
            if (keyValues[i + 1] == null)
            {
                options.remove(keyValues[i]);
            }
            else
            {
                options.put(keyValues[i], keyValues[i + 1]);
            }
        }
        return options;
    }

    @Test
    void theProviderIsFoundByNameAndIsNotTheDefaultOffAcrn()
    {
        final BackendProvider provider = ServiceLoader.load(BackendProvider.class).stream()
            .map(ServiceLoader.Provider::get).filter(p -> p.name().equals(AcrnIvshmemBackendProvider.NAME))
            .findFirst().orElseThrow();
        // not ACRN here: named it works (as in every test), but it is never the default backend
        assertFalse(provider.isAvailable());
        assertTrue(provider.unavailabilityCause().startsWith("not on ACRN"), provider.unavailabilityCause());
    }

    @Test
    void badConfigurationIsATypedErrorBeforeAnythingIsOpened() throws Exception
    {
        final Map<String, String> hv = platform.guestOptions(platform.addVm(1), "hv:/shm_region_1");
        final Map<String, String> dm = platform.guestOptions(platform.addVm(2), "dm:/" + platform.dmName());
        final String region = AcrnBackendConfig.OPTION_REGION;
        assertError("EINVAL", () -> AcrnBackendConfig.parse(with(hv, region, null)));
        assertError("EINVAL", () -> AcrnBackendConfig.parse(with(hv, region, "shm_region_1")));
        assertError("ENOENT", () -> AcrnBackendConfig.parse(with(hv, region, "hv:/shm_region_7")));
        assertError("EINVAL", () -> AcrnBackendConfig.parse(with(hv, "socket", "/x.sock")));
        assertError("EINVAL", () -> AcrnBackendConfig.parse(with(hv, AcrnBackendConfig.OPTION_MODE, "host")));
        assertError("EINVAL", () -> AcrnBackendConfig.parse(with(hv, AcrnBackendConfig.OPTION_VM_ID, "1")));
        assertError("EINVAL", () -> AcrnBackendConfig.parse(with(hv, AcrnBackendConfig.OPTION_REGION_ID, "0x1000")));
        assertError("EINVAL", () -> AcrnBackendConfig.parse(with(hv, AcrnBackendConfig.OPTION_SIZE_MB, "8")));
        assertError("EINVAL", () -> AcrnBackendConfig.parse(with(hv, AcrnBackendConfig.OPTION_DEVICE, "4.0")));
        assertError("EINVAL", () -> AcrnBackendConfig.parse(with(hv, AcrnBackendConfig.OPTION_ENABLE, "yes")));
        assertError("EINVAL", () -> AcrnBackendConfig.parse(with(hv, AcrnBackendConfig.OPTION_MODE,
            AcrnBackendConfig.MODE_SERVICE_VM)));
        assertError("EINVAL", () -> AcrnBackendConfig.parse(with(hv, "ring-capacity", "1000")).newBackend());
        // no region id anywhere and no address: nothing to choose the device by
        assertError("EINVAL", () -> AcrnBackendConfig.parse(with(hv, AcrnBackendConfig.OPTION_REGIONS, null)));
        assertError("EINVAL", () -> AcrnBackendConfig.parse(with(hv, AcrnBackendConfig.OPTION_REGIONS, null,
            AcrnBackendConfig.OPTION_REGION_ID, "0x1001", AcrnBackendConfig.OPTION_SIZE_MB, "3")));
        assertError("EINVAL", () -> AcrnBackendConfig.parse(with(hv, AcrnBackendConfig.OPTION_NOTIFICATION, "irq")));
        // dm-land rings nothing: interrupts cannot be had there, polling is what it does anyway
        final Map<String, String> dmWithId = with(dm, AcrnBackendConfig.OPTION_VM_ID, "2");
        AcrnBackendConfig.parse(dmWithId);
        assertError("EINVAL", () -> AcrnBackendConfig.parse(with(dmWithId, AcrnBackendConfig.OPTION_NOTIFICATION,
            "interrupt")));
        assertError("EINVAL", () -> AcrnBackendConfig.parse(with(dmWithId, AcrnBackendConfig.OPTION_NOTIFICATION,
            "auto")));
        AcrnBackendConfig.parse(with(dmWithId, AcrnBackendConfig.OPTION_NOTIFICATION, "polling"));
        assertError("EINVAL", () -> AcrnBackendConfig.parse(with(dm, AcrnBackendConfig.OPTION_VM_ID, null)));
        assertError("EINVAL", () -> AcrnBackendConfig.parse(with(dm, AcrnBackendConfig.OPTION_VM_ID, "65536")));
        assertError("EINVAL", () -> AcrnBackendConfig.parse(with(platform.serviceVmOptions(),
            AcrnBackendConfig.OPTION_SYSFS, "/sys")));
    }

    @Test
    void hvLandPicksTheRegionsDeviceByRegionIdAndTakesTheVmIdFromIvPosition() throws Exception
    {
        // the smallest ACRN region (2 MiB) holds the region protocol with fewer peers and smaller rings
        final HypervisorBackend a = platform.start(with(platform.guestOptions(platform.addVm(3), "hv:/shm_region_0"),
            "max-peers", "4", "ring-capacity", "4096"), new RecordingListener());
        assertEquals(3, a.localVm(), "IVPosition is the VM id");
        final Capabilities caps = a.capabilities();
        assertEquals(AcrnIvshmemBackendProvider.NAME, caps.backend());
        assertTrue(caps.doorbell(), "hv-land devices have a doorbell");
        assertEquals(Capabilities.NOTIFY_POLLING, caps.notification(),
            "notification=auto: MSI-X cannot reach userspace through sysfs, and the device is in no IOMMU group");
        assertEquals("shared-region", caps.isolation());
        assertEquals("daemon", caps.readOnlyEnforcement());

        // by id without a table, and by address alone (as with QEMU's device, which has no 8086:ID)
        final Map<String, String> noTable = with(platform.guestOptions(platform.addVm(4), "hv:/other"),
            AcrnBackendConfig.OPTION_REGIONS, null);
        platform.start(with(noTable, AcrnBackendConfig.OPTION_REGION_ID, "1001"), new RecordingListener());
        platform.start(with(platform.guestOptions(platform.addVm(5), "hv:/other"), AcrnBackendConfig.OPTION_REGIONS,
            null, AcrnBackendConfig.OPTION_DEVICE, "00:05.0"), new RecordingListener());
    }

    @Test
    void hvLandInterruptsGoThroughVfioAsKvmGuestModeAndAreRefusedWithoutAnIommuGroup() throws Exception
    {
        final Map<String, String> hv = with(platform.guestOptions(platform.addVm(6), "hv:/shm_region_1"),
            AcrnBackendConfig.OPTION_NOTIFICATION, "interrupt");
        final BackendException e = assertThrows(BackendException.class,
            () -> platform.start(hv, new RecordingListener()));
        assertEquals("ENOTSUP", e.code().name());
        assertTrue(e.getMessage().contains("no IOMMU group"), e.getMessage());
        final HypervisorBackend polling = platform.start(with(hv, AcrnBackendConfig.OPTION_NOTIFICATION, "polling"),
            new RecordingListener());
        assertEquals(Capabilities.NOTIFY_POLLING, polling.capabilities().notification());
    }

    @Test
    void aDeviceThatIsNotTheConfiguredRegionIsRefusedAtStart() throws Exception
    {
        final Map<String, String> base = with(platform.guestOptions(platform.addVm(1), "hv:/r"),
            AcrnBackendConfig.OPTION_REGIONS, null);
        // QEMU's device has subsystem 1af4:1100, which is not ACRN region 0x1100
        assertError("ENODEV", () -> startFresh(with(base, AcrnBackendConfig.OPTION_REGION_ID, "0x1100")));
        assertError("ENODEV", () -> startFresh(with(base, AcrnBackendConfig.OPTION_REGION_ID, "0x1234")));
        assertError("EINVAL", () -> startFresh(with(base, AcrnBackendConfig.OPTION_REGION_ID, "0x1001",
            AcrnBackendConfig.OPTION_SIZE_MB, "8")));
        assertError("ENODEV", () -> startFresh(with(base, AcrnBackendConfig.OPTION_REGION_ID, "0x1001",
            AcrnBackendConfig.OPTION_DEVICE, "00:04.0")));
        // a 3 MiB BAR2 is no ACRN region whatever the configuration says
        final Path odd = EmulatedIvshmemSysfs.createMemory(Files.createTempFile(Path.of("/dev/shm"), "hdmabuf-odd", ""),
            3L << 20);
        try
        {
            final EmulatedIvshmemSysfs sysfs = new EmulatedIvshmemSysfs(Files.createTempDirectory(platform.dir(), "odd"));
            sysfs.addIvshmem("0000:00:04.0", odd, 1, true, 0x8086, 0x1000);
            assertError("EINVAL", () -> startFresh(with(base, AcrnBackendConfig.OPTION_REGION_ID, "0x1000",
                AcrnBackendConfig.OPTION_SYSFS, sysfs.devicesDir().toString())));
        }
        finally
        {
            Files.delete(odd);
        }
    }

    @Test
    void anHvLandRegionOnADeviceWithoutMsixIsRefused() throws Exception
    {
        platform.start(platform.serviceVmOptions(), new RecordingListener()); // creates the dm-land file
        final Map<String, String> options = with(platform.guestOptions(platform.addVm(1), "hv:/r"),
            AcrnBackendConfig.OPTION_REGIONS, null, AcrnBackendConfig.OPTION_REGION_ID, "0x1100");
        assertError("EINVAL", () -> startFresh(options));
    }

    @Test
    void hvLandDoorbellsAreVmIdAndVectorAndOnlyEightVectorsRing() throws Exception
    {
        final Path sysfsA = platform.addVm(1);
        final RecordingListener la = new RecordingListener();
        final RecordingListener lb = new RecordingListener();
        final HypervisorBackend a = platform.start(platform.guestOptions(sysfsA, "hv:/shm_region_1"), la);
        final HypervisorBackend b = platform.start(platform.guestOptions(platform.addVm(6), "hv:/shm_region_1"), lb);
        la.await(l -> l.sawPeerUp(6, b.sessionId()), TIMEOUT, "VM 1 to see VM 6");
        lb.await(l -> l.sawPeerUp(1, a.sessionId()), TIMEOUT, "VM 6 to see VM 1");
        final Path deviceA = sysfsA.resolve(HV_DEVICE_1);

        assertTrue(a.send(6, ByteBuffer.wrap(new byte[] {1, 2, 3}), 0, 3));
        lb.await(l -> l.messageCount(1) == 1, TIMEOUT, "VM 6 to poll VM 1's message");
        assertEquals(6 << 16 | FenceAbi.MESSAGE_VECTOR, EmulatedIvshmemSysfs.lastDoorbell(deviceA));
        final FenceSlots fences = a.capability(FenceSlots.class).orElseThrow();
        final FenceRef fence = fences.allocateFence();
        assertTrue(a.capability(PeerFenceDoorbells.class).orElseThrow().ringFence(6));
        assertEquals(6 << 16 | FenceAbi.FENCE_VECTOR, EmulatedIvshmemSysfs.lastDoorbell(deviceA));
        fences.freeFence(fence);

        try (IvshmemPciTransport t = IvshmemPciTransport.open(new IvshmemPciScanner(sysfsA),
            new IvshmemDeviceSelector(HV_DEVICE_1, 0, -1), -1, false, 1000, AcrnRegion.HV_VECTORS))
        {
            assertTrue(t.ring(2, AcrnRegion.HV_VECTORS - 1));
            assertEquals(2 << 16 | 7, EmulatedIvshmemSysfs.lastDoorbell(deviceA));
            assertThrows(IllegalArgumentException.class, () -> t.ring(2, AcrnRegion.HV_VECTORS));
            assertEquals(2 << 16 | 7, EmulatedIvshmemSysfs.lastDoorbell(deviceA), "nothing written");
        }
    }

    @Test
    void dmLandHasNoDoorbellAndTheServiceVmKeepsAcrnDmsFile() throws Exception
    {
        final RecordingListener ls = new RecordingListener();
        final RecordingListener lg = new RecordingListener();
        final HypervisorBackend service = platform.start(platform.serviceVmOptions(), ls);
        assertEquals(4L << 20, Files.size(platform.dmFile()), "created at the table's size, as acrn-dm would");
        final Path sysfs = platform.addVm(2);
        final HypervisorBackend guest = platform.start(with(platform.guestOptions(sysfs, "dm:/" + platform.dmName()),
            AcrnBackendConfig.OPTION_VM_ID, "2"), lg);
        assertEquals(0, service.localVm());
        assertEquals(2, guest.localVm(), "the configured VM id, not IVPosition (0)");
        assertFalse(service.capabilities().doorbell());
        assertFalse(guest.capabilities().doorbell());
        ls.await(l -> l.sawPeerUp(2, guest.sessionId()), TIMEOUT, "the Service VM to see VM 2");
        lg.await(l -> l.sawPeerUp(0, service.sessionId()), TIMEOUT, "VM 2 to see the Service VM");

        assertTrue(guest.send(0, ByteBuffer.wrap(new byte[] {9}), 0, 1));
        ls.await(l -> l.messageCount(2) == 1, TIMEOUT, "the Service VM to poll VM 2's message");
        final long bellsBefore = ls.fenceDoorbells();
        assertTrue(guest.capability(PeerFenceDoorbells.class).orElseThrow().ringFence(0),
            "the fence bell word reaches a polling peer");
        ls.await(l -> l.fenceDoorbells() > bellsBefore, TIMEOUT, "the Service VM to see its fence bell move");
        assertEquals(0, EmulatedIvshmemSysfs.lastDoorbell(sysfs.resolve("0000:00:07.0")), "no Doorbell write ever");

        service.close();
        assertTrue(Files.exists(platform.dmFile()), "the shm object is acrn-dm's: not unlinked");
    }

    @Test
    void theServiceVmNeedsTheShmObjectOrItsSizeAndChecksTheSize() throws Exception
    {
        final Map<String, String> noTable = with(platform.serviceVmOptions(), AcrnBackendConfig.OPTION_REGIONS, null);
        assertError("ENOENT", () -> startFresh(noTable));
        assertFalse(Files.exists(platform.dmFile()), "nothing created without a size");
        EmulatedIvshmemSysfs.createMemory(platform.dmFile(), 3L << 20);
        assertError("EINVAL", () -> startFresh(noTable));
        assertError("EINVAL", () -> startFresh(with(noTable, AcrnBackendConfig.OPTION_SIZE_MB, "4")));
        EmulatedIvshmemSysfs.createMemory(platform.dmFile(), 4L << 20);
        final HypervisorBackend ok = startFresh(noTable);
        assertEquals(0, ok.localVm());
        ok.close();
    }

    /**
     * A dm-land region its filesystem cannot hold is refused at start with ENOSPC and the numbers, whether the
     * Service VM daemon creates the file or acrn-dm made it sparse, instead of SIGBUS in whoever touches it later;
     * once there is room, the whole file is reserved.
     */
    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void aDmLandRegionItsFilesystemCannotHoldIsRefusedWithEnospcAndReservedOtherwise() throws Exception
    {
        try (SmallTmpfs tmpfs = SmallTmpfs.mount("2m"))
        {
            final Map<String, String> options = with(platform.serviceVmOptions(), AcrnBackendConfig.OPTION_SHM_DIR,
                tmpfs.dir().toString());
            final Path file = tmpfs.dir().resolve(platform.dmName());
            final long size = 4L << 20;
            final BackendException created = assertThrows(BackendException.class, () -> startFresh(options));
            assertEquals("ENOSPC", created.code().name(), created.getMessage());
            for (final String number : new String[] {Long.toString(size), Long.toString(tmpfs.free()), file.toString()})
            {
                assertTrue(created.getMessage().contains(number), number + " in: " + created.getMessage());
            }
            assertFalse(created.getMessage().contains("\n"), "one line");
            assertFalse(Files.exists(file), "the file it could not back is not left for acrn-dm");

            EmulatedIvshmemSysfs.createMemory(file, size); // acrn-dm's shm_open and ftruncate: sparse
            assertError("ENOSPC", () -> startFresh(options));
            assertTrue(Files.exists(file), "acrn-dm's file is never removed");

            tmpfs.resize("8m");
            final long freeBefore = tmpfs.free();
            final HypervisorBackend ok = startFresh(options);
            assertEquals(size, freeBefore - tmpfs.free(), "every page of the region reserved at start");
            ok.close();
        }
    }

    private HypervisorBackend startFresh(final Map<String, String> options) throws Exception
    {
        return platform.start(options, new RecordingListener());
    }
}
