package org.hyperdmabuf.hv.kvm;

import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.hv.nativeio.NativeIoException;
import org.hyperdmabuf.hv.shm.FencePool;
import org.hyperdmabuf.hv.shm.FenceSlotDescriptor;
import org.hyperdmabuf.hv.shm.MemoryWindow;
import org.hyperdmabuf.hv.shm.PagePool;
import org.hyperdmabuf.hv.shm.RegionLayout;
import org.hyperdmabuf.hv.shm.SharedRegion;
import org.hyperdmabuf.hv.spi.BackendBuffer;
import org.hyperdmabuf.hv.spi.BackendException;
import org.hyperdmabuf.hv.spi.ErrorCodes;
import org.hyperdmabuf.hv.spi.FenceRef;
import org.hyperdmabuf.hv.spi.ShareRef;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;

/**
 * The region's memory as one peer sees it: the pages of the pool and the fence slots it allocates, frees and
 * reclaims (ABI.md "Page table", "Fence table"), ownership checks of what peers announce, and the region fds
 * handed to clients. The truth about our own allocations is in private memory ({@link PagePool},
 * {@link FencePool}), never in the page table another peer can write.
 */
final class RegionMemory
{
    private static final Logger LOG = LoggerFactory.getLogger(RegionMemory.class);

    private final IvshmemTransport transport;
    private final RegionLayout layout;
    private final int localVm;
    private final PagePool pool;
    private final FencePool fences;
    private final MemoryWindow fenceTable;
    private boolean punchHoleWarned;

    RegionMemory(final SharedRegion region, final IvshmemTransport transport, final int localVm, final long session)
    {
        this.transport = transport;
        this.layout = region.layout();
        this.localVm = localVm;
        this.pool = new PagePool(region.pageTable(), layout, localVm, session);
        this.fenceTable = region.fenceTable();
        this.fences = new FencePool(fenceTable, layout, localVm, session);
    }

    long maxBufferSize()
    {
        return Math.min(layout.poolBytes(), IvshmemBackend.MAX_BUFFER_SIZE);
    }

    BackendBuffer allocate(final long size) throws BackendException
    {
        final long max = maxBufferSize();
        if (size > max)
        {
            throw new BackendException(ErrorCode.ENOSPC, "allocation of " + size + " bytes exceeds the maximum " +
                "buffer size " + max);
        }
        final long offset = pool.allocate(size);
        if (offset < 0)
        {
            throw new BackendException(ErrorCode.ENOSPC, "no free run of " + pool.roundUp(size) + " bytes in the " +
                "region (" + pool.freeBytes() + " of " + layout.poolBytes() + " bytes free)");
        }
        return new BackendBuffer(offset, pool.roundUp(size));
    }

    void free(final BackendBuffer buffer) throws BackendException
    {
        // Our private record decides, not the page table another peer can scribble on.
        if (!pool.isAllocation(buffer.offset(), buffer.length()))
        {
            throw notOurs(buffer);
        }
        final long foreign = pool.free(buffer.offset(), this::zero);
        if (foreign > 0)
        {
            LOG.warn("freeing {}: {} of its page-table entries were overwritten by another peer; those pages " +
                "are left alone (a misbehaving peer shares this region)", buffer, foreign);
        }
    }

    /** Freed pages must not carry one client's data to the next client or VM (ABI.md "Page table"). */
    private void zero(final long offset, final long length)
    {
        try
        {
            transport.zero(offset, length);
        }
        catch (final IOException e)
        {
            if (!punchHoleWarned)
            {
                punchHoleWarned = true;
                LOG.warn("cannot zero freed pages ({}); freed buffers keep their old bytes", e.getMessage());
            }
        }
    }

    long freeBytes()
    {
        return pool.freeBytes();
    }

    void checkOwn(final BackendBuffer buffer) throws BackendException
    {
        if (!pool.isOwnedBy(buffer.offset(), buffer.length(), localVm))
        {
            throw notOurs(buffer);
        }
    }

    void checkOwnedBy(final int exporterVm, final ShareRef ref) throws BackendException
    {
        if (!pool.isOwnedBy(ref.offset(), ref.length(), exporterVm))
        {
            throw new BackendException(ErrorCode.EINVAL, "reference " + ref + " is not memory of peer " + exporterVm);
        }
    }

    /** A new fd of the whole region for a client, read-only or not. */
    int dupRegionFd(final boolean readOnly) throws BackendException
    {
        try
        {
            return transport.openRegionFd(readOnly);
        }
        catch (final NativeIoException e)
        {
            throw new BackendException(ErrorCodes.of(e), e.getMessage(), e);
        }
        catch (final IOException e)
        {
            throw new BackendException(ErrorCode.EIO, e.getMessage(), e);
        }
    }

    /** A dma-buf of exactly {@code [offset, offset + length)} of the region (ENOTSUP with the reason if none). */
    int exportDmaBuf(final long offset, final long length, final String name) throws BackendException
    {
        final String unavailable = transport.dmaBufUnavailable();
        if (unavailable != null)
        {
            throw new BackendException(ErrorCode.ENOTSUP, "no dma-buf imports: " + unavailable);
        }
        try
        {
            return transport.createDmaBuf(offset, length, name);
        }
        catch (final NativeIoException e)
        {
            throw new BackendException(ErrorCodes.of(e), e.getMessage(), e);
        }
        catch (final IOException e)
        {
            throw new BackendException(ErrorCode.EIO, e.getMessage(), e);
        }
    }

    FenceRef allocateFence() throws BackendException
    {
        final int index = fences.allocate();
        if (index < 0)
        {
            throw new BackendException(ErrorCode.ENOSPC, "all " + layout.fenceSlots() + " fence slots of the " +
                "region are in use");
        }
        return new FenceRef(index, fences.slotOffset(index));
    }

    void freeFence(final FenceRef fence) throws BackendException
    {
        if (!fences.isInRange(fence.index()) || fences.slotOffset(fence.index()) != fence.regionOffset() ||
            !fences.free(fence.index()))
        {
            throw new BackendException(ErrorCode.EINVAL, "not a fence slot of peer " + localVm + ": " + fence);
        }
    }

    MemoryWindow fenceWindow(final int index)
    {
        if (!fences.isInRange(index))
        {
            throw new IllegalArgumentException("fence slot " + index + " outside [0, " + layout.fenceSlots() + ")");
        }
        return fenceTable.slice(FenceSlotDescriptor.slotOffset(index), FenceSlotDescriptor.SLOT_LENGTH);
    }

    /** Whether fence slot {@code index} is owned by {@code session} of {@code vm}. */
    boolean fenceOwnedBy(final int index, final int vm, final long session)
    {
        return fences.isInRange(index) && fences.isOwnedBy(index, vm, session);
    }

    long fenceOffset(final int index)
    {
        return fences.slotOffset(index);
    }

    /** Our allocations stay ours under a new session of ours (local clients still map them). */
    void rebind(final long session)
    {
        pool.rebind(localVm, session);
        fences.rebind(localVm, session);
    }

    /** Returns the pages and fence slots {@code session} of {@code vm} left, counted. */
    long reclaim(final int vm, final long session)
    {
        final long pages = pool.reclaimSession(vm, session, this::zero);
        final long slots = fences.reclaimSession(vm, session);
        LOG.info("peer {} session {}: reclaimed {} pages and {} fence slots", vm, Long.toHexString(session), pages,
            slots);
        return pages + slots;
    }

    private BackendException notOurs(final BackendBuffer buffer)
    {
        return new BackendException(ErrorCode.EINVAL, "not an allocation of peer " + localVm + ": " + buffer);
    }
}
