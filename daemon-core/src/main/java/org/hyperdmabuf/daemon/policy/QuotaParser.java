package org.hyperdmabuf.daemon.policy;

import org.tomlj.TomlTable;

import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.hyperdmabuf.daemon.policy.PolicyFile.line;
import static org.hyperdmabuf.daemon.policy.TomlText.typeOf;

/** The {@code [quota]} tables of a policy file set: pinned memory per VM, per uid and per client by default. */
final class QuotaParser
{
    private static final List<String> QUOTA_TABLES = List.of("vm", "uid", "default_client");
    private static final List<String> QUOTA_KEYS = List.of("bytes", "buffers");
    private static final Pattern SIZE = Pattern.compile("([0-9]+)([KMGT]?)", Pattern.CASE_INSENSITIVE);

    /** Whose quota a {@code [quota.KIND.KEY]} table sets. */
    private enum Kind
    {
        VM("vm", "[quota.vm.NAME]"), UID("uid", "[quota.uid.UID]");

        final String key;
        final String header;

        Kind(final String key, final String header)
        {
            this.key = key;
            this.header = header;
        }
    }

    private final VmNames vms;
    private final Map<Integer, Defined<Quota>> vmQuotas = new HashMap<>();
    private final Map<Integer, Defined<Quota>> uidQuotas = new HashMap<>();
    private Defined<Quota> defaultClient;

    QuotaParser(final VmNames vms)
    {
        this.vms = vms;
    }

    Map<Integer, Quota> vmQuotas()
    {
        return values(vmQuotas);
    }

    Map<Integer, Quota> uidQuotas()
    {
        return values(uidQuotas);
    }

    Quota defaultClient()
    {
        return defaultClient == null ? Quota.UNLIMITED : defaultClient.value();
    }

    private static Map<Integer, Quota> values(final Map<Integer, Defined<Quota>> defined)
    {
        final Map<Integer, Quota> values = new HashMap<>();
        defined.forEach((id, def) -> values.put(id, def.value()));
        return values;
    }

    /** Reads the value of a top-level {@code quota} key of {@code file}. */
    void read(final PolicyFile file, final Object value, final int line)
    {
        if (!(value instanceof TomlTable quota))
        {
            file.error(line, "quota must be a table ([quota.vm.NAME], [quota.uid.UID], [quota.default_client]), " +
                "not " + typeOf(value));
            return;
        }
        for (final String key : quota.keySet())
        {
            final Object sub = quota.get(List.of(key));
            final int subLine = line(quota, key);
            switch (key)
            {
                case "vm" -> quotaMap(file, sub, subLine, Kind.VM);
                case "uid" -> quotaMap(file, sub, subLine, Kind.UID);
                case "default_client" -> defaultClient(file, sub, subLine);
                default ->
                {
                    final String hint = KeyHints.suggest(key, QUOTA_TABLES);
                    file.error(subLine, "unknown table [quota." + key + "]" + (hint == null ?
                        " (known: [quota.vm.NAME], [quota.uid.UID], [quota.default_client])" :
                        " (did you mean [quota." + hint + "]?)"));
                }
            }
        }
    }

    private void defaultClient(final PolicyFile file, final Object value, final int line)
    {
        final Quota q = quotaTable(file, value, line, "[quota.default_client]");
        if (q == null)
        {
            return;
        }
        if (defaultClient != null && !defaultClient.value().equals(q))
        {
            file.error(line, "[quota.default_client] defined twice differently: here and at " +
                defaultClient.place());
        }
        else if (defaultClient == null)
        {
            defaultClient = new Defined<>(q, file.place(line));
        }
    }

    private void quotaMap(final PolicyFile file, final Object value, final int line, final Kind kind)
    {
        if (!(value instanceof TomlTable map))
        {
            file.error(line, "quota." + kind.key + " must be a table of tables (" + kind.header + "), not " +
                typeOf(value));
            return;
        }
        for (final String key : map.keySet())
        {
            final int keyLine = line(map, key);
            final String where = "[quota." + kind.key + "." + key + "]";
            final Integer id = kind == Kind.VM ? vms.key(file, key, keyLine, where) : uid(file, key, keyLine, where);
            final Quota q = quotaTable(file, map.get(List.of(key)), keyLine, where);
            if (id == null || q == null)
            {
                continue;
            }
            final Map<Integer, Defined<Quota>> target = kind == Kind.VM ? vmQuotas : uidQuotas;
            final Defined<Quota> previous = target.get(id);
            if (previous != null && !previous.value().equals(q))
            {
                file.error(keyLine, "quota for " + (kind == Kind.VM ? vms.label(id) : "uid " + id) +
                    " defined twice differently: " + where + " here and at " + previous.place());
            }
            else if (previous == null)
            {
                target.put(id, new Defined<>(q, file.place(keyLine)));
            }
        }
    }

    private static Integer uid(final PolicyFile file, final String key, final int line, final String where)
    {
        if (!VmNames.DIGITS.matcher(key).matches())
        {
            file.error(line, where + ": a uid must be a number, not '" + key + "'");
            return null;
        }
        if (key.length() > 10 || Long.parseLong(key) > Integer.MAX_VALUE)
        {
            file.error(line, where + ": uid " + key + " out of range [0, " + Integer.MAX_VALUE + "]");
            return null;
        }
        return Integer.parseInt(key);
    }

    /** A quota table ({@code bytes}, {@code buffers}); null (error reported) if it is not valid. */
    private static Quota quotaTable(final PolicyFile file, final Object value, final int line, final String where)
    {
        if (!(value instanceof TomlTable table))
        {
            file.error(line, where + " must be a table with bytes and/or buffers, not " + typeOf(value));
            return null;
        }
        file.unknownKeys(table, QUOTA_KEYS, where);
        boolean ok = true;
        long bytes = Long.MAX_VALUE;
        long buffers = Long.MAX_VALUE;
        final Object b = table.get(List.of("bytes"));
        if (b != null)
        {
            final Long parsed = size(file, b, line(table, "bytes"), where);
            ok &= parsed != null;
            bytes = parsed == null ? 0 : parsed;
        }
        final Object n = table.get(List.of("buffers"));
        if (n instanceof Long l && l >= 0)
        {
            buffers = l;
        }
        else if (n != null)
        {
            file.error(line(table, "buffers"), "buffers in " + where + " must be a non-negative integer, not " +
                (n instanceof Long ? n.toString() : typeOf(n)));
            ok = false;
        }
        if (b == null && n == null && table.keySet().isEmpty())
        {
            file.error(line, where + " sets neither bytes nor buffers");
            ok = false;
        }
        return ok ? new Quota(bytes, buffers) : null;
    }

    /** A byte count: an integer, or a size string like "256M"; null (error reported) if it is not one. */
    private static Long size(final PolicyFile file, final Object value, final int line, final String where)
    {
        if (value instanceof Long l)
        {
            if (l >= 0)
            {
                return l;
            }
            file.error(line, "bytes in " + where + " must not be negative: " + l);
            return null;
        }
        if (!(value instanceof String s))
        {
            file.error(line, "bytes in " + where + " must be an integer or a size string like \"256M\", not " +
                typeOf(value));
            return null;
        }
        final Matcher m = SIZE.matcher(s);
        if (!m.matches())
        {
            file.error(line, "bytes in " + where + ": '" + s + "' is not a size (an integer, or a string like " +
                "\"256M\": digits and one of the suffixes K, M, G, T)");
            return null;
        }
        final int shift = switch (m.group(2).toUpperCase(Locale.ROOT))
        {
            case "K" -> 10;
            case "M" -> 20;
            case "G" -> 30;
            case "T" -> 40;
            default -> 0;
        };
        try
        {
            final long n = Long.parseLong(m.group(1));
            if (n <= Long.MAX_VALUE >> shift)
            {
                return n << shift;
            }
        }
        catch (final NumberFormatException e)
        {
            // too large
        }
        file.error(line, "bytes in " + where + ": '" + s + "' is too large");
        return null;
    }
}
