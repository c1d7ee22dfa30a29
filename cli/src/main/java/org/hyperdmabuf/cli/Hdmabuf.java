package org.hyperdmabuf.cli;

import org.hyperdmabuf.daemon.IoErrors;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ScopeType;
import picocli.CommandLine.Spec;

import java.util.List;

/** The {@code hdmabuf} command line. */
@Command(name = "hdmabuf", mixinStandardHelpOptions = true, versionProvider = Hdmabuf.Version.class,
    description = "Cross-VM zero-copy buffer sharing: daemons, tools and a demo.")
public final class Hdmabuf
{
    /** The subcommands, in the order the help lists them. */
    private static final List<Class<?>> SUBCOMMANDS = List.of(
        ServerCommand.class, XenEmuCommand.class, SinkCommand.class, SourceCommand.class, DaemonCommand.class,
        MonitorCommand.class, CapsCommand.class, TargetsCommand.class, ListCommand.class, StatsCommand.class,
        PolicyCommand.class, BenchCommand.class, WriteImportCommand.class,
        SendCommand.class, ReceiveCommand.class, DemoCommand.class,
        DemoProducer.class, DemoConsumer.class, StreamProducer.class, StreamConsumer.class, CommandLine.HelpCommand.class);

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
        NativeWarmUp.start(subcommandName(args));
        // None of our options has a java.sql type: registering their converters loads java.sql for nothing.
        System.setProperty("picocli.converters.excludes", "java\\.sql\\..*");
        int status;
        try
        {
            status = commandLine(args).execute(args);
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
     * trace (a bad option value or argument exits 2, a failure of the command 1).
     */
    public static CommandLine commandLine()
    {
        return commandLine(SUBCOMMANDS);
    }

    /**
     * The command line for {@code args}: with only the subcommand they name, when they name one (other than help),
     * else with every subcommand. picocli builds the model of every subcommand it is given by reflection, which
     * was most of a daemon's start-up; the error messages and the help of the named command are the same.
     */
    static CommandLine commandLine(final String[] args)
    {
        final String name = subcommandName(args);
        for (final Class<?> c : SUBCOMMANDS)
        {
            if (c != CommandLine.HelpCommand.class && c.getAnnotation(Command.class).name().equals(name))
            {
                return commandLine(List.of(c));
            }
        }
        return commandLine();
    }

    /** The first argument that is not a root option, or null if a root option other than --log-level comes first. */
    static String subcommandName(final String[] args)
    {
        for (int i = 0; i < args.length; i++)
        {
            if (args[i].equals("--log-level"))
            {
                i++;
            }
            else if (!args[i].startsWith("--log-level="))
            {
                return args[i].startsWith("-") ? null : args[i];
            }
        }
        return null;
    }

    private static CommandLine commandLine(final List<Class<?>> subcommands)
    {
        final CommandLine cl = new CommandLine(new Hdmabuf());
        for (final Class<?> c : subcommands)
        {
            cl.addSubcommand(c);
        }
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
