package org.hyperdmabuf.cli;

import org.hyperdmabuf.daemon.IoErrors;
import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

/**
 * The {@code hdmabuf} command line with every subcommand: what the help, the man pages and the bash completion
 * describe. {@link #commandLine(String[])} builds only the one subcommand a command line names.
 */
@Command(name = "hdmabuf",
    subcommands = {
        ServerCommand.class, XenEmuCommand.class, SinkCommand.class, SourceCommand.class, DaemonCommand.class,
        MonitorCommand.class, CapsCommand.class, TargetsCommand.class, ListCommand.class, StatsCommand.class,
        PolicyCommand.class, BenchCommand.class, WriteImportCommand.class,
        SendCommand.class, ReceiveCommand.class, DemoCommand.class,
        DemoProducer.class, DemoConsumer.class, StreamProducer.class, StreamConsumer.class, CommandLine.HelpCommand.class})
public final class Hdmabuf extends RootCommand
{
    /**
     * The types of picocli's built-in converters that no option of ours has (java.sql, java.time): each is looked up
     * by reflection in every command line built, a few milliseconds of a daemon's start, and java.sql's loads a module.
     */
    static final String UNUSED_CONVERTERS = "java\\.(sql|time)\\..*";

    public static void main(final String[] args)
    {
        beforeCommandLine(args);
        int status;
        try
        {
            status = run(args);
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
     * Runs the command {@code args} name and returns its exit status: a daemon's plain command line without
     * picocli's model ({@link PlainDaemonCommandLine}), everything else through picocli.
     */
    static int run(final String[] args)
    {
        final Callable<Integer> daemon = PlainDaemonCommandLine.read(args);
        return daemon != null ? PlainDaemonCommandLine.call(subcommandName(args), daemon)
            : commandLine(args).execute(args);
    }

    /**
     * What {@link #main} does before it builds the command line for {@code args}: the native warm-up of a daemon
     * started, logging configured, picocli's unused converters left out. The class-data archive's training run does it too.
     */
    static void beforeCommandLine(final String[] args)
    {
        final CountDownLatch logging = NativeWarmUp.start(subcommandName(args));
        JournalLog.configure(args);
        NativeWarmUp.loggingConfigured(logging);
        System.setProperty("picocli.converters.excludes", UNUSED_CONVERTERS);
    }

    /**
     * The command line with its error handling: every failure is one line naming the command, never a stack
     * trace (a bad option value or argument exits 2, a failure of the command 1). Public for tools that run
     * several commands in one JVM (the real-Xen test's per-domain agent).
     */
    public static CommandLine commandLine()
    {
        return withErrorHandling(new CommandLine(new Hdmabuf()));
    }

    /**
     * The command line for {@code args}: with only the subcommand they name, when they name one (other than help),
     * else with every subcommand. picocli builds the model of every subcommand it is given by reflection, which
     * was most of a daemon's start-up; the error messages and the help of the named command are the same.
     */
    static CommandLine commandLine(final String[] args)
    {
        final String name = subcommandName(args);
        for (final Class<?> c : Hdmabuf.class.getAnnotation(Command.class).subcommands())
        {
            if (c != CommandLine.HelpCommand.class && c.getAnnotation(Command.class).name().equals(name))
            {
                return withErrorHandling(new CommandLine(new OneSubcommand()).addSubcommand(c));
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

    private static CommandLine withErrorHandling(final CommandLine cl)
    {
        cl.setExecutionExceptionHandler((ex, line, parsed) ->
        {
            line.getErr().println(failure(line.getCommandSpec().qualifiedName(), ex));
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

    /** The line a failed command prints: its name and what went wrong, never a stack trace. */
    static String failure(final String qualifiedName, final Exception ex)
    {
        return qualifiedName + ": " + IoErrors.describe(ex);
    }

    /** The root command without subcommands of its own: {@link #commandLine(String[])} adds the one named. */
    @Command(name = "hdmabuf")
    static final class OneSubcommand extends RootCommand
    {
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
