package org.hyperdmabuf.daemon.policy;

import org.hyperdmabuf.daemon.IoErrors;
import org.tomlj.TomlArray;
import org.tomlj.TomlTable;

import java.nio.charset.CharacterCodingException;
import java.time.temporal.Temporal;
import java.util.Objects;

/** How policy error messages name TOML values and read failures. */
final class TomlText
{
    private TomlText()
    {
    }

    /** Why a file could not be read. */
    static String describe(final Throwable e)
    {
        return e instanceof CharacterCodingException ? "not UTF-8 text" : IoErrors.reason(e);
    }

    /** The TOML type of {@code value} with the value, as in "not an integer (3)". */
    static String typeOf(final Object value)
    {
        if (value instanceof String s)
        {
            return "a string (\"" + s + "\")";
        }
        if (value instanceof Long l)
        {
            return "an integer (" + l + ")";
        }
        if (value instanceof Double d)
        {
            return "a float (" + d + ")";
        }
        if (value instanceof Boolean b)
        {
            return "a boolean (" + b + ")";
        }
        if (value instanceof TomlArray)
        {
            return "an array";
        }
        if (value instanceof TomlTable)
        {
            return "a table";
        }
        if (value instanceof Temporal)
        {
            return "a date/time";
        }
        return Objects.toString(value);
    }
}
