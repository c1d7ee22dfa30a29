package org.hyperdmabuf.cli;

import org.junit.jupiter.api.Test;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.OptionSpec;

import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.Callable;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A daemon's plain command line read without picocli gives the command picocli would have given. */
class PlainDaemonCommandLineTest
{
    private static final List<String> DAEMONS = List.of("server", "sink", "source", "daemon");

    @Test
    void theDaemonCommandsAreTheRootsSubcommandsOfThoseNames()
    {
        final Set<String> found = new TreeSet<>();
        for (final Class<?> c : Hdmabuf.class.getAnnotation(Command.class).subcommands())
        {
            final Command command = c.getAnnotation(Command.class);
            final Callable<Integer> plain = PlainDaemonCommandLine.command(command.name());
            if (plain != null)
            {
                assertEquals(c, plain.getClass(), command.name());
                found.add(command.name());
            }
        }
        assertEquals(new TreeSet<>(DAEMONS), found);
        assertNull(PlainDaemonCommandLine.command("caps"));
        assertNull(PlainDaemonCommandLine.command(null));
    }

    @Test
    void everyOptionOfEveryDaemonCommandIsReadAsPicocliReadsIt() throws Exception
    {
        for (final String name : DAEMONS)
        {
            final List<OptionSpec> options = Hdmabuf.commandLine(new String[] {name}).getSubcommands().get(name)
                .getCommandSpec().options();
            // Round 0 gives each option by its first name as "--name VALUE", round 1 by its last as "--name=VALUE"
            // (a short name stays separate), and the root option before the command name.
            for (int round = 0; round < 2; round++)
            {
                final List<String> args = new ArrayList<>();
                args.add(name);
                int given = 0;
                for (final OptionSpec o : options)
                {
                    if (o.usageHelp() || o.versionHelp())
                    {
                        continue;
                    }
                    final String option = round == 0 ? o.names()[0] : o.names()[o.names().length - 1];
                    final String value = sample(o);
                    if (option.equals("--log-level") && round == 1)
                    {
                        args.add(0, option + "=" + value);
                    }
                    else if (round == 1 && option.startsWith("--"))
                    {
                        args.add(option + "=" + value);
                    }
                    else
                    {
                        args.add(option);
                        args.add(value);
                    }
                    given++;
                }
                assertTrue(given > 3, name + ": options " + given);
                if (o(options, "--backend-option"))
                {
                    args.addAll(List.of("-O", "second=2"));
                }
                final String[] argv = args.toArray(new String[0]);
                final Object plain = PlainDaemonCommandLine.read(argv);
                assertNotNull(plain, "not read without picocli: " + args);
                final Object picocli = Hdmabuf.commandLine(argv).parseArgs(argv).subcommand().commandSpec()
                    .userObject();
                assertSameFields(picocli, plain, String.join(" ", args));
            }
        }
    }

    @Test
    void everyFieldAnOptionNameCouldSetIsThatOption()
    {
        for (final String name : DAEMONS)
        {
            final Object command = PlainDaemonCommandLine.command(name);
            final Set<String> options = new TreeSet<>();
            for (final OptionSpec o : Hdmabuf.commandLine(new String[] {name}).getSubcommands().get(name)
                .getCommandSpec().options())
            {
                if (!o.usageHelp() && !o.versionHelp() && o.userObject() instanceof Field f)
                {
                    options.add(f.getName());
                }
            }
            final Set<String> settable = new TreeSet<>();
            collectSettable(command, settable);
            assertEquals(options, settable, name + ": fields a plain command line could set, against picocli's");
        }
    }

    @Test
    void aPlainCommandLineSetsWhatItNamesAndLeavesTheDefaults()
    {
        final SinkCommand sink = (SinkCommand)PlainDaemonCommandLine.read(new String[] {"--log-level", "debug", "sink",
            "--socket", "/run/x.sock", "--max-peers=4", "-O", "mode=guest", "--backend-option", "device=0000:00:06.0"});
        assertNotNull(sink);
        assertEquals(Path.of("/run/x.sock"), sink.socket);
        assertEquals(4, sink.daemon.maxPeers);
        assertEquals(Map.of("mode", "guest", "device", "0000:00:06.0"), sink.daemon.backendOptions);
        assertEquals(new DaemonOptions().heartbeatMs, sink.daemon.heartbeatMs);
        assertEquals(new DaemonOptions().policy, sink.daemon.policy);
    }

    @Test
    void whatPicocliMustReadIsLeftToIt()
    {
        final List<String[]> left = List.of(
            new String[] {"sink", "--help"}, new String[] {"sink", "-h"}, new String[] {"server", "--version"},
            new String[] {"source", "-V"}, new String[] {"--help"}, new String[] {"caps"}, new String[0],
            new String[] {"sink", "--no-such-option", "x"}, new String[] {"sink", "--Socket", "x"},
            new String[] {"sink", "--socket"}, new String[] {"sink", "--socket="}, new String[] {"sink", "extra"},
            new String[] {"sink", "--", "x"}, new String[] {"sink", "--socket", "--name"},
            new String[] {"sink", "--max-peers", "x"}, new String[] {"sink", "--max-peers", "-1"},
            new String[] {"sink", "--max-peers=+1"}, new String[] {"sink", "--max-peers", "0x10"},
            new String[] {"sink", "--max-peers", "9999999999"},
            new String[] {"sink", "--max-peers", "1", "--max-peers", "2"},
            new String[] {"sink", "--log-level", "loud"}, new String[] {"sink", "--log-level=info", "--log-level=warn"},
            new String[] {"daemon", "-O", "no-equals-sign"}, new String[] {"daemon", "-O", "=v"},
            new String[] {"daemon", "-Ok=v"}, new String[] {"daemon", "-O=k=v"}, new String[] {"daemon", "-X", "v"},
            new String[] {"server", "--max-id", "-"}, new String[] {"source", "--policy", "a\0b"});
        for (final String[] args : left)
        {
            assertNull(PlainDaemonCommandLine.read(args), "read without picocli: " + Arrays.toString(args));
        }
    }

    /** The fields of {@code target} and its mixins of a type a plain command line converts (or a map). */
    private static void collectSettable(final Object target, final Set<String> names)
    {
        for (final Field f : target.getClass().getDeclaredFields())
        {
            final Class<?> type = f.getType();
            if (Modifier.isStatic(f.getModifiers()))
            {
                continue;
            }
            if (type.getPackage() == PlainDaemonCommandLine.class.getPackage())
            {
                try
                {
                    f.setAccessible(true);
                    collectSettable(f.get(target), names);
                }
                catch (final IllegalAccessException e)
                {
                    throw new AssertionError(e);
                }
            }
            else if (List.of(String.class, Path.class, int.class, Integer.class, Map.class).contains(type))
            {
                names.add(f.getName());
            }
        }
    }

    private static boolean o(final List<OptionSpec> options, final String name)
    {
        return options.stream().anyMatch(o -> Arrays.asList(o.names()).contains(name));
    }

    /** A value of the option's type that differs from its default. */
    private static String sample(final OptionSpec o)
    {
        final Class<?> type = o.type();
        final String bare = o.longestName().replaceFirst("^-+", "");
        if (o.longestName().equals("--log-level"))
        {
            return "debug";
        }
        if (type == int.class || type == Integer.class)
        {
            return Integer.toString(1000 + bare.length());
        }
        if (type == Map.class)
        {
            return "key-" + bare + "=value=with=equals";
        }
        if (type == Path.class)
        {
            return "/run/test/" + bare;
        }
        assertEquals(String.class, type, o.longestName());
        return "value-" + bare;
    }

    /** Every instance field of the two commands and of their mixins is equal. */
    private static void assertSameFields(final Object expected, final Object actual, final String args)
        throws IllegalAccessException
    {
        assertEquals(expected.getClass(), actual.getClass(), args);
        for (final Field f : expected.getClass().getDeclaredFields())
        {
            if (Modifier.isStatic(f.getModifiers()))
            {
                continue;
            }
            f.setAccessible(true);
            final Object e = f.get(expected);
            final Object a = f.get(actual);
            if (f.getType().getPackage() == PlainDaemonCommandLine.class.getPackage())
            {
                assertSameFields(e, a, args);
            }
            else
            {
                assertEquals(e, a, f.getName() + " after " + args);
            }
        }
    }
}
