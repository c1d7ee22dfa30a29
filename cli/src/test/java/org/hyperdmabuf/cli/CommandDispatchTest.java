package org.hyperdmabuf.cli;

import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The command line built for the named subcommand alone, as a daemon's start-up builds it, and for the rest. */
class CommandDispatchTest
{
    @Test
    void theSubcommandNameIsTheFirstArgumentPastTheRootOptions()
    {
        assertEquals("sink", Hdmabuf.subcommandName(new String[] {"sink", "--socket", "x"}));
        assertEquals("sink", Hdmabuf.subcommandName(new String[] {"--log-level", "debug", "sink"}));
        assertEquals("source", Hdmabuf.subcommandName(new String[] {"--log-level=warn", "source"}));
        assertNull(Hdmabuf.subcommandName(new String[] {"--help"}));
        assertNull(Hdmabuf.subcommandName(new String[] {"-V", "sink"}));
        assertNull(Hdmabuf.subcommandName(new String[] {"--log-level"}));
        assertNull(Hdmabuf.subcommandName(new String[0]));
    }

    @Test
    void aNamedSubcommandIsTheOnlyOneBuilt()
    {
        final CommandLine sink = Hdmabuf.commandLine(new String[] {"--log-level", "warn", "sink", "--help"});
        assertEquals(Set.of("sink"), sink.getSubcommands().keySet());
        final CommandLine.Model.CommandSpec spec = sink.getSubcommands().get("sink").getCommandSpec();
        assertEquals("hdmabuf sink", spec.qualifiedName());
        // The root's --log-level is inherited by the subcommand, as with every subcommand built.
        assertTrue(spec.findOption("--log-level") != null, "sink has no --log-level");
    }

    @Test
    void theClassTheManPagesAndTheCompletionReadHasEverySubcommandAndTheRootOptions()
    {
        final CommandLine cl = new CommandLine(Hdmabuf.class);
        assertEquals("hdmabuf", cl.getCommandName());
        assertTrue(cl.getSubcommands().keySet().containsAll(Set.of("server", "sink", "source", "daemon", "help")),
            cl.getSubcommands().keySet().toString());
        for (final String option : new String[] {"--log-level", "--help", "--version"})
        {
            assertTrue(cl.getCommandSpec().findOption(option) != null, "no " + option);
        }
        assertTrue(String.join("", cl.getCommandSpec().usageMessage().description()).startsWith("Cross-VM"));
    }

    @Test
    void helpAnUnknownNameAndRootOptionsGetEverySubcommand()
    {
        final int all = Hdmabuf.commandLine().getSubcommands().size();
        assertTrue(all > 10, "subcommands: " + all);
        assertEquals(all, Hdmabuf.commandLine(new String[] {"help", "sink"}).getSubcommands().size());
        assertEquals(all, Hdmabuf.commandLine(new String[] {"snk"}).getSubcommands().size());
        assertEquals(all, Hdmabuf.commandLine(new String[] {"--help"}).getSubcommands().size());
    }

    @Test
    void noOptionHasATypeWhoseConverterIsLeftOut()
    {
        final List<String> excluded = new ArrayList<>();
        collectExcludedTypes(Hdmabuf.commandLine(), excluded);
        assertTrue(excluded.isEmpty(), "options whose picocli converter is excluded: " + excluded);
    }

    private static void collectExcludedTypes(final CommandLine cl, final List<String> excluded)
    {
        for (final CommandLine.Model.ArgSpec arg : cl.getCommandSpec().args())
        {
            final List<Class<?>> types = new ArrayList<>(List.of(arg.auxiliaryTypes()));
            types.add(arg.type());
            for (final Class<?> type : types)
            {
                if (type.getName().matches(Hdmabuf.UNUSED_CONVERTERS))
                {
                    excluded.add(cl.getCommandSpec().qualifiedName() + " " + arg.paramLabel() + ": " + type.getName());
                }
            }
        }
        for (final CommandLine sub : cl.getSubcommands().values())
        {
            collectExcludedTypes(sub, excluded);
        }
    }

    @Test
    void aBadOptionOfTheNamedSubcommandIsReportedAsBefore()
    {
        final String[] args = {"sink", "--no-such-option"};
        final CommandLine cl = Hdmabuf.commandLine(args);
        final StringWriter err = new StringWriter();
        cl.setErr(new PrintWriter(err));
        assertEquals(2, cl.execute(args));
        assertTrue(err.toString().startsWith("hdmabuf sink: Unknown option: '--no-such-option' (see hdmabuf sink " +
            "--help)"), err.toString());
    }
}
