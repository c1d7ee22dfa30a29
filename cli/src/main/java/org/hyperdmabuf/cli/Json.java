package org.hyperdmabuf.cli;

import com.google.protobuf.ByteString;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.MessageOrBuilder;
import org.hyperdmabuf.abi.BufferIds;
import org.hyperdmabuf.abi.v1.BufferId;

import java.util.Base64;
import java.util.Collection;
import java.util.List;
import java.util.Map;

/**
 * One-line JSON for {@code --json}: maps, lists, strings, numbers, booleans, and protobuf messages with their
 * {@code .proto} field names (every field, defaults included, so a script sees a stable set of keys; unset
 * sub-messages and oneof members are left out; enums by name; bytes base64; a {@code BufferId} in its text form).
 * 64-bit integers are printed signed, so the quotas' "unlimited" (all ones) reads -1, as the daemons write it.
 */
final class Json
{
    private Json()
    {
    }

    static String of(final Object value)
    {
        final StringBuilder out = new StringBuilder();
        write(out, value);
        return out.toString();
    }

    private static void write(final StringBuilder out, final Object value)
    {
        if (value == null)
        {
            out.append("null");
        }
        else if (value instanceof String s)
        {
            string(out, s);
        }
        else if (value instanceof Number || value instanceof Boolean)
        {
            out.append(value);
        }
        else if (value instanceof BufferId id)
        {
            string(out, BufferIds.format(id));
        }
        else if (value instanceof MessageOrBuilder m)
        {
            message(out, m);
        }
        else if (value instanceof Map<?, ?> map)
        {
            out.append('{');
            boolean first = true;
            for (final Map.Entry<?, ?> e : map.entrySet())
            {
                first = comma(out, first);
                string(out, String.valueOf(e.getKey()));
                out.append(':');
                write(out, e.getValue());
            }
            out.append('}');
        }
        else if (value instanceof Collection<?> list)
        {
            out.append('[');
            boolean first = true;
            for (final Object item : list)
            {
                first = comma(out, first);
                write(out, item);
            }
            out.append(']');
        }
        else if (value instanceof ByteString bytes)
        {
            string(out, Base64.getEncoder().encodeToString(bytes.toByteArray()));
        }
        else if (value instanceof com.google.protobuf.Descriptors.EnumValueDescriptor e)
        {
            string(out, e.getName());
        }
        else
        {
            string(out, value.toString());
        }
    }

    private static void message(final StringBuilder out, final MessageOrBuilder m)
    {
        out.append('{');
        boolean first = true;
        for (final FieldDescriptor f : m.getDescriptorForType().getFields())
        {
            final boolean unset = f.isRepeated() ? false : f.hasPresence() && !m.hasField(f);
            if (unset)
            {
                continue;
            }
            first = comma(out, first);
            string(out, f.getName());
            out.append(':');
            if (f.isMapField())
            {
                final Map<Object, Object> entries = new java.util.LinkedHashMap<>();
                for (final Object entry : (List<?>)m.getField(f))
                {
                    final MessageOrBuilder e = (MessageOrBuilder)entry;
                    final var fields = e.getDescriptorForType().getFields();
                    entries.put(e.getField(fields.get(0)), e.getField(fields.get(1)));
                }
                write(out, entries);
            }
            else
            {
                write(out, m.getField(f));
            }
        }
        out.append('}');
    }

    private static boolean comma(final StringBuilder out, final boolean first)
    {
        if (!first)
        {
            out.append(',');
        }
        return false;
    }

    private static void string(final StringBuilder out, final String s)
    {
        out.append('"');
        for (int i = 0; i < s.length(); i++)
        {
            final char c = s.charAt(i);
            switch (c)
            {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                default ->
                {
                    if (c < 0x20)
                    {
                        out.append(String.format("\\u%04x", (int)c));
                    }
                    else
                    {
                        out.append(c);
                    }
                }
            }
        }
        out.append('"');
    }
}
