package org.hyperdmabuf.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ScopeType;
import picocli.CommandLine.Spec;

/**
 * The root command's own options and help, whichever subcommands it is given: {@link Hdmabuf} has all of them,
 * {@link Hdmabuf.OneSubcommand} the one a command line names.
 */
@Command(mixinStandardHelpOptions = true, versionProvider = Hdmabuf.Version.class,
    description = "Cross-VM zero-copy buffer sharing: daemons, tools and a demo.")
abstract class RootCommand
{
    @Spec
    CommandSpec spec;

    /** Read by {@link JournalLog#configure} before any logger exists; here so picocli documents and checks it. */
    @Option(names = "--log-level", scope = ScopeType.INHERIT, paramLabel = "LEVEL",
        description = "Log level: error, warn, info (default), debug or trace; overrides HDMABUF_LOG_LEVEL.")
    void logLevel(final String level)
    {
        if (!JournalLog.LEVELS.contains(level.toLowerCase(java.util.Locale.ROOT)))
        {
            throw new CommandLine.ParameterException(spec.commandLine(),
                "--log-level: one of " + JournalLog.LEVELS + ", not '" + level + "'");
        }
    }
}
