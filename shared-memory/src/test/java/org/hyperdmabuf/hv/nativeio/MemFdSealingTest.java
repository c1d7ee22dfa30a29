package org.hyperdmabuf.hv.nativeio;

import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Which region files udmabuf would accept: only a memfd made sealable and sealed against shrinking. */
class MemFdSealingTest
{
    private static final long SIZE = 1 << 20;
    private static final int SEEK_HOLE = 4;

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

    /** The fallback for kernels without MADV_POPULATE_WRITE fills every hole with a page and keeps every byte. */
    @Test
    void writeFaultingEachPageFillsTheHolesAndChangesNoByte() throws Exception
    {
        final int pages = 16;
        final int fd = MemFd.createSealable("populate-test", pages * 4096L);
        try (MappedMemory m = MappedMemory.map(fd, 0, pages * 4096L, false))
        {
            final ByteBuffer b = m.buffer();
            for (int i = 0; i < 4096; i++)
            {
                b.put(4096 + i, (byte)(i * 7 + 1)); // page 1 written, the others holes
            }
            MemFd.punchHole(fd, 0, 4096);
            MemFd.punchHole(fd, 2 * 4096, (pages - 2) * 4096L);
            assertEquals(0, Native.libc().lseek(fd, 0, SEEK_HOLE), "page 0 is a hole");
            for (int i = 0; i < pages * 4096; i += 4096)
            {
                b.get(i); // read faults: pages, but clean ones, which the kernel may drop (what udmabuf must not see)
            }
            assertEquals(4, dirtyKib(m.address()), "only page 1 dirty before");
            MemFd.writeFaultEachPage(b);
            assertEquals(pages * 4096L, Native.libc().lseek(fd, 0, SEEK_HOLE), "no hole before the end");
            assertEquals(pages * 4, dirtyKib(m.address()), "every page dirty after");
            for (int i = 0; i < pages * 4096; i++)
            {
                final int expected = i >= 4096 && i < 8192 ? (byte)((i - 4096) * 7 + 1) : 0;
                assertEquals(expected, b.get(i), "byte " + i);
            }
        }
        finally
        {
            Native.closeQuietly(fd);
        }
    }

    /** Dirty kilobytes of our mapping at {@code address}, from {@code /proc/self/smaps}. */
    private static long dirtyKib(final long address) throws Exception
    {
        final List<String> lines = Files.readAllLines(Path.of("/proc/self/smaps"));
        final String start = Long.toHexString(address) + "-";
        int i = 0;
        while (!lines.get(i).startsWith(start))
        {
            i++;
        }
        long kib = 0;
        for (i++; i < lines.size() && !lines.get(i).matches("^[0-9a-f]+-[0-9a-f]+ .*"); i++)
        {
            if (lines.get(i).startsWith("Shared_Dirty:") || lines.get(i).startsWith("Private_Dirty:"))
            {
                kib += Long.parseLong(lines.get(i).replaceAll("[^0-9]", ""));
            }
        }
        return kib;
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
