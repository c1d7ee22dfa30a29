package org.hyperdmabuf.hv.xen.emu;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.IntPredicate;

/**
 * The node tree of {@link FakeXenstored} and xenstored's rules on it: paths, creating and removing nodes, and
 * permission lists ({@code <type><owner>} then {@code <type><domid>} entries, NUL-separated). The tree is a sorted
 * map of absolute path to value with a map of path to permission list, the store's own or a transaction's copy;
 * the caller holds the store's lock.
 * <p>
 * <b>Entries for domains that did not exist when the node was written</b> are ignored, as xenstored has done
 * since XSA-322 (so that a domain given a reused or future domid inherits no access): each write of a node marks
 * the entries naming a domain that does not exist then as ignored ({@link #IGNORED} before the entry, never
 * shown by GET_PERMS), and they stay ignored until SET_PERMS replaces the list. When a domain goes away, its
 * entries leave every list and the nodes it owned pass to dom0 ({@link #forgetDomain}).
 */
final class XenstoreNodes
{
    static final int PERM_READ = 1;
    static final int PERM_WRITE = 2;
    /** The list of a node without one: owned by dom0, no access for others. */
    static final String PRIVILEGED_PERMS = "n0";
    /** Marks an entry that xenstored ignores (its {@code XS_PERM_IGNORE}). */
    static final char IGNORED = '!';

    private XenstoreNodes()
    {
    }

    /**
     * Writes {@code node}, creating missing ancestors; a created node inherits its parent's permissions. Entries
     * of the nodes written that name a domain {@code exists} denies become ignored.
     */
    static void write(final TreeMap<String, String> v, final Map<String, String> perms, final String node,
        final String value, final Set<String> changed, final int domid, final IntPredicate exists)
    {
        final List<String> created = new ArrayList<>();
        for (String n = node; !v.containsKey(n); n = parent(n))
        {
            created.add(0, n);
        }
        for (final String n : created)
        {
            v.put(n, "");
            perms.put(n, inherited(perms.getOrDefault(parent(n), PRIVILEGED_PERMS), domid));
            ignoreAbsent(perms, n, exists);
            changed.add(n);
        }
        v.put(node, value);
        ignoreAbsent(perms, node, exists);
        changed.add(node);
    }

    /** Marks the entries of {@code node}'s list that name a domain {@code exists} denies as ignored. */
    static void ignoreAbsent(final Map<String, String> perms, final String node, final IntPredicate exists)
    {
        final String list = perms.get(node);
        if (list == null)
        {
            return;
        }
        final String[] entries = list.split("\0");
        for (int i = 1; i < entries.length; i++)
        {
            if (entries[i].charAt(0) != IGNORED && !exists.test(Integer.parseInt(entries[i].substring(1))))
            {
                entries[i] = IGNORED + entries[i];
            }
        }
        perms.put(node, String.join("\0", entries));
    }

    /** A domain went away: its entries leave every list, and the nodes it owned pass to dom0. */
    static void forgetDomain(final Map<String, String> perms, final int domid)
    {
        perms.replaceAll((node, list) ->
        {
            final String[] entries = list.split("\0");
            final StringBuilder out = new StringBuilder();
            out.append(entries[0].charAt(0)).append(owner(list) == domid ? 0 : owner(list));
            for (int i = 1; i < entries.length; i++)
            {
                final String e = entries[i].charAt(0) == IGNORED ? entries[i].substring(1) : entries[i];
                if (Integer.parseInt(e.substring(1)) != domid)
                {
                    out.append('\0').append(entries[i]);
                }
            }
            return out.toString();
        });
    }

    /** The list as GET_PERMS shows it: without ignored entries. */
    static String[] visible(final String permList)
    {
        return Arrays.stream(permList.split("\0")).filter(e -> e.charAt(0) != IGNORED).toArray(String[]::new);
    }

    /** The parent's list with an unprivileged creator as owner (xenstored's construct_node). */
    private static String inherited(final String parentPerms, final int creator)
    {
        if (creator == 0)
        {
            return parentPerms;
        }
        final int nul = parentPerms.indexOf('\0');
        return parentPerms.charAt(0) + Integer.toString(creator) + (nul < 0 ? "" : parentPerms.substring(nul));
    }

    static int owner(final String permList)
    {
        final int nul = permList.indexOf('\0');
        return Integer.parseInt(permList.substring(1, nul < 0 ? permList.length() : nul));
    }

    /** Whether {@code domid} has {@code want} on a node with permission list {@code permList}. */
    static boolean allowed(final String permList, final int domid, final int want)
    {
        if (domid == 0)
        {
            return true;
        }
        final String[] entries = permList.split("\0");
        if (owner(permList) == domid)
        {
            return true;
        }
        char type = entries[0].charAt(0);
        for (int i = 1; i < entries.length; i++)
        {
            if (entries[i].charAt(0) != IGNORED && Integer.parseInt(entries[i].substring(1)) == domid)
            {
                type = entries[i].charAt(0);
                break;
            }
        }
        final int have = type == 'b' ? PERM_READ | PERM_WRITE : type == 'r' ? PERM_READ : type == 'w' ? PERM_WRITE : 0;
        return (have & want) == want;
    }

    /** ENOENT for a missing node, EACCES without the access, null when allowed. */
    static String denied(final TreeMap<String, String> v, final Map<String, String> perms, final String node,
        final int want, final int domid)
    {
        if (!v.containsKey(node))
        {
            return "ENOENT";
        }
        return allowed(perms.getOrDefault(node, PRIVILEGED_PERMS), domid, want) ? null : "EACCES";
    }

    static String existingSelfOrAncestor(final TreeMap<String, String> v, final String node)
    {
        String n = node;
        while (!v.containsKey(n))
        {
            n = parent(n);
        }
        return n;
    }

    static void remove(final TreeMap<String, String> v, final Map<String, String> p, final String node,
        final Set<String> changed)
    {
        final List<String> doomed = new ArrayList<>();
        for (final String k : v.tailMap(node, true).keySet())
        {
            if (!k.equals(node) && !k.startsWith(node + "/"))
            {
                break;
            }
            doomed.add(k);
        }
        for (final String k : doomed)
        {
            v.remove(k);
            p.remove(k);
        }
        changed.add(node);
    }

    static List<String> children(final TreeMap<String, String> v, final String node)
    {
        final String prefix = "/".equals(node) ? "/" : node + "/";
        final List<String> out = new ArrayList<>();
        for (final String k : v.tailMap(prefix, false).keySet())
        {
            if (!k.startsWith(prefix))
            {
                break;
            }
            final String rest = k.substring(prefix.length());
            if (!rest.isEmpty() && rest.indexOf('/') < 0)
            {
                out.add(rest);
            }
        }
        return out;
    }

    static String absolute(final String p, final int domid)
    {
        if (p.startsWith("/"))
        {
            return p.length() > 1 && p.endsWith("/") ? p.substring(0, p.length() - 1) : p;
        }
        return "/local/domain/" + domid + "/" + p;
    }

    static boolean validPath(final String p)
    {
        return p.startsWith("/") && !p.contains("//") && p.matches("[A-Za-z0-9/_@\\-.]+");
    }

    static String parent(final String node)
    {
        final int slash = node.lastIndexOf('/');
        return slash <= 0 ? "/" : node.substring(0, slash);
    }

    static int indexOfNul(final byte[] b)
    {
        for (int i = 0; i < b.length; i++)
        {
            if (b[i] == 0)
            {
                return i;
            }
        }
        return -1;
    }
}
