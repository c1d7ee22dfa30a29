package org.hyperdmabuf.abi;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A kernel-uevent-shaped record (ABI.md "Events"): {@code ACTION@DEVPATH\0KEY=VALUE\0...\0}, properties in
 * a fixed order starting with ACTION, DEVPATH, SUBSYSTEM and SEQNUM. Keys are upper-case
 * {@code [A-Z0-9_]}; values are UTF-8 without NUL or newline.
 */
public final class UEvent
{
    public static final String ACTION = "ACTION";
    public static final String DEVPATH = "DEVPATH";
    public static final String SUBSYSTEM = "SUBSYSTEM";
    public static final String SEQNUM = "SEQNUM";
    public static final String SUBSYSTEM_NAME = "hyperdmabuf";

    private final Map<String, String> properties;

    private UEvent(final Map<String, String> properties)
    {
        this.properties = Collections.unmodifiableMap(properties);
    }

    public static Builder builder(final String action, final String devpath, final long seqnum)
    {
        return new Builder(action, devpath, seqnum);
    }

    public String action()
    {
        return properties.get(ACTION);
    }

    public String devpath()
    {
        return properties.get(DEVPATH);
    }

    public String get(final String key)
    {
        return properties.get(key);
    }

    /** All properties in record order. */
    public Map<String, String> properties()
    {
        return properties;
    }

    public byte[] encode()
    {
        final ByteArrayOutputStream out = new ByteArrayOutputStream(256);
        out.writeBytes((action() + "@" + devpath()).getBytes(StandardCharsets.UTF_8));
        out.write(0);
        for (final Map.Entry<String, String> e : properties.entrySet())
        {
            out.writeBytes((e.getKey() + "=" + e.getValue()).getBytes(StandardCharsets.UTF_8));
            out.write(0);
        }
        return out.toByteArray();
    }

    /** Parses a record; IllegalArgumentException when it is not well-formed. */
    public static UEvent decode(final byte[] record)
    {
        final String text = new String(record, StandardCharsets.UTF_8);
        final String[] fields = text.split("\0");
        if (fields.length < 2 || !fields[0].contains("@"))
        {
            throw new IllegalArgumentException("uevent record lacks an ACTION@DEVPATH header");
        }
        final Map<String, String> props = new LinkedHashMap<>();
        for (int i = 1; i < fields.length; i++)
        {
            final int eq = fields[i].indexOf('=');
            if (eq <= 0)
            {
                throw new IllegalArgumentException("uevent property without '=': " + fields[i]);
            }
            props.put(fields[i].substring(0, eq), fields[i].substring(eq + 1));
        }
        final String header = fields[0];
        if (!header.equals(props.get(ACTION) + "@" + props.get(DEVPATH)))
        {
            throw new IllegalArgumentException("uevent header " + header + " does not match ACTION/DEVPATH");
        }
        return new UEvent(props);
    }

    /** Builds a record; keys are checked so no event can break the format. */
    public static final class Builder
    {
        private final Map<String, String> props = new LinkedHashMap<>();

        private Builder(final String action, final String devpath, final long seqnum)
        {
            props.put(ACTION, action);
            props.put(DEVPATH, devpath);
            props.put(SUBSYSTEM, SUBSYSTEM_NAME);
            props.put(SEQNUM, Long.toString(seqnum));
        }

        public Builder put(final String key, final String value)
        {
            if (key.isEmpty() || !key.chars().allMatch(c -> (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
            {
                throw new IllegalArgumentException("uevent key must match [A-Z0-9_]+: " + key);
            }
            if (value.indexOf('\0') >= 0 || value.indexOf('\n') >= 0)
            {
                throw new IllegalArgumentException("uevent value for " + key + " contains NUL or newline");
            }
            props.put(key, value);
            return this;
        }

        public Builder put(final String key, final long value)
        {
            return put(key, Long.toString(value));
        }

        public UEvent build()
        {
            return new UEvent(new LinkedHashMap<>(props));
        }
    }
}
