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
