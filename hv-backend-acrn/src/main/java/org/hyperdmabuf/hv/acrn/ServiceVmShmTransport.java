package org.hyperdmabuf.hv.acrn;

import org.hyperdmabuf.hv.kvm.PollingTransport;
import org.hyperdmabuf.hv.nativeio.Errno;
import org.hyperdmabuf.hv.nativeio.MappedMemory;
import org.hyperdmabuf.hv.nativeio.MemFd;
import org.hyperdmabuf.hv.nativeio.Native;
import org.hyperdmabuf.hv.nativeio.NativeIoException;
import org.hyperdmabuf.hv.spi.BackendException;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.FileAlreadyExistsException;
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
    private final Path file;
    private final int fd;
    private final long size;
    private final int ownId;

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
     * has not yet, which acrn-dm then opens as is.
     */
    static ServiceVmShmTransport open(final AcrnRegion region, final Path shmDir, final int vmId,
        final long maxParkNs) throws IOException, BackendException
    {
        final Path file = shmDir.resolve(region.name());
        if (!Files.exists(file) && region.sizeMiB() != 0)
        {
            try
            {
                Files.createFile(file,
                    PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
                try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw"))
                {
                    f.setLength((long)region.sizeMiB() << 20);
                }
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
            throw new BackendException(e.errnoName(), AcrnIvshmemBackendProvider.NAME + ": dm-land region " +
                region.spec() + ": " + e.getMessage() + (region.sizeMiB() == 0 ? " (give its size to create it)" : ""),
                e);
        }
        try
        {
            final long size = Files.size(file);
            region.checkActualSize(size, file.toString());
            return new ServiceVmShmTransport(file, fd, size, vmId, maxParkNs);
        }
        catch (final IOException | BackendException | RuntimeException e)
        {
            Native.closeQuietly(fd);
            throw e;
        }
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

    /** tmpfs punches holes: the pages go back to the Service VM and read as zeros for every VM. */
    @Override
    public void zero(final long offset, final long length) throws IOException
    {
        MemFd.punchHole(fd, offset, length);
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
