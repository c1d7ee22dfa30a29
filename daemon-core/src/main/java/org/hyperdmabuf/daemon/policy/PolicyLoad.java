package org.hyperdmabuf.daemon.policy;

import org.tomlj.TomlArray;
import org.tomlj.TomlParseResult;
import org.tomlj.TomlTable;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.hyperdmabuf.daemon.policy.PolicyFile.line;

/**
 * One load of a policy file set: every file read, then merged into one {@link Policy}. Pass 1 checks the syntax
 * and reads the VM names of every file (so any file may use them, and a file with syntax errors still lends its
 * names rather than cascading into more errors); pass 2 reads everything else of the syntactically valid files.
 */
final class PolicyLoad
{
    private static final List<String> TOP_LEVEL = List.of("vms", "share", "quota", "limits", "access");

    private final List<Path> paths;
    private final PolicyProblems problems = new PolicyProblems();
    private final VmNames vms = new VmNames();
    private final ShareRuleParser shares = new ShareRuleParser(vms);
    private final QuotaParser quotas = new QuotaParser(vms);
    private final LimitsParser limits = new LimitsParser();
    private final AccessParser access = new AccessParser();

    PolicyLoad(final List<Path> paths)
    {
        this.paths = List.copyOf(paths);
    }

    Policy run() throws PolicyException
    {
        final List<PolicyFile> files = new ArrayList<>();
        for (int i = 0; i < paths.size(); i++)
        {
            final PolicyFile file = PolicyFile.read(paths.get(i), i, problems);
            if (file.toml() != null)
            {
                vms.read(file, file.toml());
            }
            files.add(file);
        }
        for (final PolicyFile file : files)
        {
            if (file.isValid())
            {
                rest(file, file.toml());
            }
        }
        problems.throwIfAny();
        return new Policy(vms.names(), shares.rules(), quotas.vmQuotas(), quotas.uidQuotas(), quotas.defaultClient(),
            limits.maxMetadata(), access.uids(), access.gids(), paths);
    }

    private void rest(final PolicyFile file, final TomlParseResult root)
    {
        for (final String key : root.keySet())
        {
            final Object value = root.get(List.of(key));
            final int line = line(root, key);
            switch (key)
            {
                case "vms" ->
                {
                    // pass 1
                }
                case "share" -> shares.read(file, value, line);
                case "quota" -> quotas.read(file, value, line);
                case "limits" -> limits.read(file, value, line);
                case "access" -> access.read(file, value, line);
                default -> unknownTopLevel(file, key, value, line);
            }
        }
    }

    private static void unknownTopLevel(final PolicyFile file, final String key, final Object value, final int line)
    {
        final String hint = KeyHints.suggest(key, TOP_LEVEL);
        final String known = hint == null ? " (known: [vms], [[share]], [quota], [limits], [access])" :
            " (did you mean " + header(hint) + "?)";
        if (value instanceof TomlTable)
        {
            file.error(line, "unknown table [" + key + "]" + known);
        }
        else if (value instanceof TomlArray a && a.size() > 0 && a.get(0) instanceof TomlTable)
        {
            file.error(line, "unknown table [[" + key + "]]" + known);
        }
        else
        {
            file.error(line, "unknown key '" + key + "' (keys belong in a table: [vms], [[share]], [quota], " +
                "[limits], [access])");
        }
    }

    private static String header(final String table)
    {
        return "share".equals(table) ? "[[share]]" : "[" + table + "]";
    }
}
