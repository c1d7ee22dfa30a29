package org.hyperdmabuf.hv.shm;

import org.hyperdmabuf.hv.nativeio.MappedMemory;
import org.hyperdmabuf.hv.nativeio.Native;
import org.hyperdmabuf.hv.nativeio.SmallTmpfs;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.hyperdmabuf.hv.shm.RegionHeaderDescriptor.FORMAT_STATE_BLANK;
import static org.hyperdmabuf.hv.shm.RegionHeaderDescriptor.FORMAT_STATE_FORMATTING;
import static org.hyperdmabuf.hv.shm.RegionHeaderDescriptor.FORMAT_STATE_OFFSET;
import static org.hyperdmabuf.hv.shm.RegionHeaderDescriptor.HEADER_LENGTH;
import static org.hyperdmabuf.hv.shm.RegionHeaderDescriptor.MAGIC_OFFSET;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A formatter that fails gives the region back blank (ABI.md "Formatting"), whatever failed. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class SharedRegionFormattingTest
{
    private static final long SIZE = 1L << 20;
    private static final SharedRegion.FormatParams SMALL = new SharedRegion.FormatParams(4096, 2, 4096, 16);

    private static SharedRegion.Mapper mapperOver(final ByteBuffer region)
    {
        return (offset, length) -> new MemoryWindow(region.slice((int)offset, (int)length));
    }

    private static MemoryWindow header(final ByteBuffer region)
    {
        return new MemoryWindow(region.slice(0, HEADER_LENGTH));
    }

    private static void assertBlank(final MemoryWindow header)
    {
        assertEquals(FORMAT_STATE_BLANK, header.getIntVolatile(FORMAT_STATE_OFFSET), "format_state given back");
        assertEquals(0, header.getLongAcquire(MAGIC_OFFSET), "never published");
    }

    @Test
    void aFormatterThatFailsLeavesTheRegionBlankAndTheNextFormatsIt() throws Exception
    {
        final ByteBuffer region = ByteBuffer.allocateDirect((int)SIZE);
        final SharedRegion.Mapper failingControl = (offset, length) ->
        {
            if (length > HEADER_LENGTH)
            {
                throw new IOException("mmap refused");
            }
            return mapperOver(region).map(offset, length);
        };
        assertThrows(IOException.class, () -> SharedRegion.formatOrAttach(SIZE, failingControl, SMALL, 1, 100));
        assertBlank(header(region));
        // parameters the region cannot hold fail after the CAS too
        assertThrows(IllegalArgumentException.class, () -> SharedRegion.formatOrAttach(SIZE, mapperOver(region),
            new SharedRegion.FormatParams(4096, 256, 1 << 16, 16), 2, 100));
        assertBlank(header(region));

        final SharedRegion next = SharedRegion.formatOrAttach(SIZE, mapperOver(region), SMALL, 3, 100);
        assertTrue(next.formattedByUs());
        assertEquals(next.layout(), SharedRegion.validate(header(region), SIZE));
    }

    @Test
    void aWaiterFormatsTheRegionWhenItsFormatterGivesItBack() throws Exception
    {
        final ByteBuffer region = ByteBuffer.allocateDirect((int)SIZE);
        final MemoryWindow header = header(region);
        header.putIntRelease(FORMAT_STATE_OFFSET, FORMAT_STATE_FORMATTING); // another peer is formatting
        final CompletableFuture<SharedRegion> waiter = CompletableFuture.supplyAsync(() ->
        {
            try
            {
                return SharedRegion.formatOrAttach(SIZE, mapperOver(region), SMALL, 2, 20_000);
            }
            catch (final Exception e)
            {
                throw new IllegalStateException(e);
            }
        });
        // A window in which the waiter must NOT finish (a negative check), not synchronisation: the test passes
        // the same whether the waiter started in it or not.
        java.util.concurrent.locks.LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(200));
        assertFalse(waiter.isDone(), "waits while format_state is 1");
        header.putIntRelease(FORMAT_STATE_OFFSET, FORMAT_STATE_BLANK); // that formatter failed and gave up
        assertTrue(waiter.get(10, TimeUnit.SECONDS).formattedByUs(), "the waiter took over, long before its timeout");
    }

    /**
     * The field failure: a sparse region file on a tmpfs too small for its control area. Zeroing it faults
     * (SIGBUS, surfacing as an InternalError); the formatter reports an IOException and leaves the region blank,
     * and once the filesystem has room the next formatter succeeds.
     */
    @Test
    void aFaultWhileFormattingIsAnIoErrorAndTheRegionStaysFormattable() throws Exception
    {
        final long size = 64L << 20;
        try (SmallTmpfs tmpfs = SmallTmpfs.mount("2m"))
        {
            final Path file = tmpfs.dir().resolve("region");
            try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw"))
            {
                f.setLength(size); // sparse, as an ftruncate'd shm object
            }
            final int fd = Native.check(Native.libc().open(file.toString(), Native.O_RDWR | Native.O_CLOEXEC, 0),
                "open");
            final List<MappedMemory> mappings = new ArrayList<>();
            try
            {
                final SharedRegion.Mapper mapper = (offset, length) ->
                {
                    final MappedMemory m = MappedMemory.map(fd, offset, length, false);
                    mappings.add(m);
                    return new MemoryWindow(m.buffer());
                };
                final IOException e = assertThrows(IOException.class, () -> SharedRegion.formatOrAttach(size, mapper,
                    SharedRegion.FormatParams.defaults(), 1, 100));
                assertTrue(e.getMessage().contains("SIGBUS") && e.getMessage().contains(Long.toString(size)),
                    e.getMessage());
                assertInstanceOf(InternalError.class, e.getCause());
                assertBlank(mapper.map(0, HEADER_LENGTH));

                tmpfs.resize("128m");
                final SharedRegion next = SharedRegion.formatOrAttach(size, mapper,
                    SharedRegion.FormatParams.defaults(), 2, 100);
                assertTrue(next.formattedByUs());
            }
            finally
            {
                mappings.forEach(MappedMemory::close);
                Native.closeQuietly(fd);
            }
        }
    }
}
