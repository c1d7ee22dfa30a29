package org.hyperdmabuf.daemon.policy;

import org.tomlj.TomlArray;
import org.tomlj.TomlTable;

import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

import static org.hyperdmabuf.daemon.policy.PolicyFile.line;
import static org.hyperdmabuf.daemon.policy.TomlText.typeOf;

/** The {@code [access]} tables of a policy file set: the uids and gids that may connect to a daemon. */
final class AccessParser
{
    private static final List<String> ACCESS_KEYS = List.of("uids", "gids");

    private final Set<Integer> uids = new LinkedHashSet<>();
    private final Set<Integer> gids = new LinkedHashSet<>();

    Set<Integer> uids()
    {
        return uids;
    }

    Set<Integer> gids()
    {
        return gids;
    }

    /** Reads the value of a top-level {@code access} key of {@code file}. */
    void read(final PolicyFile file, final Object value, final int line)
    {
        if (!(value instanceof TomlTable access))
        {
            file.error(line, "access must be a table ([access]), not " + typeOf(value));
            return;
        }
        file.unknownKeys(access, ACCESS_KEYS, "[access]");
        ids(file, access, "uids", uids);
        ids(file, access, "gids", gids);
    }

    private static void ids(final PolicyFile file, final TomlTable access, final String key, final Set<Integer> into)
    {
        final Object value = access.get(List.of(key));
        if (value == null)
        {
            return;
        }
        if (!(value instanceof TomlArray list))
        {
            file.error(line(access, key), key + " must be an array of integers, not " + typeOf(value));
            return;
        }
        for (int i = 0; i < list.size(); i++)
        {
            final Object item = list.get(i);
            final int itemLine = file.elementLine(list, i);
            if (!(item instanceof Long l))
            {
                file.error(itemLine, key + " entries must be non-negative integers, not " + typeOf(item));
            }
            else if (l < 0 || l > Integer.MAX_VALUE)
            {
                file.error(itemLine, key + " entries must be non-negative integers (at most " + Integer.MAX_VALUE +
                    "), not " + l);
            }
            else
            {
                into.add(l.intValue());
            }
        }
    }
}
