package org.hyperdmabuf.hv.nativeio;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/** Anonymous shared memory files ({@code memfd_create}), the backing of an ivshmem region. */
public final class MemFd
{
    /** A stride that reaches every page whatever the page size. */
    private static final int SMALLEST_PAGE = 4096;
    private static final VarHandle LONGS = MethodHandles.byteBufferViewVarHandle(long[].class,
        ByteOrder.nativeOrder());

    private MemFd()
    {
    }

    /** Creates a memfd of {@code size} bytes; the caller owns the returned fd. */
    public static int create(final String name, final long size) throws NativeIoException
    {
        final LibC libc = Native.libc();
        final int fd = Native.check(libc.memfd_create(name, Native.MFD_CLOEXEC), "memfd_create");
        if (libc.ftruncate(fd, size) < 0)
        {
            final int errno = Native.errno();
            libc.close(fd);
            throw new NativeIoException("ftruncate(" + size + ")", errno);
        }
        return fd;
    }

    /**
     * Creates a memfd of {@code size} bytes that udmabuf accepts ({@link UdmaBuf}): created with
     * {@code MFD_ALLOW_SEALING} (it cannot be added later) and sealed {@code F_SEAL_SHRINK} once sized, so no holder
     * can cut pages from under a dma-buf. Growing, writing and punching holes stay allowed.
     */
    public static int createSealable(final String name, final long size) throws NativeIoException
    {
        final LibC libc = Native.libc();
        final int fd = Native.check(libc.memfd_create(name, Native.MFD_CLOEXEC | Native.MFD_ALLOW_SEALING),
            "memfd_create");
        if (libc.ftruncate(fd, size) < 0 || libc.fcntl(fd, Native.F_ADD_SEALS, Native.F_SEAL_SHRINK) < 0)
        {
            final int errno = Native.errno();
            libc.close(fd);
            throw new NativeIoException("sizing and sealing a memfd of " + size + " bytes", errno);
        }
        return fd;
    }

    /**
     * Why udmabuf would refuse ranges of the file behind {@code fd}, or null when it qualifies: a memfd sealed
     * {@code F_SEAL_SHRINK} and not write-sealed. A file that is no memfd, or a memfd created without
     * {@code MFD_ALLOW_SEALING}, answers F_GET_SEALS with EINVAL or only {@code F_SEAL_SEAL}.
     */
    public static String dmaBufUnsuitability(final int fd)
    {
        final int seals = Native.libc().fcntl(fd, Native.F_GET_SEALS, 0);
        if (seals < 0)
        {
            return "the region is not a memfd (F_GET_SEALS: " + Errno.name(Native.errno()) + ")";
        }
        if ((seals & (Native.F_SEAL_WRITE | Native.F_SEAL_FUTURE_WRITE)) != 0)
        {
            return "the region's memfd is sealed against writes";
        }
        if ((seals & Native.F_SEAL_SHRINK) == 0)
        {
            // tmpfs files and memfds made without MFD_ALLOW_SEALING report F_SEAL_SEAL alone
            return "the region is not a memfd sealed F_SEAL_SHRINK (its creator did not use MFD_ALLOW_SEALING " +
                "and seal it, or it is no memfd)";
        }
        return null;
    }

    /**
     * Write-faults {@code [offset, offset + length)} of the file through a shared mapping without changing a
     * byte ({@code MADV_POPULATE_WRITE}): pages that were holes or only read-faulted become dirty pages of the
     * file, so what a dma-buf made from the range writes later is kept.
     */
    public static void populateWrite(final int fd, final long offset, final long length) throws NativeIoException
    {
        try (MappedMemory m = MappedMemory.map(fd, offset, length, false))
        {
            if (Native.libc().madvise(m.address(), length, Native.MADV_POPULATE_WRITE) == 0)
            {
                return;
            }
            final int errno = Native.errno();
            if (errno != Errno.EINVAL)
            {
                throw new NativeIoException("madvise(MADV_POPULATE_WRITE, " + offset + ", " + length + ")", errno);
            }
            // A kernel before 5.14 does not know the advice.
            writeFaultEachPage(m.buffer());
        }
    }

    /**
     * What {@code MADV_POPULATE_WRITE} does, by hand: an atomic add of zero to one word of each page is a write
     * access (so a write fault) that changes no byte, not even under a concurrent writer of that word.
     */
    static void writeFaultEachPage(final ByteBuffer mapped)
    {
        for (int at = 0; at + Long.BYTES <= mapped.capacity(); at += SMALLEST_PAGE)
        {
            LONGS.getAndAdd(mapped, at, 0L);
        }
    }

    /**
     * Zeroes {@code [offset, offset + length)} by punching a hole: the pages read as zero for every mapping
     * (other processes and QEMU guests included) and their memory goes back to the kernel.
     */
    public static void punchHole(final int fd, final long offset, final long length) throws NativeIoException
    {
        Native.check(Native.libc().fallocate(fd, Native.FALLOC_FL_PUNCH_HOLE | Native.FALLOC_FL_KEEP_SIZE, offset,
            length), "fallocate(PUNCH_HOLE, " + offset + ", " + length + ")");
    }

    /**
     * Allocates {@code [offset, offset + length)} of the file behind {@code fd} ({@code fallocate} mode 0): bytes
     * already there are kept, holes become zero pages, and the file grows to cover the range. On a tmpfs the pages
     * are then owned by the file, so a full filesystem answers here with ENOSPC instead of SIGBUS in whoever
     * touches a hole later. EOPNOTSUPP where the filesystem cannot allocate ahead.
     */
    public static void reserve(final int fd, final long offset, final long length) throws NativeIoException
    {
        // tmpfs gives up a long allocation on a signal (EINTR), undoing it: start again
        while (Native.libc().fallocate(fd, 0, offset, length) < 0)
        {
            final int errno = Native.errno();
            if (errno != Errno.EINTR)
            {
                throw new NativeIoException("fallocate(" + offset + ", " + length + ")", errno);
            }
        }
    }

    /** Size of the file behind {@code fd} (as QEMU does with fstat). */
    public static long size(final int fd) throws NativeIoException
    {
        return Native.check(Native.libc().lseek(fd, 0, Native.SEEK_END), "lseek");
    }

    /**
     * A new read-only fd for the same file, through {@code /proc/self/fd}: mmap with PROT_WRITE on it fails
     * with EACCES, so a consumer handed this fd cannot write the pages.
     */
    public static int reopenReadOnly(final int fd) throws NativeIoException
    {
        return Native.check(Native.libc().open("/proc/self/fd/" + fd, Native.O_RDONLY | Native.O_CLOEXEC, 0),
            "open(/proc/self/fd/" + fd + ", O_RDONLY)");
    }
}
