package org.hyperdmabuf.hv.pci;

import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.hv.nativeio.MappedMemory;
import org.hyperdmabuf.hv.nativeio.Native;
import org.hyperdmabuf.hv.nativeio.NativeIoException;
import org.hyperdmabuf.hv.shm.MemoryWindow;
import org.hyperdmabuf.hv.spi.ErrorCodes;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * An opened ivshmem device: BAR0 mapped as {@link IvshmemRegisters} and BAR2 open for mapping, both through
 * sysfs ({@code resource0}, {@code resource2}) with no kernel driver of ours, or BAR0 through vfio
 * ({@link #withRegisters}). Needs root (the resource files
 * are 0600). Owns one fd of {@code resource2} and the BAR0 mapping until {@link #close()}.
 * <p>
 * Memory decoding must be on for the BARs to reach the device: firmware usually enables it; {@link #open}
 * can also write {@code 1} to the device's {@code enable} attribute.
 */
public final class IvshmemDeviceHandle implements AutoCloseable
{
    private static final Logger LOG = LoggerFactory.getLogger(IvshmemDeviceHandle.class);

    private final IvshmemPciDevice device;
    private final MappedMemory bar0;
    private final IvshmemRegisters registers;
    private final int memoryFd;
    private boolean closed;

    private IvshmemDeviceHandle(final IvshmemPciDevice device, final MappedMemory bar0, final int memoryFd)
    {
        this.device = device;
        this.bar0 = bar0;
        this.registers = new IvshmemRegisters(new MemoryWindow(bar0.buffer()));
        this.memoryFd = memoryFd;
    }

    /** Opens {@code device}; with {@code enable}, first makes sure the PCI function is enabled. */
    public static IvshmemDeviceHandle open(final IvshmemPciDevice device, final boolean enable)
        throws PciDeviceException
    {
        if (enable)
        {
            enable(device);
        }
        final long bar0Size = fileSize(device.registersFile());
        if (bar0Size < IvshmemRegisters.DOORBELL_OFFSET + 4)
        {
            throw new PciDeviceException(ErrorCode.EIO,
                device.address() + ": resource0 has " + bar0Size + " bytes, not the " +
                IvshmemRegisters.LENGTH + "-byte ivshmem register BAR");
        }
        final int registersFd = openFile(device.registersFile(), false);
        final MappedMemory bar0;
        try
        {
            bar0 = MappedMemory.map(registersFd, 0, Math.min(bar0Size, IvshmemRegisters.LENGTH), false);
        }
        catch (final NativeIoException e)
        {
            throw new PciDeviceException(ErrorCodes.of(e),
                device.address() + ": cannot map resource0: " + e.getMessage(),
                e);
        }
        finally
        {
            Native.closeQuietly(registersFd); // the mapping outlives the fd
        }
        return withRegisters(device, bar0);
    }

    /**
     * Opens {@code device} with BAR0 already mapped by the caller ({@code bar0}, e.g. through vfio, which
     * must then be the only mapping of BAR0); the handle owns that mapping from now on, also on failure.
     */
    public static IvshmemDeviceHandle withRegisters(final IvshmemPciDevice device, final MappedMemory bar0)
        throws PciDeviceException
    {
        final int memoryFd;
        try
        {
            memoryFd = openFile(device.memoryFile(), false);
        }
        catch (final PciDeviceException e)
        {
            bar0.close();
            throw e;
        }
        return new IvshmemDeviceHandle(device, bar0, memoryFd);
    }

    public IvshmemPciDevice device()
    {
        return device;
    }

    public IvshmemRegisters registers()
    {
        return registers;
    }

    /** BAR2 size: the shared region's size. */
    public long regionSize()
    {
        return device.regionSize();
    }

    /** The fd of {@code resource2} this handle owns (do not close it). */
    public int memoryFd()
    {
        return memoryFd;
    }

    /** Maps {@code [offset, offset + length)} of the shared memory (page-aligned offset); the caller closes it. */
    public MappedMemory map(final long offset, final long length) throws NativeIoException
    {
        if (offset < 0 || length <= 0 || offset > device.regionSize() - length)
        {
            throw new NativeIoException("mmap " + device.memoryFile() + " [" + offset + ", +" + length + ")",
                org.hyperdmabuf.hv.nativeio.Errno.EINVAL);
        }
        return MappedMemory.map(memoryFd, offset, length, false);
    }

    /**
     * A new fd of the shared memory for a client to map (the caller owns it). A read-only one is opened
     * O_RDONLY, so mapping it writable fails with EACCES.
     */
    public int openMemory(final boolean readOnly) throws PciDeviceException
    {
        return openFile(device.memoryFile(), readOnly);
    }

    @Override
    public synchronized void close()
    {
        if (!closed)
        {
            closed = true;
            bar0.close();
            Native.closeQuietly(memoryFd);
        }
    }

    /** Writes 1 to {@code enable} unless it already reads non-zero; a failure is logged, not fatal. */
    private static void enable(final IvshmemPciDevice device)
    {
        final Path file = device.directory().resolve("enable");
        try
        {
            if (Files.exists(file) &&
                "0".equals(new String(Files.readAllBytes(file), StandardCharsets.US_ASCII).trim()))
            {
                Files.write(file, "1".getBytes(StandardCharsets.US_ASCII));
                LOG.info("enabled PCI device {}", device.address());
            }
        }
        catch (final IOException e)
        {
            LOG.warn("cannot enable PCI device {} ({}); its BARs may not decode", device.address(), e.getMessage());
        }
    }

    private static long fileSize(final Path file) throws PciDeviceException
    {
        try
        {
            return Files.size(file);
        }
        catch (final IOException e)
        {
            throw new PciDeviceException(ErrorCode.ENODEV, "cannot stat " + file + ": " + e.getMessage(), e);
        }
    }

    private static int openFile(final Path file, final boolean readOnly) throws PciDeviceException
    {
        final int fd = Native.libc().open(file.toString(),
            (readOnly ? Native.O_RDONLY : Native.O_RDWR) | Native.O_CLOEXEC, 0);
        if (fd < 0)
        {
            final NativeIoException e = new NativeIoException("open(" + file + ")", Native.errno());
            throw new PciDeviceException(ErrorCodes.of(e), e.getMessage() +
                ("EACCES".equals(e.errnoName()) ? " (PCI resource files need root)" : ""), e);
        }
        return fd;
    }
}
