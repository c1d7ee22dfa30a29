package org.hyperdmabuf.hv.acrn;

import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.hv.kvm.PollingTransport;
import org.hyperdmabuf.hv.nativeio.Errno;
import org.hyperdmabuf.hv.nativeio.MappedMemory;
import org.hyperdmabuf.hv.nativeio.MemFd;
import org.hyperdmabuf.hv.nativeio.Native;
import org.hyperdmabuf.hv.nativeio.NativeIoException;
import org.hyperdmabuf.hv.spi.BackendException;
import org.hyperdmabuf.hv.spi.ErrorCodes;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileStore;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;

/**
 * dm-land seen from the Service VM: acrn-dm backs a dm-land region with the POSIX shm object of its name
 * ({@code shm_open("name")}, i.e. {@code /dev/shm/name}), so a daemon in the Service VM opens the same file and
 * is a peer of the post-launched VMs' devices. There is no doorbell on dm-land (acrn-dm logs "Doorbell
 * capability doesn't support for now") and no IVPosition here: the id is configured, the region is polled.
 * The file is never unlinked: it is acrn-dm's.
 */
final class ServiceVmShmTransport extends PollingTransport
{
    private static final Logger LOG = LoggerFactory.getLogger(ServiceVmShmTransport.class);

    private final Path file;
    private final int fd;
    private final long size;
    private final int ownId;
    private boolean unreservedWarned;

    private ServiceVmShmTransport(final Path file, final int fd, final long size, final int ownId,
        final long maxParkNs)
    {
        super(maxParkNs);
        this.file = file;
        this.fd = fd;
        this.size = size;
        this.ownId = ownId;
    }

    /**
     * Opens {@code shmDir/NAME} of the dm-land {@code region}; creates it (0600, the configured size) if acrn-dm
     * has not yet, which acrn-dm then opens as is. Either way the whole file is reserved ({@link #reserve}), so a
     * region its filesystem cannot hold is refused here with ENOSPC.
     */
    static ServiceVmShmTransport open(final AcrnRegion region, final Path shmDir, final int vmId,
        final long maxParkNs) throws IOException, BackendException
    {
        final Path file = shmDir.resolve(region.name());
        boolean created = false;
        if (!Files.exists(file) && region.sizeMiB() != 0)
        {
            try
            {
                Files.createFile(file,
                    PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
                created = true;
            }
            catch (final FileAlreadyExistsException e)
            {
                // acrn-dm or another daemon created it meanwhile: use theirs
            }
        }
        final int fd = Native.libc().open(file.toString(), Native.O_RDWR | Native.O_CLOEXEC, 0);
        if (fd < 0)
        {
            final NativeIoException e = new NativeIoException("open(" + file + ")", Native.errno());
            throw new BackendException(ErrorCodes.of(e), AcrnIvshmemBackendProvider.NAME + ": dm-land region " +
                region.spec() + ": " + e.getMessage() + (region.sizeMiB() == 0 ? " (give its size to create it)" : ""),
                e);
        }
        try
        {
            if (created)
            {
                reserve(region, file, fd, (long)region.sizeMiB() << 20, true);
            }
            final long size = MemFd.size(fd);
            region.checkActualSize(size, file.toString());
            if (!created)
            {
                reserve(region, file, fd, size, false);
            }
            return new ServiceVmShmTransport(file, fd, size, vmId, maxParkNs);
        }
        catch (final IOException | BackendException | RuntimeException e)
        {
            Native.closeQuietly(fd);
            if (created)
            {
                // Ours and unusable: left behind, it would be the region acrn-dm and the next daemon open.
                Files.deleteIfExists(file);
            }
            throw e;
        }
    }

    /**
     * Allocates every page of the file (keeping what is there; a new file gets its size), so that nobody meets a
     * hole later: a sparse file on a tmpfs that fills up gives SIGBUS to whichever process first touches a page
     * it cannot back, a client, a daemon or acrn-dm with its VM. Costs the region's size in Service VM memory
     * from now on, which its VMs may use at any time anyway. Where the filesystem cannot allocate ahead
     * (EOPNOTSUPP), a new file is only checked against the free space and then sized sparse.
     */
    private static void reserve(final AcrnRegion region, final Path file, final int fd, final long size,
        final boolean created) throws IOException, BackendException
    {
        try
        {
            MemFd.reserve(fd, 0, size);
        }
        catch (final NativeIoException e)
        {
            if (e.errno() == Errno.ENOSPC)
            {
                throw noSpace(region, file, size, "fallocate");
            }
            if (e.errno() != Errno.EOPNOTSUPP)
            {
                throw new BackendException(ErrorCodes.of(e), AcrnIvshmemBackendProvider.NAME + ": dm-land region " +
                    region.spec() + ": cannot reserve the " + size + " bytes of " + file + ": " + e.getMessage(), e);
            }
            if (created)
            {
                if (Files.getFileStore(file).getUsableSpace() < size)
                {
                    throw noSpace(region, file, size, "statvfs");
                }
                Native.check(Native.libc().ftruncate(fd, size), "ftruncate(" + file + ", " + size + ")");
            }
            LOG.warn("{}: dm-land region {}: {} cannot be reserved ({}): a process touching a page its filesystem " +
                "cannot back then gets SIGBUS", AcrnIvshmemBackendProvider.NAME, region.spec(), file, e.getMessage());
        }
    }

    /** ENOSPC with the numbers: region size, free bytes on the file's filesystem, the path. */
    private static BackendException noSpace(final AcrnRegion region, final Path file, final long size,
        final String how) throws IOException
    {
        final FileStore store = Files.getFileStore(file);
        return new BackendException(ErrorCode.ENOSPC,
            AcrnIvshmemBackendProvider.NAME + ": dm-land region " + region.spec() +
            ": ENOSPC (" + how + "): the region needs " + size + " bytes (" + (size >> 20) + " MiB) but the " +
            "filesystem of " + file + " has " + store.getUsableSpace() + " bytes free of " + store.getTotalSpace() +
            "; enlarge it (mount -o remount,size=...) or give the region a smaller size");
    }

    @Override
    public String describe()
    {
        return "Service VM shm " + file;
    }

    @Override
    public int ownId()
    {
        return ownId;
    }

    @Override
    public long regionSize()
    {
        return size;
    }

    @Override
    public MappedMemory map(final long offset, final long length) throws IOException
    {
        if (offset < 0 || length <= 0 || offset > size - length)
        {
            throw new NativeIoException("mmap " + file + " [" + offset + ", +" + length + ")", Errno.EINVAL);
        }
        return MappedMemory.map(fd, offset, length, false);
    }

    @Override
    public int openRegionFd(final boolean readOnly) throws IOException
    {
        return Native.check(Native.libc().open(file.toString(),
            (readOnly ? Native.O_RDONLY : Native.O_RDWR) | Native.O_CLOEXEC, 0), "open(" + file + ")");
    }

    /**
     * A punched hole reads as zeros for every VM; allocating it again keeps the range reserved ({@link #reserve}).
     * Should that fail (the filesystem filled up meanwhile), the range stays zero but unreserved: said once.
     */
    @Override
    public void zero(final long offset, final long length) throws IOException
    {
        MemFd.punchHole(fd, offset, length);
        try
        {
            MemFd.reserve(fd, offset, length);
        }
        catch (final NativeIoException e)
        {
            if (!unreservedWarned)
            {
                unreservedWarned = true;
                LOG.warn("{}: freed pages of {} are zeroed but no longer reserved ({}): a process touching them " +
                    "may get SIGBUS if its filesystem stays full", AcrnIvshmemBackendProvider.NAME, file,
                    e.getMessage());
            }
        }
    }

    @Override
    public boolean ring(final int peer, final int vector)
    {
        return false;
    }

    @Override
    public boolean hasDoorbell()
    {
        return false;
    }

    @Override
    public void close()
    {
        Native.closeQuietly(fd);
    }
}
