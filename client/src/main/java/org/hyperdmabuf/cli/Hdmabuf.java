package org.hyperdmabuf.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code hdmabuf} command line. */
@Command(name = "hdmabuf", mixinStandardHelpOptions = true, version = "hyperdmabuf 0.1.0 (ABI v1)",
    description = "Cross-VM zero-copy buffer sharing: daemons, tools and a demo.",
    subcommands = {
        ServerCommand.class, XenEmuCommand.class, SinkCommand.class, SourceCommand.class, DaemonCommand.class,
        MonitorCommand.class, CapsCommand.class, TargetsCommand.class, ListCommand.class, StatsCommand.class,
        PolicyCommand.class, BenchCommand.class, WriteImportCommand.class,
        SendCommand.class, ReceiveCommand.class, DemoCommand.class,
        DemoProducer.class, DemoConsumer.class, StreamProducer.class, StreamConsumer.class, CommandLine.HelpCommand.class})
public final class Hdmabuf
{
    public static void main(final String[] args)
    {
        int exit;
        try
        {
            exit = commandLine().execute(args);
        }
        catch (final Error e)
        {
            // The handler below sees only Exceptions; an Error would print a stack trace and, with a daemon's
            // threads started, leave the JVM running.
            System.err.println("hdmabuf: " + e);
            exit = 1;
        }
        System.exit(exit);
    }

    static CommandLine commandLine()
    {
        final CommandLine cl = new CommandLine(new Hdmabuf());
        cl.setExecutionExceptionHandler((ex, line, parsed) ->
        {
            line.getErr().println("hdmabuf " + line.getCommandName() + ": " +
                (ex.getMessage() == null ? ex.toString() : ex.getMessage()));
            return 1;
        });
        return cl;
    }
}
