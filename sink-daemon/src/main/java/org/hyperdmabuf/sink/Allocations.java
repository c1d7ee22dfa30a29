package org.hyperdmabuf.sink;

import org.hyperdmabuf.abi.v1.Access;
import org.hyperdmabuf.abi.v1.Alloc;
import org.hyperdmabuf.abi.v1.Allocated;
import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.abi.v1.Response;
import org.hyperdmabuf.daemon.ApiException;
import org.hyperdmabuf.daemon.ClientConnection;
import org.hyperdmabuf.daemon.DaemonContext;
import org.hyperdmabuf.daemon.DmaBufHandout;
import org.hyperdmabuf.daemon.policy.Policy;
import org.hyperdmabuf.hv.spi.AllocIntent;
import org.hyperdmabuf.hv.spi.BackendBuffer;
import org.hyperdmabuf.hv.spi.BackendException;
import org.hyperdmabuf.hv.spi.ClientMapping;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** The sink's allocations (ALLOC), by handle, and the quotas their memory counts against. */
final class Allocations
{
    private static final Logger LOG = LoggerFactory.getLogger(Allocations.class);

    private final DaemonContext ctx;
    private final SinkQuotas quotas;
    private final Map<Long, Allocation> byHandle = new HashMap<>();
    private long nextHandle = 1;

    Allocations(final DaemonContext ctx)
    {
        this.ctx = ctx;
        this.quotas = new SinkQuotas(ctx);
    }

    SinkQuotas quotas()
    {
        return quotas;
    }

    /** ALLOC: allocates, maps and answers with the mapping's fd. */
    void alloc(final ClientConnection client, final long rid, final Alloc req) throws ApiException
    {
        final long size = req.getSize();
        final AllocIntent intent = allocIntent(req);
        final long max = ctx.backend().capabilities().maxBufferSize();
        if (size <= 0 || size > max) // a uint64 of 2^63 or more reads negative: reported unsigned
        {
            throw new ApiException(size > max && size <= ctx.backend().totalBytes() ? ErrorCode.EINVAL :
                size <= 0 ? ErrorCode.EINVAL : ErrorCode.ENOSPC,
                "ALLOC size " + Long.toUnsignedString(size) + " outside [1, " + max + "] (max_buffer_size in caps" +
                (size > max ? ", bounded by " + ctx.backend().maxBufferSizeBound() : "") + ")");
        }
        quotas.check(client, size);
        final BackendBuffer buffer;
        final ClientMapping mapping;
        try
        {
            buffer = ctx.backend().allocate(size, intent);
        }
        catch (final BackendException e)
        {
            throw new ApiException(e.code(), e.getMessage());
        }
        final long handle = nextHandle;
        try
        {
            mapping = req.getDmaBuf() ? new ClientMapping(DmaBufHandout.open(ctx.dmaBufs(), buffer.offset(),
                buffer.length(), false, DmaBufHandout.allocationName(handle)), 0, buffer.length(), false) :
                ctx.backend().mapAllocation(buffer);
        }
        catch (final BackendException e)
        {
            freeQuietly(buffer);
            throw new ApiException(e.code(), e.getMessage());
        }
        catch (final ApiException e)
        {
            freeQuietly(buffer);
            throw e;
        }
        nextHandle++;
        final Allocation a = new Allocation(handle, client, buffer, req.getDmaBuf());
        byHandle.put(a.handle, a);
        quotas.account(a, +1);
        client.replyWithFd(rid, Response.newBuilder().setAllocated(Allocated.newBuilder().setHandle(a.handle)
            .setOffset(mapping.offset()).setLength(mapping.length()).setDmaBuf(req.getDmaBuf())), mapping.fd());
    }

    /** The export target and access an ALLOC declares (ABI.md "ALLOC"), checked against the policy now: EACCES. */
    private AllocIntent allocIntent(final Alloc req) throws ApiException
    {
        if (req.hasAccess() && req.getAccess() == Access.UNRECOGNIZED)
        {
            throw new ApiException(ErrorCode.EINVAL, "access=" + req.getAccessValue() + " is not a known Access value");
        }
        final AllocIntent.Access access = !req.hasAccess() ? AllocIntent.Access.UNDECLARED :
            req.getAccess() == Access.ACCESS_READ_ONLY ? AllocIntent.Access.READ_ONLY : AllocIntent.Access.READ_WRITE;
        if (!req.hasTargetVm())
        {
            return new AllocIntent(AllocIntent.ANY_VM, access);
        }
        final int target = req.getTargetVm();
        if (target == ctx.backend().localVm() || target < 0)
        {
            throw new ApiException(ErrorCode.EINVAL, "declared target VM " + Integer.toUnsignedString(target) +
                (target < 0 ? " is out of range" : " is this VM"));
        }
        final Policy.Decision decision = ctx.policy().get().checkTarget(ctx.backend().localVm(), target,
            access != AllocIntent.Access.READ_WRITE);
        if (!decision.allowed())
        {
            throw new ApiException(ErrorCode.EACCES, decision.denial());
        }
        return new AllocIntent(target, access);
    }

    /** The allocation {@code handle} of {@code client}; ENOENT if it has none such. */
    Allocation owned(final ClientConnection client, final long handle) throws ApiException
    {
        final Allocation a = byHandle.get(handle);
        if (a == null || a.owner != client)
        {
            throw new ApiException(ErrorCode.ENOENT, "no allocation with handle " + handle + " for this client");
        }
        return a;
    }

    Collection<Allocation> all()
    {
        return byHandle.values();
    }

    /** The allocations of {@code client}, in a list of their own (to free while iterating). */
    List<Allocation> ownedBy(final ClientConnection client)
    {
        final List<Allocation> owned = new ArrayList<>();
        for (final Allocation a : byHandle.values())
        {
            if (a.owner == client)
            {
                owned.add(a);
            }
        }
        return owned;
    }

    /** FREE: the handle is gone; the memory stays until {@link #reclaim}. */
    void remove(final Allocation a)
    {
        a.freed = true;
        byHandle.remove(a.handle);
    }

    /** Returns the memory of a freed allocation that no importer holds to the pool. */
    void reclaim(final Allocation a)
    {
        a.reclaimed = true;
        quotas.account(a, -1);
        freeQuietly(a.buffer);
    }

    private void freeQuietly(final BackendBuffer buffer)
    {
        try
        {
            ctx.backend().free(buffer);
        }
        catch (final BackendException e)
        {
            LOG.error("freeing {} failed: {}", buffer, e.getMessage());
        }
    }
}
