package org.hyperdmabuf.hv.xen.grant;

import org.hyperdmabuf.hv.nativeio.Errno;
import org.hyperdmabuf.hv.nativeio.MappedMemory;
import org.hyperdmabuf.hv.nativeio.NativeIoException;
import org.hyperdmabuf.hv.xen.abi.PageDirectoryDescriptor;
import org.hyperdmabuf.hv.xen.abi.XenLimits;
import org.hyperdmabuf.hv.xen.dev.GrantMapDevice;
import org.hyperdmabuf.hv.xen.dev.XenDevices;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The importer's side of one buffer: walks the exporter's page directory (each directory page mapped
 * read-only, its magic and page count checked, then unmapped) and maps the data refs in one gntdev file, which then holds just this buffer. The
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
        final int[] refs = readDirectory(devices, granter, directoryRef, (int)pages);
        final GrantMapDevice data = devices.openGrantMap();
        try
        {
            return new ImportedBuffer(data, data.map(granter, refs, refs.length), refs.length);
        }
        catch (final NativeIoException | RuntimeException e)
        {
            data.close();
            throw e;
        }
    }

    private static int[] readDirectory(final XenDevices devices, final int granter, final int firstRef,
        final int pages) throws NativeIoException
    {
        final int[] refs = new int[pages];
        final int dirPages = PageDirectoryDescriptor.directoryPages(pages);
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
                    if (b.getInt(PageDirectoryDescriptor.MAGIC_OFFSET) != PageDirectoryDescriptor.MAGIC ||
                        b.getInt(PageDirectoryDescriptor.DATA_PAGES_OFFSET) != pages)
                    {
                        throw new NativeIoException("dom" + granter + " ref " + ref + " is not a page directory of " +
                            pages + " pages", Errno.EINVAL);
                    }
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
        return refs;
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
