package org.hyperdmabuf.hv.xen;

import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.hv.nativeio.Errno;
import org.hyperdmabuf.hv.nativeio.Native;
import org.hyperdmabuf.hv.nativeio.NativeIoException;
import org.hyperdmabuf.hv.shm.MemoryWindow;
import org.hyperdmabuf.hv.spi.AllocIntent;
import org.hyperdmabuf.hv.spi.BackendBuffer;
import org.hyperdmabuf.hv.spi.BackendException;
import org.hyperdmabuf.hv.spi.ClientMapping;
import org.hyperdmabuf.hv.spi.ErrorCodes;
import org.hyperdmabuf.hv.spi.FenceRef;
import org.hyperdmabuf.hv.spi.PeerInfo;
import org.hyperdmabuf.hv.spi.ShareRef;
import org.hyperdmabuf.hv.xen.abi.PageDirectoryDescriptor;
import org.hyperdmabuf.hv.xen.abi.XenLimits;
import org.hyperdmabuf.hv.xen.dev.XenDevices;
import org.hyperdmabuf.hv.xen.grant.GrantedBuffer;

import java.util.Arrays;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * This domain's buffers: gntalloc pages reserved at ALLOC within the gntalloc limit, granted once (grantee and
 * access fixed then) at the first share or client mapping, each with its fence page, the buffer's one fence slot
 * (ABI.md "Xen specifics").
 */
final class XenBuffers
{
    /** What to do when the gntalloc page limit bounds an allocation. */
    static final String RAISE_LIMIT = "raise /sys/module/xen_gntalloc/parameters/limit and the gntalloc-limit option";

    private final XenDevices devices;
    private final XenConfig config;
    private final Map<Long, Buffer> buffers = new ConcurrentHashMap<>();
    private long nextBufferId = 1;
    private long usedPages;

    XenBuffers(final XenDevices devices, final XenConfig config)
    {
        this.devices = devices;
        this.config = config;
    }

    /** One allocation: its pages are granted when first shared or mapped. */
    private static final class Buffer
    {
        final BackendBuffer spi;
        final long reservedPages;
        final AllocIntent intent;
        GrantedBuffer granted;
        boolean writable;
        boolean fenceLive;

        Buffer(final BackendBuffer spi, final long reservedPages, final AllocIntent intent)
        {
            this.spi = spi;
            this.reservedPages = reservedPages;
            this.intent = intent;
        }
    }

    /** The largest buffer whose data and directory pages fit the gntalloc limit and one gntdev map. */
    long maxBufferPages()
    {
        long n = Math.min(config.limitPages, XenLimits.GNTDEV_MAX_GRANTS_PER_MAP);
        while (n > 0 && n + PageDirectoryDescriptor.directoryPages(n) + 1 > config.limitPages)
        {
            n--;
        }
        return n;
    }

    synchronized BackendBuffer allocate(final long size, final AllocIntent intent) throws BackendException
    {
        if (size <= 0)
        {
            throw new BackendException(ErrorCode.EINVAL, "allocation of " + size + " bytes");
        }
        if (intent.declaresTarget() && !config.isPeer(intent.targetVm()))
        {
            throw new BackendException(ErrorCode.ENOPEER, "dom" + intent.targetVm() + " is not among this daemon's " +
                "peers " + Arrays.toString(config.peerIds));
        }
        final long pages = PageDirectoryDescriptor.dataPages(size);
        final long withDirectory = pages + PageDirectoryDescriptor.directoryPages(pages) + 1; // + the fence page
        if (pages > XenLimits.GNTDEV_MAX_GRANTS_PER_MAP || usedPages + withDirectory > config.limitPages)
        {
            throw new BackendException(ErrorCode.ENOSPC, "gntalloc: " + withDirectory + " pages (data + directory + " +
                "fence) requested, " + (config.limitPages - usedPages) + " of " + config.limitPages + " free; " +
                RAISE_LIMIT);
        }
        usedPages += withDirectory;
        final BackendBuffer b = new BackendBuffer(nextBufferId++ << 32, pages * XenLimits.PAGE_SIZE);
        buffers.put(b.offset(), new Buffer(b, withDirectory, intent));
        return b;
    }

    synchronized void free(final BackendBuffer buffer) throws BackendException
    {
        final Buffer b = buffers.get(buffer.offset());
        if (b == null || !b.spi.equals(buffer))
        {
            throw notOurs(buffer);
        }
        buffers.remove(buffer.offset());
        usedPages -= b.reservedPages;
        if (b.granted != null)
        {
            b.granted.close(); // ends access; Xen defers it for pages the grantee still maps
        }
    }

    private synchronized Buffer grantIfNeeded(final BackendBuffer buffer, final int target, final boolean writable)
        throws BackendException
    {
        final Buffer b = buffers.get(buffer.offset());
        if (b == null || !b.spi.equals(buffer))
        {
            throw notOurs(buffer);
        }
        if (b.granted == null)
        {
            try
            {
                b.granted = GrantedBuffer.grant(devices, target, b.spi.length(), writable);
                b.writable = writable;
            }
            catch (final NativeIoException e)
            {
                if (e.errno() == Errno.ENOSPC)
                {
                    // The kernel's count is global to this domain (other users, our channel pages): it can be
                    // reached before this daemon's own gntalloc-limit.
                    throw new BackendException(ErrorCode.ENOSPC, "gntalloc: the kernel's page limit is reached (" +
                        e.getMessage() + "); raise /sys/module/xen_gntalloc/parameters/limit", e);
                }
                throw new BackendException(ErrorCodes.of(e), e.getMessage(), e);
            }
        }
        return b;
    }

    /** Grants {@code buffer} to {@code targetVm} (an up peer) if not yet granted; its directory ref otherwise. */
    ShareRef share(final BackendBuffer buffer, final int targetVm, final boolean readOnly) throws BackendException
    {
        final Buffer b = grantIfNeeded(buffer, targetVm, !readOnly);
        if (b.granted.grantee() != targetVm)
        {
            throw new BackendException(ErrorCode.ENOTSUP, "this buffer's pages are granted to dom" +
                b.granted.grantee() + "; gntalloc grants a page to one domain, fixed when it is first shared or " +
                "mapped (declare the target at ALLOC)");
        }
        if (b.writable == readOnly)
        {
            throw new BackendException(ErrorCode.EINVAL, "this buffer is granted " + (b.writable ? "writable" :
                "read-only") + " (fixed when first shared or mapped; declare the access at ALLOC); export it " +
                (b.writable ? "read-write" : "read-only"));
        }
        return new ShareRef(b.granted.directoryRef(), b.granted.length());
    }

    void unshare(final BackendBuffer buffer, final ShareRef ref) throws BackendException
    {
        final Buffer b = buffers.get(buffer.offset());
        if (b == null || b.granted == null || b.granted.directoryRef() != ref.offset())
        {
            throw new BackendException(ErrorCode.EINVAL, "not a share of this backend: " + ref);
        }
        // The grant lives as long as the allocation: Xen cannot revoke a mapped grant anyway.
    }

    /** The client's mapping; gntalloc fixes grantee and access now if no export did (to the up peers' source). */
    ClientMapping mapAllocation(final BackendBuffer buffer, final Collection<PeerInfo> upPeers)
        throws BackendException
    {
        Buffer b = buffers.get(buffer.offset());
        if (b != null && b.granted == null)
        {
            // The client's declaration, else the defaults.
            final int target = b.intent.declaresTarget() ? b.intent.targetVm() : defaultGrantee(upPeers);
            final boolean writable = switch (b.intent.access())
            {
                case UNDECLARED -> config.allocWritable;
                case READ_WRITE -> true;
                case READ_ONLY -> false;
            };
            b = grantIfNeeded(buffer, target, writable);
        }
        if (b == null || !b.spi.equals(buffer))
        {
            throw notOurs(buffer);
        }
        try
        {
            final int fd = Native.check(Native.libc().dup(b.granted.dataFd()), "dup");
            return new ClientMapping(fd, b.granted.dataIndex(), b.granted.length(), false);
        }
        catch (final NativeIoException e)
        {
            throw new BackendException(ErrorCodes.of(e), e.getMessage(), e);
        }
    }

    private int defaultGrantee(final Collection<PeerInfo> upPeers) throws BackendException
    {
        if (config.grantee != null)
        {
            return config.grantee;
        }
        final List<PeerInfo> sources = upPeers.stream().filter(PeerInfo::isSource).toList();
        if (sources.size() != 1)
        {
            throw new BackendException(ErrorCode.ENOPEER, "the pages must be granted now and " + sources.size() +
                " source domains are up; set the backend option grantee=<domid>");
        }
        return sources.get(0).vm();
    }

    synchronized long freeBytes()
    {
        return (config.limitPages - usedPages) * XenLimits.PAGE_SIZE;
    }

    // ---- fences: one slot per buffer, in the fence page of the buffer's own grant file ----

    synchronized FenceRef allocateFence(final BackendBuffer buffer) throws BackendException
    {
        final Buffer b = buffers.get(buffer.offset());
        if (b == null || !b.spi.equals(buffer) || b.granted == null)
        {
            throw new BackendException(ErrorCode.EINVAL, "xen fences belong to a shared buffer of this backend: " +
                buffer);
        }
        if (b.fenceLive)
        {
            throw new BackendException(ErrorCode.ENOSPC, "the buffer's fence page is in use by another export");
        }
        b.granted.clearFence();
        b.fenceLive = true;
        return new FenceRef(b.granted.fenceRef(), 0);
    }

    synchronized void freeFence(final FenceRef fence) throws BackendException
    {
        final Buffer b = ownFence(fence.index());
        if (b == null || !b.fenceLive || fence.regionOffset() != 0)
        {
            throw new BackendException(ErrorCode.EINVAL, "not a live fence of this backend: " + fence);
        }
        b.granted.clearFence();
        b.fenceLive = false;
    }

    synchronized MemoryWindow fenceWindow(final int index, final int domid)
    {
        final Buffer b = ownFence(index);
        if (b == null)
        {
            throw new IllegalArgumentException("no fence page with ref " + index + " in dom" + domid);
        }
        return b.granted.fence();
    }

    synchronized boolean isLiveFence(final int index)
    {
        final Buffer b = ownFence(index);
        return b != null && b.fenceLive;
    }

    private Buffer ownFence(final int index)
    {
        for (final Buffer b : buffers.values())
        {
            if (b.granted != null && b.granted.fenceRef() == index)
            {
                return b;
            }
        }
        return null;
    }

    synchronized void close()
    {
        for (final Buffer b : buffers.values())
        {
            if (b.granted != null)
            {
                b.granted.close();
            }
        }
        buffers.clear();
    }

    private static BackendException notOurs(final BackendBuffer buffer)
    {
        return new BackendException(ErrorCode.EINVAL, "not an allocation of this backend: " + buffer);
    }
}
