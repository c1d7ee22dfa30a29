package org.hyperdmabuf.hv.nativeio;

import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Which region files udmabuf would accept: only a memfd made sealable and sealed against shrinking. */
class MemFdSealingTest
{
    private static final long SIZE = 1 << 20;

    @Test
    void sealableMemfdQualifiesAndCannotShrink() throws Exception
    {
        final int fd = MemFd.createSealable("sealing-test", SIZE);
        try
        {
            assertNull(MemFd.dmaBufUnsuitability(fd));
            assertEquals(SIZE, MemFd.size(fd));
            assertTrue(Native.libc().ftruncate(fd, SIZE / 2) < 0, "a shrink must be refused");
            assertEquals(Errno.EPERM, Native.errno());
            // Freed buffers are still zeroed by punching holes, and the pages stay writable.
            MemFd.punchHole(fd, 0, 4096);
            MemFd.populateWrite(fd, 0, 8192);
        }
        finally
        {
            Native.closeQuietly(fd);
        }
    }

    @Test
    void plainMemfdAndOtherFilesDoNotQualify() throws Exception
    {
        final int memfd = MemFd.create("unsealable-test", SIZE);
        try
        {
            assertTrue(MemFd.dmaBufUnsuitability(memfd).contains("F_SEAL_SHRINK"), MemFd.dmaBufUnsuitability(memfd));
        }
        finally
        {
            Native.closeQuietly(memfd);
        }
        final Path file = Files.createTempFile("not-a-memfd", ".bin");
        final int fd = Native.check(Native.libc().open(file.toString(), Native.O_RDWR | Native.O_CLOEXEC, 0), "open");
        try
        {
            // EINVAL on most filesystems, F_SEAL_SEAL alone on tmpfs: refused either way
            assertTrue(MemFd.dmaBufUnsuitability(fd).startsWith("the region is not a memfd"),
                MemFd.dmaBufUnsuitability(fd));
        }
        finally
        {
            Native.closeQuietly(fd);
            Files.delete(file);
        }
    }
}
