package org.hyperdmabuf.daemon.policy;

import org.tomlj.TomlArray;
import org.tomlj.TomlTable;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

import static org.hyperdmabuf.daemon.policy.PolicyFile.line;
import static org.hyperdmabuf.daemon.policy.TomlText.typeOf;

/** The {@code [[share]]} rules of a policy file set: who may export to whom, which content, with what access. */
final class ShareRuleParser
{
    private static final List<String> SHARE_KEYS = List.of("from", "to", "content", "read_only");

    private final VmNames vms;
    private final List<ShareRule> rules = new ArrayList<>();

    ShareRuleParser(final VmNames vms)
    {
        this.vms = vms;
    }

    /** The valid rules read so far, in file order. */
    List<ShareRule> rules()
    {
        return rules;
    }

    /** Reads the value of a top-level {@code share} key of {@code file}. */
    void read(final PolicyFile file, final Object value, final int line)
    {
        if (value instanceof TomlTable)
        {
            file.error(line, "share must be an array of tables: write [[share]], not [share]");
            return;
        }
        if (!(value instanceof TomlArray list))
        {
            file.error(line, "share must be an array of tables ([[share]]), not " + typeOf(value));
            return;
        }
        for (int i = 0; i < list.size(); i++)
        {
            final int ruleLine = file.elementLine(list, i);
            if (list.get(i) instanceof TomlTable rule)
            {
                share(file, rule, ruleLine);
            }
            else
            {
                file.error(ruleLine, "share entries must be tables ([[share]]), not " + typeOf(list.get(i)));
            }
        }
    }

    private void share(final PolicyFile file, final TomlTable rule, final int ruleLine)
    {
        file.unknownKeys(rule, SHARE_KEYS, "[[share]]");
        final Integer from = from(file, rule, ruleLine);
        boolean ok = from != null;
        final Set<Integer> to = new LinkedHashSet<>();
        final int toLine = line(rule, "to");
        ok &= to(file, rule, ruleLine, to);
        if (from != null && to.contains(from))
        {
            file.error(toLine, "a VM cannot share with itself: " + vms.label(from) + " is both from and to");
            ok = false;
        }
        final List<String> content = new ArrayList<>();
        ok &= content(file, rule, content);
        boolean readOnly = false;
        final Object roValue = rule.get(List.of("read_only"));
        if (roValue instanceof Boolean b)
        {
            readOnly = b;
        }
        else if (roValue != null)
        {
            file.error(line(rule, "read_only"), "read_only must be true or false, not " + typeOf(roValue));
            ok = false;
        }
        if (ok)
        {
            rules.add(new ShareRule(from, to, content, readOnly, file.place(ruleLine)));
        }
    }

    /** The exporting VM; null (error reported) if the rule has none or not one. */
    private Integer from(final PolicyFile file, final TomlTable rule, final int ruleLine)
    {
        final Object fromValue = rule.get(List.of("from"));
        if (fromValue == null)
        {
            file.error(ruleLine, "[[share]] without from (the exporting VM)");
            return null;
        }
        if ("*".equals(fromValue))
        {
            file.error(line(rule, "from"), "from must name one VM, not \"*\"");
            return null;
        }
        if (fromValue instanceof TomlArray)
        {
            file.error(line(rule, "from"), "from must be one VM name or id, not an array (write one rule per " +
                "exporting VM)");
            return null;
        }
        return vms.ref(file, fromValue, line(rule, "from"), "from");
    }

    /** Adds the importing VMs to {@code to} (none for "*": any VM); false if there was an error. */
    private boolean to(final PolicyFile file, final TomlTable rule, final int ruleLine, final Set<Integer> to)
    {
        final Object toValue = rule.get(List.of("to"));
        final int toLine = line(rule, "to");
        if (toValue == null)
        {
            file.error(ruleLine, "[[share]] without to (the importing VMs, or \"*\" for any VM)");
            return false;
        }
        if ("*".equals(toValue))
        {
            return true; // any VM: the empty set
        }
        if (!(toValue instanceof TomlArray list))
        {
            final Integer vm = vms.ref(file, toValue, toLine, "to");
            if (vm == null)
            {
                return false;
            }
            to.add(vm);
            return true;
        }
        boolean ok = true;
        if (list.isEmpty())
        {
            file.error(toLine, "to is empty (list the importing VMs, or write to = \"*\" for any VM)");
            ok = false;
        }
        for (int i = 0; i < list.size(); i++)
        {
            final Object item = list.get(i);
            final int itemLine = file.elementLine(list, i);
            if ("*".equals(item))
            {
                file.error(itemLine, "\"*\" must be the whole value of to (to = \"*\"), not a list entry");
                ok = false;
                continue;
            }
            final Integer vm = vms.ref(file, item, itemLine, "to");
            if (vm == null)
            {
                ok = false;
            }
            else
            {
                to.add(vm);
            }
        }
        return ok;
    }

    /** Adds the content globs to {@code content} ("*" if the rule has none); false if there was an error. */
    private static boolean content(final PolicyFile file, final TomlTable rule, final List<String> content)
    {
        final Object contentValue = rule.get(List.of("content"));
        final int contentLine = line(rule, "content");
        if (contentValue == null)
        {
            content.add("*");
            return true;
        }
        if (contentValue instanceof String glob)
        {
            content.add(glob);
            return glob(file, glob, contentLine);
        }
        if (!(contentValue instanceof TomlArray list))
        {
            file.error(contentLine, "content must be a glob or an array of globs, not " + typeOf(contentValue));
            return false;
        }
        boolean ok = true;
        if (list.isEmpty())
        {
            file.error(contentLine, "content is empty (omit it to allow every content type)");
            ok = false;
        }
        for (int i = 0; i < list.size(); i++)
        {
            final int itemLine = file.elementLine(list, i);
            if (list.get(i) instanceof String glob)
            {
                ok &= glob(file, glob, itemLine);
                content.add(glob);
            }
            else
            {
                file.error(itemLine, "content entries must be strings (globs), not " + typeOf(list.get(i)));
                ok = false;
            }
        }
        return ok;
    }

    private static boolean glob(final PolicyFile file, final String glob, final int line)
    {
        if (glob.isEmpty())
        {
            file.error(line, "content glob is empty (\"*\" matches every content type)");
            return false;
        }
        if (glob.length() > PolicyLoader.MAX_GLOB_CHARS)
        {
            file.error(line, "content glob longer than " + PolicyLoader.MAX_GLOB_CHARS + " characters");
            return false;
        }
        return true;
    }
}
