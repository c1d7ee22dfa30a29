package org.hyperdmabuf.hv.xen.grant;

import org.hyperdmabuf.hv.nativeio.Errno;
import org.hyperdmabuf.hv.nativeio.MappedMemory;
import org.hyperdmabuf.hv.nativeio.NativeIoException;
import org.hyperdmabuf.hv.xen.abi.FencePageDescriptor;
import org.hyperdmabuf.hv.xen.abi.PageDirectoryDescriptor;
import org.hyperdmabuf.hv.xen.abi.XenLimits;
import org.hyperdmabuf.hv.xen.dev.GrantMapDevice;
import org.hyperdmabuf.hv.xen.dev.XenDevices;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The importer's side of one buffer: walks the exporter's page directory (each directory page mapped
 * read-only, its magic and page count checked, then unmapped) and maps the fence page then the data refs in one
 * gntdev file, which then holds just this buffer. The
 * chain must have exactly the pages {@code length} implies and no zero ref, else EINVAL.
 */
public final class ImportedBuffer implements AutoCloseable
{
    private final GrantMapDevice data;
    private final long index;
    private final int pages;

    private ImportedBuffer(final GrantMapDevice data, final long index, final int pages)
    {
        this.data = data;
        this.index = index;
        this.pages = pages;
    }

    public static ImportedBuffer map(final XenDevices devices, final int granter, final int directoryRef,
        final long length) throws NativeIoException
    {
        final long pages = PageDirectoryDescriptor.dataPages(length);
        if (length <= 0 || pages > XenLimits.GNTDEV_MAX_GRANTS_PER_MAP || directoryRef < XenLimits.FIRST_USABLE_GRANT_REF)
        {
            throw new NativeIoException("import of dom" + granter + " directory ref " + directoryRef + " length " +
                length, Errno.EINVAL);
        }
        final int[] refs = new int[(int)pages];
        final int fenceRef = readDirectory(devices, granter, directoryRef, refs);
        final GrantMapDevice data = devices.openGrantMap();
        try
        {
            // The fence page first, then the data: the same offsets as in the exporter's file.
            final long fenceIndex = data.map(granter, new int[] {fenceRef}, 1);
            final long index = data.map(granter, refs, refs.length);
            if (fenceIndex != 0 || index != FencePageDescriptor.DATA_OFFSET)
            {
                throw new NativeIoException("gntdev placed a new file's maps at " + fenceIndex + " and " + index,
                    Errno.EIO);
            }
            return new ImportedBuffer(data, index, refs.length);
        }
        catch (final NativeIoException | RuntimeException e)
        {
            data.close();
            throw e;
        }
    }

    /** Walks the directory into {@code refs}; returns the fence page's ref. */
    private static int readDirectory(final XenDevices devices, final int granter, final int firstRef,
        final int[] refs) throws NativeIoException
    {
        final int pages = refs.length;
        final int dirPages = PageDirectoryDescriptor.directoryPages(pages);
        int fenceRef = 0;
        int ref = firstRef;
        for (int p = 0; p < dirPages; p++)
        {
            if (ref < XenLimits.FIRST_USABLE_GRANT_REF)
            {
                throw new NativeIoException("page directory of dom" + granter + " ends after " + p + " of " +
                    dirPages + " pages", Errno.EINVAL);
            }
            try (GrantMapDevice dev = devices.openGrantMap())
            {
                final long index = dev.map(granter, new int[] {ref}, 1);
                try (MappedMemory m = MappedMemory.map(dev.fd(), index, XenLimits.PAGE_SIZE, true))
                {
                    final ByteBuffer b = m.buffer().duplicate().order(ByteOrder.LITTLE_ENDIAN);
                    final int pageFence = b.getInt(PageDirectoryDescriptor.FENCE_REF_OFFSET);
                    if (b.getInt(PageDirectoryDescriptor.MAGIC_OFFSET) != PageDirectoryDescriptor.MAGIC ||
                        b.getInt(PageDirectoryDescriptor.DATA_PAGES_OFFSET) != pages ||
                        pageFence < XenLimits.FIRST_USABLE_GRANT_REF || p > 0 && pageFence != fenceRef)
                    {
                        throw new NativeIoException("dom" + granter + " ref " + ref + " is not a page directory of " +
                            pages + " pages", Errno.EINVAL);
                    }
                    fenceRef = pageFence;
                    final int first = p * PageDirectoryDescriptor.REFS_PER_PAGE;
                    final int n = Math.min(PageDirectoryDescriptor.REFS_PER_PAGE, pages - first);
                    for (int i = 0; i < n; i++)
                    {
                        refs[first + i] = b.getInt(PageDirectoryDescriptor.REFS_OFFSET + 4 * i);
                        if (refs[first + i] < XenLimits.FIRST_USABLE_GRANT_REF)
                        {
                            throw new NativeIoException("page directory of dom" + granter + " lists reserved ref " +
                                refs[first + i], Errno.EINVAL);
                        }
                    }
                    ref = b.getInt(PageDirectoryDescriptor.NEXT_REF_OFFSET);
                }
                dev.unmap(index, 1);
            }
        }
        if (ref != 0)
        {
            throw new NativeIoException("page directory of dom" + granter + " is longer than " + dirPages +
                " pages", Errno.EINVAL);
        }
        return fenceRef;
    }

    /** The gntdev file holding the buffer: mmap it at {@link #index()} (PROT_READ only for read-only grants). */
    public int fd()
    {
        return data.fd();
    }

    public long index()
    {
        return index;
    }

    public long length()
    {
        return (long)pages * XenLimits.PAGE_SIZE;
    }

    @Override
    public void close()
    {
        data.close();
    }
}
