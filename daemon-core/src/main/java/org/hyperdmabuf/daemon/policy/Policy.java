package org.hyperdmabuf.daemon.policy;

import org.hyperdmabuf.daemon.Glob;
import org.hyperdmabuf.abi.Limits;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.Set;

/**
 * An integrator's policy (abi-spec/POLICY.md), immutable: which VM may share what with which, read-only
 * requirements, quotas, metadata limit and who may use the daemon's socket. A daemon swaps the whole
 * object on reload, so every decision sees one consistent policy.
 * <p>
 * {@link #permissive()} is the development default when no policy file exists: every pair may share
 * everything, no quotas; the daemon logs that it runs without a policy.
 */
public final class Policy
{
    /** Outcome of a share decision: {@code null} reason means allowed. */
    public record Decision(String denial)
    {
        public boolean allowed()
        {
            return denial == null;
        }
    }

    private static final Decision ALLOW = new Decision(null);

    private final Map<String, Integer> vmIds;
    private final List<ShareRule> shares;
    private final Map<Integer, Quota> vmQuotas;
    private final Map<Integer, Quota> uidQuotas;
    private final Quota defaultClientQuota;
    private final int maxMetadataBytes;
    private final Set<Integer> uids;
    private final Set<Integer> gids;
    private final List<Path> sources;
    private final boolean permissive;

    public Policy(final Map<String, Integer> vmIds, final List<ShareRule> shares, final Map<Integer, Quota> vmQuotas,
        final Map<Integer, Quota> uidQuotas, final Quota defaultClientQuota, final int maxMetadataBytes,
        final Set<Integer> uids, final Set<Integer> gids, final List<Path> sources)
    {
        this(vmIds, shares, vmQuotas, uidQuotas, defaultClientQuota, maxMetadataBytes, uids, gids, sources, false);
    }

    private Policy(final Map<String, Integer> vmIds, final List<ShareRule> shares, final Map<Integer, Quota> vmQuotas,
        final Map<Integer, Quota> uidQuotas, final Quota defaultClientQuota, final int maxMetadataBytes,
        final Set<Integer> uids, final Set<Integer> gids, final List<Path> sources, final boolean permissive)
    {
        this.vmIds = Map.copyOf(vmIds);
        this.shares = List.copyOf(shares);
        this.vmQuotas = Map.copyOf(vmQuotas);
        this.uidQuotas = Map.copyOf(uidQuotas);
        this.defaultClientQuota = defaultClientQuota;
        this.maxMetadataBytes = maxMetadataBytes;
        this.uids = Set.copyOf(uids);
        this.gids = Set.copyOf(gids);
        this.sources = List.copyOf(sources);
        this.permissive = permissive;
    }

    public static Policy permissive()
    {
        return new Policy(Map.of(), List.of(), Map.of(), Map.of(), Quota.UNLIMITED, Limits.MAX_METADATA_BYTES,
            Set.of(), Set.of(), List.of(), true);
    }

    public boolean isPermissive()
    {
        return permissive;
    }

    /** The files this policy was loaded from (empty for the permissive default). */
    public List<Path> sources()
    {
        return sources;
    }

    public OptionalInt vmId(final String name)
    {
        final Integer id = vmIds.get(name);
        return id == null ? OptionalInt.empty() : OptionalInt.of(id);
    }

    /** Whether the policy names {@code vm} in {@code [vms]}. */
    public boolean namesVm(final int vm)
    {
        return vmIds.containsValue(vm);
    }

    /** The VM's name in the policy, or "vm&lt;id&gt;". */
    public String vmName(final int vm)
    {
        for (final Map.Entry<String, Integer> e : vmIds.entrySet())
        {
            if (e.getValue() == vm)
            {
                return e.getKey();
            }
        }
        return "vm" + vm;
    }

    /** May {@code exporterVm} share anything with {@code importerVm}? (QUERY_TARGETS) */
    public boolean mayShare(final int exporterVm, final int importerVm)
    {
        return permissive || shares.stream().anyMatch(r -> r.coversPair(exporterVm, importerVm));
    }

    /**
     * May {@code exporterVm} share a buffer of {@code contentType} with {@code importerVm}, with this access?
     * A rule covering the pair and the content allows it unless it requires read-only and the export is not.
     * Checked by the sink on EXPORT and again by the source on every announcement.
     */
    public Decision checkShare(final int exporterVm, final int importerVm, final String contentType,
        final boolean readOnly)
    {
        return check(exporterVm, importerVm, contentType, readOnly);
    }

    /**
     * May {@code exporterVm} share anything with {@code importerVm} with this access? The check of an ALLOC that
     * declares its export target before the content type is known: some rule covering the pair must allow the
     * access for some content. EXPORT still applies {@link #checkShare} with the content type.
     */
    public Decision checkTarget(final int exporterVm, final int importerVm, final boolean readOnly)
    {
        return check(exporterVm, importerVm, null, readOnly);
    }

    /** {@code contentType} null: any content. */
    private Decision check(final int exporterVm, final int importerVm, final String contentType,
        final boolean readOnly)
    {
        if (permissive)
        {
            return ALLOW;
        }
        String readOnlyRule = null;
        for (final ShareRule r : shares)
        {
            if (!r.coversPair(exporterVm, importerVm) ||
                contentType != null && r.content().stream().noneMatch(g -> Glob.matches(g, contentType)))
            {
                continue;
            }
            if (r.readOnly() && !readOnly)
            {
                readOnlyRule = r.origin();
                continue;
            }
            return ALLOW;
        }
        if (readOnlyRule != null)
        {
            return new Decision("policy (" + readOnlyRule + ") requires read-only exports" +
                (contentType == null ? "" : " of '" + contentType + "'") + " from " + vmName(exporterVm) + " to " +
                vmName(importerVm));
        }
        return new Decision("no policy rule lets " + vmName(exporterVm) + " share" +
            (contentType == null ? "" : " '" + contentType + "'") + " with " + vmName(importerVm));
    }

    public Quota vmQuota(final int vm)
    {
        return vmQuotas.getOrDefault(vm, Quota.UNLIMITED);
    }

    public Quota clientQuota(final int uid)
    {
        return uidQuotas.getOrDefault(uid, defaultClientQuota);
    }

    public int maxMetadataBytes()
    {
        return maxMetadataBytes;
    }

    /**
     * May a process with this uid/gid use the daemon's socket? With no {@code [access]} lists, anyone the
     * socket's file mode (0660) lets in may; uid 0 always may.
     */
    public boolean mayConnect(final int uid, final int gid)
    {
        if (uids.isEmpty() && gids.isEmpty())
        {
            return true;
        }
        return uid == 0 || uids.contains(uid) || gids.contains(gid);
    }

    public List<ShareRule> shares()
    {
        return shares;
    }

    public Map<String, Integer> vms()
    {
        return vmIds;
    }

    public Map<Integer, Quota> vmQuotas()
    {
        return vmQuotas;
    }

    public Map<Integer, Quota> uidQuotas()
    {
        return uidQuotas;
    }

    public Quota defaultClientQuota()
    {
        return defaultClientQuota;
    }

    public Set<Integer> accessUids()
    {
        return uids;
    }

    public Set<Integer> accessGids()
    {
        return gids;
    }
}
