package org.hyperdmabuf.daemon.policy;

import org.tomlj.TomlParseResult;
import org.tomlj.TomlTable;

import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

import static org.hyperdmabuf.daemon.policy.PolicyLoader.MAX_VM_ID;
import static org.hyperdmabuf.daemon.policy.PolicyLoader.MIN_VM_ID;
import static org.hyperdmabuf.daemon.policy.TomlText.typeOf;

/**
 * The VM names of a policy file set ({@code [vms]} of every file, read first so that any file may use them),
 * and the references to VMs by name or id in the other tables.
 */
final class VmNames
{
    private static final Pattern VM_NAME = Pattern.compile("[A-Za-z_][A-Za-z0-9_-]{0,63}");
    static final Pattern DIGITS = Pattern.compile("[0-9]+");

    private final Map<String, Defined<Integer>> vmByName = new LinkedHashMap<>();
    private final Map<Integer, Defined<String>> vmById = new HashMap<>();

    /** Adds the {@code [vms]} table of {@code file}, if it has one. */
    void read(final PolicyFile file, final TomlParseResult root)
    {
        final Object value = root.get(List.of("vms"));
        if (value == null)
        {
            return;
        }
        if (!(value instanceof TomlTable vms))
        {
            file.error(PolicyFile.line(root, "vms"), "vms must be a table ([vms]), not " + typeOf(value));
            return;
        }
        for (final String name : vms.keySet())
        {
            final int line = PolicyFile.line(vms, name);
            final Object id = vms.get(List.of(name));
            if (!VM_NAME.matcher(name).matches())
            {
                file.error(line, "VM name '" + name + "' is not valid (a letter or '_', then letters, digits, " +
                    "'_' or '-'; at most 64 characters)");
                continue;
            }
            if (!(id instanceof Long l))
            {
                file.error(line, "VM id of '" + name + "' must be an integer, not " + typeOf(id));
                continue;
            }
            if (l < MIN_VM_ID || l > MAX_VM_ID)
            {
                file.error(line, "VM id " + l + " of '" + name + "' out of range [" + MIN_VM_ID + ", " + MAX_VM_ID +
                    "]");
                continue;
            }
            define(file, line, name, l.intValue());
        }
    }

    private void define(final PolicyFile file, final int line, final String name, final int vm)
    {
        final Defined<Integer> byName = vmByName.get(name);
        final Defined<String> byId = vmById.get(vm);
        if (byName != null && byName.value() != vm)
        {
            file.error(line, "duplicate VM name '" + name + "': " + vm + " here, " + byName.value() + " at " +
                byName.place());
            return;
        }
        if (byId != null && !byId.value().equals(name))
        {
            file.error(line, "duplicate VM id " + vm + ": named '" + name + "' here, '" + byId.value() + "' at " +
                byId.place());
            return;
        }
        if (byName == null)
        {
            vmByName.put(name, new Defined<>(vm, file.place(line)));
            vmById.put(vm, new Defined<>(name, file.place(line)));
        }
    }

    /** The names and their ids, in the order they were defined. */
    Map<String, Integer> names()
    {
        final Map<String, Integer> names = new LinkedHashMap<>();
        vmByName.forEach((name, def) -> names.put(name, def.value()));
        return names;
    }

    /** A VM given by name (known in some [vms]) or id; null (error reported) if it is not one. */
    Integer ref(final PolicyFile file, final Object value, final int line, final String key)
    {
        if (value instanceof Long l)
        {
            return id(file, l, line);
        }
        if (value instanceof String name)
        {
            final Defined<Integer> def = vmByName.get(name);
            if (def != null)
            {
                return def.value();
            }
            if (DIGITS.matcher(name).matches())
            {
                file.error(line, "unknown VM '" + name + "' (write a VM id as an integer, without quotes)");
            }
            else
            {
                file.error(line, "unknown VM '" + name + "' (not defined in any [vms])");
            }
            return null;
        }
        file.error(line, key + " must be a VM name or id, not " + typeOf(value));
        return null;
    }

    private static Integer id(final PolicyFile file, final long id, final int line)
    {
        if (id < MIN_VM_ID || id > MAX_VM_ID)
        {
            file.error(line, "VM id " + id + " out of range [" + MIN_VM_ID + ", " + MAX_VM_ID + "]");
            return null;
        }
        return (int) id;
    }

    /** A VM named by a table key ({@code [quota.vm.KEY]}): a name or the digits of an id; null (error reported). */
    Integer key(final PolicyFile file, final String key, final int line, final String where)
    {
        if (DIGITS.matcher(key).matches())
        {
            if (key.length() > 6 || Long.parseLong(key) > MAX_VM_ID)
            {
                file.error(line, where + ": VM id " + key + " out of range [" + MIN_VM_ID + ", " + MAX_VM_ID + "]");
                return null;
            }
            return Integer.parseInt(key);
        }
        final Defined<Integer> def = vmByName.get(key);
        if (def == null)
        {
            file.error(line, where + ": unknown VM '" + key + "' (not defined in any [vms])");
            return null;
        }
        return def.value();
    }

    /** {@code name (id)}, or {@code VM id} for a VM without a name. */
    String label(final int vm)
    {
        final Defined<String> def = vmById.get(vm);
        return def == null ? "VM " + vm : def.value() + " (" + vm + ")";
    }
}
