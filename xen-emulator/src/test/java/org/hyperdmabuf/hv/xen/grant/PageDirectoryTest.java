package org.hyperdmabuf.hv.xen.grant;

import org.hyperdmabuf.hv.conformance.Await;
import org.hyperdmabuf.hv.nativeio.Errno;
import org.hyperdmabuf.hv.nativeio.MappedMemory;
import org.hyperdmabuf.hv.nativeio.NativeIoException;
import org.hyperdmabuf.hv.xen.abi.PageDirectoryDescriptor;
import org.hyperdmabuf.hv.xen.emu.EmulatedXenTestBase;
import org.junit.jupiter.api.Test;

import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** Buffers granted through a page directory and imported from it, on the emulated grant table. */
// "try": a grant held open by try-with-resources for the duration of a check.
@SuppressWarnings("try")
class PageDirectoryTest extends EmulatedXenTestBase
{
    private static final int PAGE = 4096;
    private static final int LIMIT = 4096;
    private static final Duration TIMEOUT = Duration.ofSeconds(10);

    @Override
    protected int gntallocLimit()
    {
        return LIMIT;
    }

    @Test
    void aSmallBufferIsSharedZeroCopyBothWays() throws Exception
    {
        final long size = 3L * PAGE + 100;
        try (GrantedBuffer granted = GrantedBuffer.grant(dom1, 2, size, true);
             ImportedBuffer imported = ImportedBuffer.map(dom2, 1, granted.directoryRef(), size);
             MappedMemory e = MappedMemory.map(granted.dataFd(), granted.dataIndex(), granted.length(), false);
             MappedMemory i = MappedMemory.map(imported.fd(), imported.index(), imported.length(), false))
        {
            assertEquals(4L * PAGE, granted.length());
            assertEquals(granted.length(), imported.length());
            e.buffer().putLong(3 * PAGE + 64, 0xFEEDL);
            assertEquals(0xFEEDL, i.buffer().getLong(3 * PAGE + 64));
            i.buffer().put(5, (byte)9);
            assertEquals(9, e.buffer().get(5));
        }
        Await.until(() -> emulator.grantCount(1) == 0, TIMEOUT, () -> "every grant ended after both sides closed");
    }

    @Test
    void aBufferBeyondOneDirectoryPageWalksTheChain() throws Exception
    {
        final int pages = 2 * PageDirectoryDescriptor.REFS_PER_PAGE + 54; // three directory pages
        final long size = (long)pages * PAGE;
        try (GrantedBuffer granted = GrantedBuffer.grant(dom1, 2, size, false);
             MappedMemory e = MappedMemory.map(granted.dataFd(), granted.dataIndex(), size, false))
        {
            assertEquals(pages + 3 + 1, emulator.gntallocPagesInUse(1), "data pages, three directory pages, the fence page");
            for (int p = 0; p < pages; p++)
            {
                e.buffer().putInt(p * PAGE, p * 31 + 1);
            }
            try (ImportedBuffer imported = ImportedBuffer.map(dom2, 1, granted.directoryRef(), size);
                 MappedMemory i = MappedMemory.map(imported.fd(), imported.index(), size, true))
            {
                for (int p = 0; p < pages; p++)
                {
                    assertEquals(p * 31 + 1, i.buffer().getInt(p * PAGE), "page " + p + " in order");
                }
                assertEquals(Errno.EACCES, assertThrows(NativeIoException.class,
                    () -> MappedMemory.map(imported.fd(), imported.index(), size, false)).errno(),
                    "a read-only grant cannot be mapped writable");
            }
        }
    }

    @Test
    void aReferenceThatDoesNotDescribeTheBufferIsEinval() throws Exception
    {
        final long size = 2L * PAGE;
        try (GrantedBuffer granted = GrantedBuffer.grant(dom1, 2, size, true))
        {
            assertEquals(Errno.EINVAL, assertThrows(NativeIoException.class,
                () -> ImportedBuffer.map(dom3, 1, granted.directoryRef(), size)).errno(), "not granted to dom3");
            assertEquals(Errno.EINVAL, assertThrows(NativeIoException.class,
                () -> ImportedBuffer.map(dom2, 1, granted.directoryRef(), (PageDirectoryDescriptor.REFS_PER_PAGE + 1L) * PAGE))
                .errno(), "a length the chain does not cover");
            assertEquals(Errno.EINVAL, assertThrows(NativeIoException.class,
                () -> ImportedBuffer.map(dom2, 1, granted.directoryRef() + 1, size)).errno(), "a data ref is no directory");
            assertEquals(Errno.EINVAL, assertThrows(NativeIoException.class,
                () -> ImportedBuffer.map(dom2, 1, 3, size)).errno(), "a reserved ref");
            try (ImportedBuffer ok = ImportedBuffer.map(dom2, 1, granted.directoryRef(), size))
            {
                assertEquals(size, ok.length(), "failed imports left the grant usable");
            }
        }
    }

    @Test
    void theGntallocLimitIsEnospcAndLeavesNothingAllocated() throws Exception
    {
        final NativeIoException e = assertThrows(NativeIoException.class,
            () -> GrantedBuffer.grant(dom1, 2, (long)(LIMIT - 1) * PAGE, true));
        assertEquals(Errno.ENOSPC, e.errno(), "the fence and data pages fit but the directory does not");
        Await.until(() -> emulator.gntallocPagesInUse(1) == 0, TIMEOUT, () -> "the partial allocation released");
        try (GrantedBuffer fits = GrantedBuffer.grant(dom1, 2, (long)(LIMIT - 6) * PAGE, true))
        {
            assertEquals(LIMIT, emulator.gntallocPagesInUse(1),
                "4090 data pages, their 5 directory pages and the fence page fill the limit");
        }
    }
}
