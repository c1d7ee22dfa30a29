package org.hyperdmabuf.hv.xen.grant;

import org.hyperdmabuf.hv.nativeio.MappedMemory;
import org.hyperdmabuf.hv.nativeio.NativeIoException;
import org.hyperdmabuf.hv.xen.abi.PageDirectoryDescriptor;
import org.hyperdmabuf.hv.xen.abi.XenLimits;
import org.hyperdmabuf.hv.xen.dev.GrantAllocDevice;
import org.hyperdmabuf.hv.xen.dev.XenDevices;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The exporter's side of one buffer: its data pages in a gntalloc file of their own, granted to one domain
 * (read-only unless writable: the hypervisor enforces it), and a read-only page directory of their refs in a
 * second gntalloc file. {@link #directoryRef()} and {@link #length()} are what the export message carries.
 * Closing ends access (Xen defers that for pages the grantee still maps).
 */
public final class GrantedBuffer implements AutoCloseable
{
    private final GrantAllocDevice data;
    private final GrantAllocDevice directory;
    private final long dataIndex;
    private final long length;
    private final int directoryRef;
    private final int grantee;

    private GrantedBuffer(final GrantAllocDevice data, final GrantAllocDevice directory, final long dataIndex,
        final long length, final int directoryRef, final int grantee)
    {
        this.data = data;
        this.directory = directory;
        this.dataIndex = dataIndex;
        this.length = length;
        this.directoryRef = directoryRef;
        this.grantee = grantee;
    }

    /**
     * Allocates and grants {@code ceil(size / 4096)} zeroed pages plus their directory to {@code grantee}.
     * ENOSPC past the gntalloc page limit (nothing stays allocated then).
     */
    public static GrantedBuffer grant(final XenDevices devices, final int grantee, final long size,
        final boolean writable) throws NativeIoException
    {
        final long pages = PageDirectoryDescriptor.dataPages(size);
        if (size <= 0 || pages > XenLimits.GNTDEV_MAX_GRANTS_PER_MAP)
        {
            throw new NativeIoException("grant of " + size + " bytes (at most " +
                XenLimits.GNTDEV_MAX_GRANTS_PER_MAP + " pages)", org.hyperdmabuf.hv.nativeio.Errno.EINVAL);
        }
        final int dataPages = (int)pages;
        final int dirPages = PageDirectoryDescriptor.directoryPages(dataPages);
        GrantAllocDevice data = null;
        GrantAllocDevice dir = null;
        try
        {
            data = devices.openGrantAlloc();
            final int[] dataRefs = new int[dataPages];
            final long dataIndex = data.allocate(grantee, dataPages, writable, dataRefs);
            dir = devices.openGrantAlloc();
            final int[] dirRefs = new int[dirPages];
            final long dirIndex = dir.allocate(grantee, dirPages, false, dirRefs);
            try (MappedMemory m = MappedMemory.map(dir.fd(), dirIndex, (long)dirPages * XenLimits.PAGE_SIZE, false))
            {
                write(m.buffer().duplicate().order(ByteOrder.LITTLE_ENDIAN), dirRefs, dataRefs);
            }
            return new GrantedBuffer(data, dir, dataIndex, (long)dataPages * XenLimits.PAGE_SIZE, dirRefs[0], grantee);
        }
        catch (final NativeIoException | RuntimeException e)
        {
            if (dir != null)
            {
                dir.close();
            }
            if (data != null)
            {
                data.close();
            }
            throw e;
        }
    }

    /** Fills directory pages: page p links to page p + 1 and lists data refs [p * 1021, (p + 1) * 1021). */
    static void write(final ByteBuffer dir, final int[] dirRefs, final int[] dataRefs)
    {
        for (int p = 0; p < dirRefs.length; p++)
        {
            final int base = p * XenLimits.PAGE_SIZE;
            dir.putInt(base + PageDirectoryDescriptor.MAGIC_OFFSET, PageDirectoryDescriptor.MAGIC);
            dir.putInt(base + PageDirectoryDescriptor.DATA_PAGES_OFFSET, dataRefs.length);
            dir.putInt(base + PageDirectoryDescriptor.NEXT_REF_OFFSET, p + 1 < dirRefs.length ? dirRefs[p + 1] : 0);
            final int first = p * PageDirectoryDescriptor.REFS_PER_PAGE;
            final int n = Math.min(PageDirectoryDescriptor.REFS_PER_PAGE, dataRefs.length - first);
            for (int i = 0; i < n; i++)
            {
                dir.putInt(base + PageDirectoryDescriptor.REFS_OFFSET + 4 * i, dataRefs[first + i]);
            }
        }
    }

    public int directoryRef()
    {
        return directoryRef;
    }

    /** Bytes granted: whole pages. */
    public long length()
    {
        return length;
    }

    public int grantee()
    {
        return grantee;
    }

    /** The gntalloc file of the data pages: mmap it at {@link #dataIndex()} for {@link #length()} bytes. */
    public int dataFd()
    {
        return data.fd();
    }

    public long dataIndex()
    {
        return dataIndex;
    }

    @Override
    public void close()
    {
        directory.close();
        data.close();
    }
}
