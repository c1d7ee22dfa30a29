package org.hyperdmabuf.hv.kvm;

import org.hyperdmabuf.hv.pci.EmulatedIvshmemSysfs;
import org.hyperdmabuf.hv.spi.BackendException;
import org.hyperdmabuf.hv.spi.BackendListener;

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
 * Emulated guests for guest-mode tests: one region file on {@code /dev/shm} (as QEMU's
 * {@code memory-backend-file,share=on}) and, per guest, an {@link EmulatedIvshmemSysfs} tree whose
 * {@code resource2} is that file and whose IVPosition is the guest's id.
 */
final class GuestFabric implements AutoCloseable
{
    static final long REGION_SIZE = 4L << 20;
    static final String DEVICE = "0000:00:04.0";

    private final Path dir;
    private final Path memory;
    private final boolean doorbell;
    private final List<IvshmemBackend> backends = new ArrayList<>();
    private int nextGuest;

    GuestFabric(final boolean doorbell) throws IOException
    {
        this.dir = Files.createTempDirectory("hdmabuf-guests");
        this.memory = EmulatedIvshmemSysfs.createMemory(Files.createTempFile(Path.of("/dev/shm"), "hdmabuf-guest", ""),
            REGION_SIZE);
        this.doorbell = doorbell;
    }

    Path memory()
    {
        return memory;
    }

    /** A new emulated guest whose device has IVPosition {@code id}; returns its sysfs PCI devices directory. */
    Path addGuest(final int id) throws IOException
    {
        return addGuest(id, memory);
    }

    /** A new emulated guest whose device is backed by {@code backing} (any file, e.g. a memfd's /proc path). */
    Path addGuest(final int id, final Path backing) throws IOException
    {
        final EmulatedIvshmemSysfs sysfs = new EmulatedIvshmemSysfs(dir.resolve("guest" + nextGuest++));
        sysfs.addIvshmem(DEVICE, backing, id, doorbell);
        return sysfs.devicesDir();
    }

    /** Guest-mode options for the guest whose sysfs is {@code devicesDir}. */
    static Map<String, String> options(final Path devicesDir)
    {
        final Map<String, String> options = new HashMap<>();
        options.put(IvshmemBackend.OPTION_MODE, IvshmemBackend.MODE_GUEST);
        options.put(IvshmemBackend.OPTION_SYSFS, devicesDir.toString());
        options.put(IvshmemBackend.OPTION_MAX_PEERS, Integer.toString(TestServer.MAX_PEERS));
        options.put(IvshmemBackend.OPTION_RING_CAPACITY, Integer.toString(TestServer.RING_CAPACITY));
        return options;
    }

    /** A started backend in a new guest with IVPosition {@code id}, {@code extra} over the default options. */
    IvshmemBackend start(final int id, final BackendListener listener, final Map<String, String> extra)
        throws IOException, BackendException
    {
        return start(addGuest(id), listener, extra);
    }

    /** A started backend in the guest whose sysfs is {@code devicesDir}. */
    IvshmemBackend start(final Path devicesDir, final BackendListener listener, final Map<String, String> extra)
        throws BackendException
    {
        final Map<String, String> options = options(devicesDir);
        options.putAll(extra);
        final IvshmemBackend backend = new IvshmemBackend(options);
        backends.add(backend);
        backend.start(listener);
        return backend;
    }

    @Override
    public void close() throws IOException
    {
        for (final IvshmemBackend backend : backends)
        {
            backend.close();
        }
        Files.deleteIfExists(memory);
        try (Stream<Path> paths = Files.walk(dir))
        {
            for (final Path p : (Iterable<Path>)paths.sorted(Comparator.reverseOrder())::iterator)
            {
                Files.deleteIfExists(p);
            }
        }
    }
}
