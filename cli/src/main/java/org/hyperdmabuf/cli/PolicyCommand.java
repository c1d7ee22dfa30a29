package org.hyperdmabuf.cli;

import org.hyperdmabuf.daemon.policy.Policy;
import org.hyperdmabuf.daemon.policy.PolicyError;
import org.hyperdmabuf.daemon.policy.PolicyException;
import org.hyperdmabuf.daemon.policy.PolicyLoader;
import org.hyperdmabuf.daemon.policy.Quota;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;

/** {@code hdmabuf policy check FILE...}: validates policy files (abi-spec/POLICY.md) without a daemon. */
@Command(name = "policy", mixinStandardHelpOptions = true,
    description = "Policy files: who may share what with whom (abi-spec/POLICY.md).",
    subcommands = {PolicyCommand.Check.class})
final class PolicyCommand implements Callable<Integer>
{
    @Spec
    CommandSpec spec;

    @Override
    public Integer call()
    {
        throw new CommandLine.ParameterException(spec.commandLine(), "missing subcommand (check)");
    }

    @Command(name = "check", mixinStandardHelpOptions = true,
        description = {"Check policy files as a daemon loads them: merged, in the order given.",
            "A directory stands for its *.toml files in file-name order (like policy.d).",
            "Without FILE: /etc/hyperdmabuf/policy.toml and /etc/hyperdmabuf/policy.d.",
            "Exit 0 with a one-line summary if the set is valid;",
            "exit 1 with every error (file:line: message) on stderr if not.",
            "No daemon is needed."})
    static final class Check implements Callable<Integer>
    {
        @Spec
        CommandSpec spec;

        @Parameters(paramLabel = "FILE", arity = "0..*", description = "Policy files or drop-in directories.")
        List<Path> paths = new ArrayList<>();

        @Option(names = "--json", description = {"One JSON object on stdout instead of the summary or the errors:",
            "{\"ok\": true, \"permissive\", \"files\", \"vms\", \"share_rules\", ...} or",
            "{\"ok\": false, \"errors\": [{\"file\", \"line\", \"message\"}]}; the exit status is the same."})
        boolean json;

        @Override
        public Integer call()
        {
            final PrintWriter out = spec.commandLine().getOut();
            final PrintWriter err = spec.commandLine().getErr();
            final List<Path> files = new ArrayList<>();
            try
            {
                if (paths.isEmpty())
                {
                    files.addAll(PolicyLoader.defaultFiles(PolicyLoader.DEFAULT_FILE,
                        PolicyLoader.DEFAULT_DROP_IN_DIR));
                    if (files.isEmpty())
                    {
                        if (json)
                        {
                            return PolicyJson.print(out, PolicyJson.permissive());
                        }
                        out.println("ok: no policy file (" + PolicyLoader.DEFAULT_FILE + ", " +
                            PolicyLoader.DEFAULT_DROP_IN_DIR + "/*.toml): a daemon runs permissive, " +
                            "every VM may share everything (development only)");
                        out.flush();
                        return 0;
                    }
                }
                for (final Path p : paths)
                {
                    if (Files.isDirectory(p))
                    {
                        files.addAll(PolicyLoader.defaultFiles(null, p));
                    }
                    else
                    {
                        files.add(p);
                    }
                }
            }
            catch (final UncheckedIOException e)
            {
                if (json)
                {
                    return PolicyJson.print(out, PolicyJson.failure(e.getMessage()));
                }
                err.println(e.getMessage());
                err.flush();
                return 1;
            }
            if (files.isEmpty())
            {
                if (json)
                {
                    return PolicyJson.print(out, PolicyJson.failure("no policy files: " + paths.stream()
                        .map(p -> p + "/*.toml").collect(Collectors.joining(", ")) + " matched nothing"));
                }
                err.println("no policy files: " + paths.stream().map(p -> p + "/*.toml")
                    .collect(Collectors.joining(", ")) + " matched nothing");
                err.flush();
                return 1;
            }
            try
            {
                final Policy policy = PolicyLoader.load(files);
                if (json)
                {
                    return PolicyJson.print(out, PolicyJson.accepted(policy));
                }
                out.println(summary(policy));
                out.flush();
                return 0;
            }
            catch (final PolicyException e)
            {
                if (json)
                {
                    return PolicyJson.print(out, PolicyJson.rejected(e.errors()));
                }
                for (final PolicyError error : e.errors())
                {
                    err.println(error);
                }
                err.println(e.errors().size() + (e.errors().size() == 1 ? " error" : " errors") + " in " +
                    files.size() + (files.size() == 1 ? " file" : " files") + "; the policy was not accepted");
                err.flush();
                return 1;
            }
        }
    }

    /** One line: what the policy holds. */
    static String summary(final Policy p)
    {
        final StringBuilder s = new StringBuilder("ok: ");
        s.append(count(p.vms().size(), "VM")).append(", ");
        s.append(count(p.shares().size(), "share rule")).append(" (");
        s.append(p.shares().stream().filter(r -> r.readOnly()).count()).append(" read-only), ");
        s.append(count(p.vmQuotas().size(), "VM quota")).append(", ");
        s.append(count(p.uidQuotas().size(), "uid quota")).append(", ");
        s.append("default client quota ").append(quota(p.defaultClientQuota())).append(", ");
        s.append("max metadata ").append(p.maxMetadataBytes()).append(" bytes, ");
        s.append("access: ").append(p.accessUids().isEmpty() && p.accessGids().isEmpty() ? "anyone the socket admits" :
            "uids " + sorted(p.accessUids()) + ", gids " + sorted(p.accessGids()) + " and uid 0");
        s.append(" (").append(count(p.sources().size(), "file")).append(')');
        return s.toString();
    }

    private static String count(final long n, final String what)
    {
        return n + " " + what + (n == 1 ? "" : "s");
    }

    private static String quota(final Quota q)
    {
        if (q.equals(Quota.UNLIMITED))
        {
            return "none";
        }
        return (q.maxBytes() == Long.MAX_VALUE ? "unlimited" : size(q.maxBytes())) + " in " +
            (q.maxBuffers() == Long.MAX_VALUE ? "unlimited" : q.maxBuffers()) + " buffers";
    }

    private static String size(final long bytes)
    {
        final String[] units = {"T", "G", "M", "K"};
        for (int i = 0; i < units.length; i++)
        {
            final int shift = 40 - 10 * i;
            if (bytes != 0 && bytes % (1L << shift) == 0)
            {
                return (bytes >> shift) + units[i];
            }
        }
        return Long.toString(bytes);
    }

    private static List<Integer> sorted(final java.util.Set<Integer> ids)
    {
        return ids.stream().sorted().toList();
    }
}
