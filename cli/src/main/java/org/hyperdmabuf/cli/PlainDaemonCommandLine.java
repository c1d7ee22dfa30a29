package org.hyperdmabuf.cli;

import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;

/**
 * A daemon command's (server, sink, source, daemon) plain command line read without picocli. Building picocli's
 * model of a command reads its annotations, and the JDK generates a proxy class for each annotation type: with the
 * rest of picocli's start about 170 ms of a daemon's start-up on two cores, most of what the start-up target
 * allows. A plain command line is one whose every argument is an option of the command's own or the root's
 * {@code --log-level}, as {@code --name VALUE}, {@code --name=VALUE} or {@code -O VALUE}, each given once (a map
 * option any number of times), with a value that picocli converts to the same field value. Anything else (help,
 * version, an unknown, repeated or malformed option, a value picocli might read otherwise) is not read here:
 * {@link #read} answers null and picocli reads it, with its result or its error. A test reads every option of every
 * daemon command both ways and compares the commands' fields.
 *
 * <p>An option's field is its long name in camel case ({@code --max-peers}: {@code maxPeers}; a map option's
 * plural, {@code --backend-option}: {@code backendOptions}), on the command or on a mixin of it (a field whose
 * type is a class of this package), so the annotations stay the one home of the options.
 */
final class PlainDaemonCommandLine
{
    /** The short names of the daemon commands' options (the long names need no table). */
    private static final Map<String, String> SHORT_NAMES = Map.of("-O", "--backend-option");
    /** Digits only: picocli's int converter reads signs and leading zeros as it likes; those go to it. */
    private static final int MAX_INT_DIGITS = 9;
    private static final Package OWN_PACKAGE = PlainDaemonCommandLine.class.getPackage();

    private PlainDaemonCommandLine()
    {
    }

    /** The daemon command {@code name} names, new, or null if it is not a daemon command. */
    static Callable<Integer> command(final String name)
    {
        if (name == null)
        {
            return null;
        }
        switch (name)
        {
            case "server": return new ServerCommand();
            case "sink": return new SinkCommand();
            case "source": return new SourceCommand();
            case "daemon": return new DaemonCommand();
            default: return null;
        }
    }

    /** The daemon command {@code args} name with their options applied, or null if picocli must read them. */
    static Callable<Integer> read(final String[] args)
    {
        final String name = Hdmabuf.subcommandName(args);
        final Callable<Integer> command = command(name);
        if (command == null)
        {
            return null;
        }
        final Set<String> seen = new HashSet<>();
        boolean named = false;
        for (int i = 0; i < args.length; i++)
        {
            final String arg = args[i];
            if (!named && arg.equals(name))
            {
                named = true;
                continue;
            }
            // A short name only on its own: picocli also reads -Ok=v and -O=k=v, which are left to it.
            final int eq = arg.startsWith("--") ? arg.indexOf('=') : -1;
            final String option = eq < 0 ? SHORT_NAMES.getOrDefault(arg, arg) : arg.substring(0, eq);
            if (!option.startsWith("--") || option.length() == 2)
            {
                return null;
            }
            final String value;
            if (eq >= 0)
            {
                value = arg.substring(eq + 1);
            }
            else if (i + 1 < args.length)
            {
                value = args[++i];
            }
            else
            {
                return null;
            }
            if (value.isEmpty() || value.startsWith("-") || !apply(command, option, value, seen))
            {
                return null;
            }
        }
        return command;
    }

    /** Runs a command {@link #read} gave; a failure is one line naming the command, as picocli's handler prints it. */
    static int call(final String name, final Callable<Integer> command)
    {
        try
        {
            final Integer status = command.call();
            return status == null ? 0 : status;
        }
        catch (final Exception e)
        {
            System.err.println(Hdmabuf.failure("hdmabuf " + name, e));
            return 1;
        }
    }

    private static boolean apply(final Object command, final String option, final String value,
        final Set<String> seen)
    {
        if (option.equals("--log-level"))
        {
            // JournalLog applied it; a word that is not a level is picocli's error to report.
            return seen.add(option) && JournalLog.LEVELS.contains(value.toLowerCase(Locale.ROOT));
        }
        final String name = camelCase(option.substring(2));
        try
        {
            final Binding to = name == null ? null : binding(command, name);
            if (to == null)
            {
                return false;
            }
            if (!to.map())
            {
                final Object converted = convert(to.field().getType(), value);
                if (converted == null || !seen.add(name))
                {
                    return false;
                }
                to.field().set(to.target(), converted);
                return true;
            }
            final int eq = value.indexOf('=');
            if (eq <= 0)
            {
                return false;
            }
            @SuppressWarnings("unchecked")
            final Map<String, String> map = (Map<String, String>)to.field().get(to.target());
            map.put(value.substring(0, eq), value.substring(eq + 1));
            return true;
        }
        catch (final IllegalAccessException e)
        {
            return false;
        }
    }

    /** Where an option's value goes: a field of the command or of one of its mixins; {@code map}: a map option's. */
    private record Binding(Object target, Field field, boolean map)
    {
    }

    /** The field for the option {@code name} on the command, else on a mixin of it, or null. */
    private static Binding binding(final Object command, final String name) throws IllegalAccessException
    {
        final Binding own = declared(command, name);
        if (own != null)
        {
            return own;
        }
        for (final Field f : command.getClass().getDeclaredFields())
        {
            if (!Modifier.isStatic(f.getModifiers()) && f.getType().getPackage() == OWN_PACKAGE)
            {
                final Object mixin = f.get(command);
                final Binding b = mixin == null ? null : declared(mixin, name);
                if (b != null)
                {
                    return b;
                }
            }
        }
        return null;
    }

    /** {@code target}'s single-valued field {@code name}, or its map field {@code name} + "s", or null. */
    private static Binding declared(final Object target, final String name)
    {
        for (final Field f : target.getClass().getDeclaredFields())
        {
            final boolean map = f.getType() == Map.class;
            if (!Modifier.isStatic(f.getModifiers()) && f.getName().equals(map ? name + "s" : name))
            {
                return new Binding(target, f, map);
            }
        }
        return null;
    }

    /** {@code value} as picocli converts it to {@code type}, or null where it is not sure to give the same. */
    private static Object convert(final Class<?> type, final String value)
    {
        if (type == String.class)
        {
            return value;
        }
        if (type == Path.class)
        {
            try
            {
                return Path.of(value);
            }
            catch (final InvalidPathException e)
            {
                return null;
            }
        }
        if ((type == int.class || type == Integer.class) && value.length() <= MAX_INT_DIGITS &&
            value.chars().allMatch(c -> c >= '0' && c <= '9'))
        {
            return Integer.parseInt(value);
        }
        return null;
    }

    /** {@code max-peers}: {@code maxPeers}; null for a name that is not lower-case words joined by dashes. */
    private static String camelCase(final String dashed)
    {
        final StringBuilder b = new StringBuilder(dashed.length());
        boolean upper = false;
        for (int i = 0; i < dashed.length(); i++)
        {
            final char c = dashed.charAt(i);
            if (c == '-')
            {
                if (upper || i == 0)
                {
                    return null;
                }
                upper = true;
            }
            else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
            {
                b.append(upper ? Character.toUpperCase(c) : c);
                upper = false;
            }
            else
            {
                return null;
            }
        }
        return upper ? null : b.toString();
    }
}
