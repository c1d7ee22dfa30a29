package org.hyperdmabuf.hv.spi;

import org.hyperdmabuf.abi.v1.ErrorCode;

import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A backend's {@code -O key=value} options, read through typed getters: numbers in a range, sizes with a K, M or
 * G suffix, booleans, choices. A bad value or an unknown key is a {@link BackendException} with {@code EINVAL}
 * whose message starts with the backend's name and names the key. The one parser of these forms for every backend
 * and the command line ({@link #parseSize}).
 */
public final class BackendOptions
{
    private final String backend;
    private final Map<String, String> options;

    public BackendOptions(final String backend, final Map<String, String> options)
    {
        this.backend = backend;
        this.options = Map.copyOf(options);
    }

    /** The backend named in messages. */
    public String backend()
    {
        return backend;
    }

    public Map<String, String> asMap()
    {
        return options;
    }

    public boolean has(final String key)
    {
        return options.containsKey(key);
    }

    /** The raw value of {@code key}, {@code defaultValue} if absent. */
    public String string(final String key, final String defaultValue)
    {
        return options.getOrDefault(key, defaultValue);
    }

    /** The raw value of {@code key}; EINVAL saying {@code what} it is when absent or empty. */
    public String required(final String key, final String what) throws BackendException
    {
        final String value = options.get(key);
        if (value == null || value.isEmpty())
        {
            throw invalid("option '" + key + "' (" + what + ") is required");
        }
        return value;
    }

    /** Refuses any key not in {@code known}; {@code where} ends the message ("" or " in guest mode"). */
    public void checkKnown(final Collection<String> known, final String where) throws BackendException
    {
        for (final String key : options.keySet())
        {
            if (!known.contains(key))
            {
                throw invalid("unknown option '" + key + "'" + where);
            }
        }
    }

    /** Option {@code key} as a number in {@code [min, max]}, {@code defaultValue} if absent. */
    public long number(final String key, final long defaultValue, final long min, final long max)
        throws BackendException
    {
        final String value = options.get(key);
        if (value == null)
        {
            return defaultValue;
        }
        final long parsed;
        try
        {
            parsed = Long.parseLong(value.trim());
        }
        catch (final NumberFormatException e)
        {
            throw invalid(key + "='" + value + "' is not a number");
        }
        if (parsed < min || parsed > max)
        {
            throw invalid(key + "=" + parsed + " outside [" + min + ", " + max + "]");
        }
        return parsed;
    }

    /** {@link #number} for values that fit an int. */
    public int integer(final String key, final int defaultValue, final int min, final int max)
        throws BackendException
    {
        return (int)number(key, defaultValue, min, max);
    }

    /** A duration in milliseconds in {@code [min, max]}, as nanoseconds. */
    public long millisAsNanos(final String key, final long defaultMs, final long minMs, final long maxMs)
        throws BackendException
    {
        return number(key, defaultMs, minMs, maxMs) * 1_000_000L;
    }

    /** Option {@code key} as a positive byte count with an optional K, M or G suffix; {@code defaultValue} if absent. */
    public long size(final String key, final long defaultValue) throws BackendException
    {
        final String value = options.get(key);
        if (value == null)
        {
            return defaultValue;
        }
        try
        {
            final long n = parseSize(value);
            if (n > 0)
            {
                return n;
            }
        }
        catch (final IllegalArgumentException e)
        {
            // the message below names the key
        }
        throw invalid(key + "='" + value + "' is not a positive size");
    }

    /** {@code true} or {@code false}, {@code defaultValue} if absent. */
    public boolean bool(final String key, final boolean defaultValue) throws BackendException
    {
        final String value = choice(key, defaultValue ? "true" : "false", List.of("true", "false"));
        return value.equals("true");
    }

    /** One of {@code allowed}, {@code defaultValue} if absent. */
    public String choice(final String key, final String defaultValue, final List<String> allowed)
        throws BackendException
    {
        final String value = options.getOrDefault(key, defaultValue);
        if (!allowed.contains(value))
        {
            throw invalid(key + "='" + value + "': expected " + String.join(" or ", allowed));
        }
        return value;
    }

    /**
     * A comma-separated list of {@code names}' keys (case-insensitive) as the OR of their values,
     * {@code defaultValue} if absent; {@code expected} says what may be given.
     */
    public int flags(final String key, final String defaultValue, final Map<String, Integer> names,
        final String expected) throws BackendException
    {
        final String value = options.getOrDefault(key, defaultValue);
        int bits = 0;
        for (final String name : value.split(","))
        {
            final Integer bit = names.get(name.trim().toLowerCase(Locale.ROOT));
            if (bit == null)
            {
                throw invalid(key + "='" + value + "': expected " + expected);
            }
            bits |= bit;
        }
        return bits;
    }

    /** EINVAL, prefixed with the backend's name. */
    public BackendException invalid(final String message)
    {
        return new BackendException(ErrorCode.EINVAL, backend + ": " + message);
    }

    /**
     * A byte count such as 4096, 64K, 256M or 1G (binary units, case-insensitive, blanks around it ignored).
     *
     * @throws IllegalArgumentException when {@code text} is no such count, is negative or overflows a long
     */
    public static long parseSize(final String text)
    {
        final String t = text.trim().toUpperCase(Locale.ROOT);
        final int shift = t.endsWith("K") ? 10 : t.endsWith("M") ? 20 : t.endsWith("G") ? 30 : 0;
        final long n = Long.parseLong(shift == 0 ? t : t.substring(0, t.length() - 1));
        if (n < 0 || n > (Long.MAX_VALUE >> shift))
        {
            throw new IllegalArgumentException("size out of range: " + text);
        }
        return n << shift;
    }
}
