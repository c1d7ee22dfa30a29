package org.hyperdmabuf.hv.nativeio;

/** Anonymous shared memory files ({@code memfd_create}), the backing of an ivshmem region. */
public final class MemFd
{
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
