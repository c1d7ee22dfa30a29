package org.hyperdmabuf.cli;

import org.hyperdmabuf.daemon.IoErrors;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ScopeType;
import picocli.CommandLine.Spec;

/** The {@code hdmabuf} command line. */
@Command(name = "hdmabuf", mixinStandardHelpOptions = true, versionProvider = Hdmabuf.Version.class,
    description = "Cross-VM zero-copy buffer sharing: daemons, tools and a demo.",
    subcommands = {
        ServerCommand.class, XenEmuCommand.class, SinkCommand.class, SourceCommand.class, DaemonCommand.class,
        MonitorCommand.class, CapsCommand.class, TargetsCommand.class, ListCommand.class, StatsCommand.class,
        PolicyCommand.class, BenchCommand.class, WriteImportCommand.class,
        SendCommand.class, ReceiveCommand.class, DemoCommand.class,
        DemoProducer.class, DemoConsumer.class, StreamProducer.class, StreamConsumer.class, CommandLine.HelpCommand.class})
public final class Hdmabuf
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

    public static void main(final String[] args)
    {
        JournalLog.configure(args);
        int status;
        try
        {
            status = commandLine().execute(args);
        }
        catch (final Throwable e)
        {
            // An Error (picocli hands on only Exceptions): still one line, never a stack trace.
            System.err.println("hdmabuf: internal error: " + IoErrors.describe(e));
            status = 1;
        }
        System.exit(status);
    }

    /**
     * The command line with its error handling: every failure is one line naming the command, never a stack
     * trace (a bad option value or argument exits 2, a failure of the command 1). Public for tools that run
     * several commands in one JVM (the real-Xen test's per-domain agent).
     */
    public static CommandLine commandLine()
    {
        final CommandLine cl = new CommandLine(new Hdmabuf());
        cl.setExecutionExceptionHandler((ex, line, parsed) ->
        {
            line.getErr().println(line.getCommandSpec().qualifiedName() + ": " + IoErrors.describe(ex));
            return 1;
        });
        cl.setParameterExceptionHandler((ex, args) ->
        {
            final CommandLine line = ex.getCommandLine();
            final String name = line.getCommandSpec().qualifiedName();
            line.getErr().println(name + ": " + ex.getMessage() + " (see " + name + " --help)");
            return line.getCommandSpec().exitCodeOnInvalidInput();
        });
        return cl;
    }

    /** The version the build wrote into the jar's manifest (the root pom's {@code revision}), and the ABI's. */
    static final class Version implements CommandLine.IVersionProvider
    {
        @Override
        public String[] getVersion()
        {
            final String v = Hdmabuf.class.getPackage().getImplementationVersion();
            return new String[] {"hyperdmabuf " + (v == null ? "(unpackaged build)" : v) + " (ABI v" +
                org.hyperdmabuf.abi.Limits.ABI_VERSION + ")"};
        }
    }
}
