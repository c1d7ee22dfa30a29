package org.hyperdmabuf.sink;

import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.abi.v1.StatsResult;
import org.hyperdmabuf.abi.v1.Usage;
import org.hyperdmabuf.daemon.ApiException;
import org.hyperdmabuf.daemon.ClientConnection;
import org.hyperdmabuf.daemon.DaemonContext;
import org.hyperdmabuf.daemon.policy.Policy;
import org.hyperdmabuf.daemon.policy.Quota;

import java.util.HashMap;
import java.util.Map;
import java.util.TreeMap;

/**
 * Pinned memory counts from ALLOC until the pages are back in the pool (after FREE and the importers'
 * release), per this VM and per client uid: like the kernel's mlock accounting.
 */
final class SinkQuotas
{
    private final DaemonContext ctx;
    private final long[] vmUsage = new long[2]; // bytes, buffers pinned by this VM's sink
    private final Map<Integer, long[]> uidUsage = new HashMap<>();

    SinkQuotas(final DaemonContext ctx)
    {
        this.ctx = ctx;
    }

    /** EDQUOT if pinning {@code size} more bytes for {@code client} would pass the VM's or the uid's quota. */
    void check(final ClientConnection client, final long size) throws ApiException
    {
        final Policy policy = ctx.policy().get();
        final long bytes = roundToPage(size);
        final Quota vm = policy.vmQuota(ctx.backend().localVm());
        if (!vm.admits(vmUsage[0], vmUsage[1], bytes))
        {
            throw new ApiException(ErrorCode.EDQUOT, "VM quota of " + policy.vmName(ctx.backend().localVm()) +
                " exceeded: " + vmUsage[0] + " of " + limit(vm.maxBytes()) + " bytes and " + vmUsage[1] + " of " +
                limit(vm.maxBuffers()) + " buffers pinned, asked for " + bytes + " bytes");
        }
        final long[] used = uidUsage.getOrDefault(client.uid(), new long[2]);
        final Quota mine = policy.clientQuota(client.uid());
        if (!mine.admits(used[0], used[1], bytes))
        {
            throw new ApiException(ErrorCode.EDQUOT, "quota of uid " + client.uid() + " exceeded: " + used[0] +
                " of " + limit(mine.maxBytes()) + " bytes and " + used[1] + " of " + limit(mine.maxBuffers()) +
                " buffers pinned, asked for " + bytes + " bytes");
        }
    }

    private static String limit(final long value)
    {
        return value == Long.MAX_VALUE ? "unlimited" : Long.toString(value);
    }

    private long roundToPage(final long size)
    {
        final long page = ctx.backend().capabilities().pageSize();
        return (size + page - 1) / page * page;
    }

    /** Counts {@code a} as pinned ({@code sign} +1) or back in the pool (-1). */
    void account(final Allocation a, final int sign)
    {
        vmUsage[0] += sign * a.buffer.length();
        vmUsage[1] += sign;
        final long[] used = uidUsage.computeIfAbsent(a.uid(), k -> new long[2]);
        used[0] += sign * a.buffer.length();
        used[1] += sign;
        if (used[1] == 0)
        {
            uidUsage.remove(a.uid());
        }
    }

    /** Adds the usage of this VM and of every uid pinning memory to a STATS answer. */
    void stats(final StatsResult.Builder out)
    {
        final Policy policy = ctx.policy().get();
        final int vm = ctx.backend().localVm();
        out.addUsage(usage("vm", vm, vmUsage, policy.vmQuota(vm)));
        for (final Map.Entry<Integer, long[]> e : new TreeMap<>(uidUsage).entrySet())
        {
            out.addUsage(usage("uid", e.getKey(), e.getValue(), policy.clientQuota(e.getKey())));
        }
    }

    private static Usage usage(final String scope, final int id, final long[] used, final Quota quota)
    {
        return Usage.newBuilder().setScope(scope).setId(id).setBytes(used[0]).setBuffers(used[1])
            .setMaxBytes(quota.maxBytes() == Long.MAX_VALUE ? -1L : quota.maxBytes())
            .setMaxBuffers(quota.maxBuffers() == Long.MAX_VALUE ? -1L : quota.maxBuffers()).build();
    }
}
