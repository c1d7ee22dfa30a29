package org.hyperdmabuf.hv.xen.store;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/** One xenstore message ({@code struct xsd_sockmsg} header fields plus payload); immutable (control path: copies are cheap). */
public record XsMessage(int type, int reqId, int txId, byte[] payload)
{
    public XsMessage
    {
        payload = payload.clone();
    }

    /** A copy of the payload. */
    @Override
    public byte[] payload()
    {
        return payload.clone();
    }

    /** Payload of NUL-terminated strings, e.g. {@code path\0token\0}. */
    public static byte[] strings(final String... parts)
    {
        final StringBuilder sb = new StringBuilder();
        for (final String part : parts)
        {
            sb.append(part).append('\0');
        }
        return sb.toString().getBytes(StandardCharsets.UTF_8);
    }

    /** {@code path\0value}: WRITE's value has no trailing NUL. */
    public static byte[] pathAndValue(final String path, final byte[] value)
    {
        final byte[] p = path.getBytes(StandardCharsets.UTF_8);
        final byte[] out = new byte[p.length + 1 + value.length];
        System.arraycopy(p, 0, out, 0, p.length);
        System.arraycopy(value, 0, out, p.length + 1, value.length);
        return out;
    }

    /** The payload split at NULs; a trailing NUL does not make an empty last element. */
    public List<String> split()
    {
        final List<String> out = new ArrayList<>();
        int start = 0;
        for (int i = 0; i < payload.length; i++)
        {
            if (payload[i] == 0)
            {
                out.add(new String(payload, start, i - start, StandardCharsets.UTF_8));
                start = i + 1;
            }
        }
        if (start < payload.length)
        {
            out.add(new String(payload, start, payload.length - start, StandardCharsets.UTF_8));
        }
        return out;
    }

    /** The payload as one string without a trailing NUL. */
    public String text()
    {
        int len = payload.length;
        while (len > 0 && payload[len - 1] == 0)
        {
            len--;
        }
        return new String(payload, 0, len, StandardCharsets.UTF_8);
    }
}
