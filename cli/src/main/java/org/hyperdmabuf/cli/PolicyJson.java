package org.hyperdmabuf.cli;

import org.hyperdmabuf.daemon.policy.Policy;
import org.hyperdmabuf.daemon.policy.PolicyError;
import org.hyperdmabuf.daemon.policy.Quota;

import java.io.PrintWriter;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/** {@code hdmabuf policy check --json}: the verdict as one JSON object (field names in the README). */
final class PolicyJson
{
    private PolicyJson()
    {
    }

    /** Prints {@code verdict}; the exit status: 0 if it says ok, else 1. */
    static int print(final PrintWriter out, final Map<String, Object> verdict)
    {
        out.println(Json.of(verdict));
        out.flush();
        return Boolean.TRUE.equals(verdict.get("ok")) ? 0 : 1;
    }

    static Map<String, Object> permissive()
    {
        final Map<String, Object> v = new LinkedHashMap<>();
        v.put("ok", true);
        v.put("permissive", true);
        v.put("files", List.of());
        return v;
    }

    static Map<String, Object> accepted(final Policy p)
    {
        final Map<String, Object> v = new LinkedHashMap<>();
        v.put("ok", true);
        v.put("permissive", p.isPermissive());
        v.put("files", p.sources().stream().map(Object::toString).toList());
        v.put("vms", p.vms());
        v.put("share_rules", p.shares().size());
        v.put("read_only_share_rules", p.shares().stream().filter(r -> r.readOnly()).count());
        v.put("vm_quotas", p.vmQuotas().size());
        v.put("uid_quotas", p.uidQuotas().size());
        v.put("default_client_quota", quota(p.defaultClientQuota()));
        v.put("max_metadata_bytes", p.maxMetadataBytes());
        v.put("access_uids", new TreeSet<>(p.accessUids()));
        v.put("access_gids", new TreeSet<>(p.accessGids()));
        return v;
    }

    static Map<String, Object> rejected(final List<PolicyError> errors)
    {
        final Map<String, Object> v = new LinkedHashMap<>();
        v.put("ok", false);
        v.put("errors", errors.stream().map(e ->
        {
            final Map<String, Object> error = new LinkedHashMap<>();
            error.put("file", e.file() == null ? null : e.file().toString());
            error.put("line", e.line());
            error.put("message", e.message());
            return error;
        }).toList());
        return v;
    }

    static Map<String, Object> failure(final String message)
    {
        final Map<String, Object> error = new LinkedHashMap<>();
        error.put("file", null);
        error.put("line", 0);
        error.put("message", message);
        final Map<String, Object> v = new LinkedHashMap<>();
        v.put("ok", false);
        v.put("errors", List.of(error));
        return v;
    }

    /** {"max_bytes", "max_buffers"}, -1 for no limit; null for no quota at all. */
    private static Map<String, Object> quota(final Quota q)
    {
        if (q.equals(Quota.UNLIMITED))
        {
            return null;
        }
        final Map<String, Object> v = new LinkedHashMap<>();
        v.put("max_bytes", q.maxBytes() == Long.MAX_VALUE ? -1 : q.maxBytes());
        v.put("max_buffers", q.maxBuffers() == Long.MAX_VALUE ? -1 : q.maxBuffers());
        return v;
    }
}
