package org.hyperdmabuf.hv.xen.grant;

import edu.umd.cs.findbugs.annotations.SuppressFBWarnings;
import org.hyperdmabuf.hv.nativeio.Errno;
import org.hyperdmabuf.hv.nativeio.MappedMemory;
import org.hyperdmabuf.hv.nativeio.NativeIoException;
import org.hyperdmabuf.hv.shm.FenceSlotDescriptor;
import org.hyperdmabuf.hv.shm.MemoryWindow;
import org.hyperdmabuf.hv.xen.abi.FencePageDescriptor;
import org.hyperdmabuf.hv.xen.abi.PageDirectoryDescriptor;
import org.hyperdmabuf.hv.xen.abi.XenLimits;
import org.hyperdmabuf.hv.xen.dev.GrantAllocDevice;
import org.hyperdmabuf.hv.xen.dev.XenDevices;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The exporter's side of one buffer: a gntalloc file of its own holding the fence page (granted writable) then
 * the data pages (read-only unless writable: the hypervisor enforces it), all granted to one domain, and a
 * read-only page directory of their refs in a second gntalloc file. {@link #directoryRef()} and {@link #length()}
 * are what the export message carries. Closing clears the fence page's magic and ends access (Xen defers that
 * for pages the grantee still maps).
 */
public final class GrantedBuffer implements AutoCloseable
{
    private final GrantAllocDevice data;
    private final GrantAllocDevice directory;
    private final MappedMemory fencePage;
    private final MemoryWindow fence;
    private final long length;
    private final int directoryRef;
    private final int fenceRef;
    private final int grantee;

    private GrantedBuffer(final GrantAllocDevice data, final GrantAllocDevice directory, final MappedMemory fencePage,
        final long length, final int directoryRef, final int fenceRef, final int grantee)
    {
        this.data = data;
        this.directory = directory;
        this.fencePage = fencePage;
        this.fence = new MemoryWindow(fencePage.buffer());
        this.length = length;
        this.directoryRef = directoryRef;
        this.fenceRef = fenceRef;
        this.grantee = grantee;
    }

    /**
     * Allocates and grants a fence page, {@code ceil(size / 4096)} zeroed data pages and their directory to
     * {@code grantee}. ENOSPC past the gntalloc page limit (nothing stays allocated then).
     */
    public static GrantedBuffer grant(final XenDevices devices, final int grantee, final long size,
        final boolean writable) throws NativeIoException
    {
        final long pages = PageDirectoryDescriptor.dataPages(size);
        if (size <= 0 || pages > XenLimits.GNTDEV_MAX_GRANTS_PER_MAP)
        {
            throw new NativeIoException("grant of " + size + " bytes (at most " +
                XenLimits.GNTDEV_MAX_GRANTS_PER_MAP + " pages)", Errno.EINVAL);
        }
        final int dataPages = (int)pages;
        final int dirPages = PageDirectoryDescriptor.directoryPages(dataPages);
        GrantAllocDevice data = null;
        GrantAllocDevice dir = null;
        MappedMemory fencePage = null;
        try
        {
            data = devices.openGrantAlloc();
            final int[] fenceRefs = new int[1];
            final long fenceIndex = data.allocate(grantee, 1, true, fenceRefs);
            final int[] dataRefs = new int[dataPages];
            final long dataIndex = data.allocate(grantee, dataPages, writable, dataRefs);
            if (fenceIndex != 0 || dataIndex != FencePageDescriptor.DATA_OFFSET)
            {
                throw new NativeIoException("gntalloc placed a new file's pages at " + fenceIndex + " and " +
                    dataIndex, Errno.EIO);
            }
            fencePage = MappedMemory.map(data.fd(), fenceIndex, XenLimits.PAGE_SIZE, false);
            fencePage.buffer().order(ByteOrder.LITTLE_ENDIAN).putInt(FencePageDescriptor.MAGIC_OFFSET,
                FencePageDescriptor.MAGIC);
            dir = devices.openGrantAlloc();
            final int[] dirRefs = new int[dirPages];
            final long dirIndex = dir.allocate(grantee, dirPages, false, dirRefs);
            try (MappedMemory m = MappedMemory.map(dir.fd(), dirIndex, (long)dirPages * XenLimits.PAGE_SIZE, false))
            {
                write(m.buffer().duplicate().order(ByteOrder.LITTLE_ENDIAN), dirRefs, dataRefs, fenceRefs[0]);
            }
            return new GrantedBuffer(data, dir, fencePage, (long)dataPages * XenLimits.PAGE_SIZE, dirRefs[0],
                fenceRefs[0], grantee);
        }
        catch (final NativeIoException | RuntimeException e)
        {
            if (fencePage != null)
            {
                fencePage.close();
            }
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

    /** Fills directory pages: page p links to page p + 1 and lists data refs [p * 1020, (p + 1) * 1020). */
    static void write(final ByteBuffer dir, final int[] dirRefs, final int[] dataRefs, final int fenceRef)
    {
        for (int p = 0; p < dirRefs.length; p++)
        {
            final int base = p * XenLimits.PAGE_SIZE;
            dir.putInt(base + PageDirectoryDescriptor.MAGIC_OFFSET, PageDirectoryDescriptor.MAGIC);
            dir.putInt(base + PageDirectoryDescriptor.DATA_PAGES_OFFSET, dataRefs.length);
            dir.putInt(base + PageDirectoryDescriptor.FENCE_REF_OFFSET, fenceRef);
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

    /** The fence page's grant ref: the fence slot index the export message carries. */
    public int fenceRef()
    {
        return fenceRef;
    }

    /** The exporter's mapping of the fence page (slot at 0). */
    @SuppressFBWarnings(value = "EI_EXPOSE_REP",
        justification = "the fence page is shared memory the exporter signals through: a view of it, not a copy")
    public MemoryWindow fence()
    {
        return fence;
    }

    /** Zeroes the fence slot, for the next export of this buffer. */
    public void clearFence()
    {
        fence.setMemory(FencePageDescriptor.SLOT_OFFSET, FenceSlotDescriptor.SLOT_LENGTH, (byte)0);
    }

    /** Bytes of data granted: whole pages. */
    public long length()
    {
        return length;
    }

    public int grantee()
    {
        return grantee;
    }

    /** The gntalloc file of the fence and data pages: the data is at {@link #dataIndex()} for {@link #length()}. */
    public int dataFd()
    {
        return data.fd();
    }

    public long dataIndex()
    {
        return FencePageDescriptor.DATA_OFFSET;
    }

    @Override
    public void close()
    {
        clearFence();
        fence.putIntVolatile(FencePageDescriptor.MAGIC_OFFSET, 0); // an importer's cached map sees it gone
        fencePage.close();
        directory.close();
        data.close();
    }
}
