package org.hyperdmabuf.cli;

import java.nio.file.Path;

/** Default paths: everything under $HDMABUF_RUNTIME_DIR, else /run/hyperdmabuf (ABI.md "Client API"). */
final class Defaults
{
    private Defaults()
    {
    }

    static Path runtimeDir()
    {
        final String dir = System.getenv("HDMABUF_RUNTIME_DIR");
        return Path.of(dir == null || dir.isEmpty() ? "/run/hyperdmabuf" : dir);
    }

    static Path sinkSocket()
    {
        return runtimeDir().resolve("sink.sock");
    }

    static Path sourceSocket()
    {
        return runtimeDir().resolve("source.sock");
    }

    static Path ivshmemSocket()
    {
        return runtimeDir().resolve("ivshmem.sock");
    }

    /** Parses sizes like 4096, 64K, 256M, 1G. */
    static long parseSize(final String text)
    {
        final String t = text.trim().toUpperCase(java.util.Locale.ROOT);
        long unit = 1;
        String digits = t;
        if (t.endsWith("K") || t.endsWith("M") || t.endsWith("G"))
        {
            unit = t.endsWith("K") ? 1L << 10 : t.endsWith("M") ? 1L << 20 : 1L << 30;
            digits = t.substring(0, t.length() - 1);
        }
        try
        {
            return Math.multiplyExact(Long.parseLong(digits), unit);
        }
        catch (final NumberFormatException | ArithmeticException e)
        {
            throw new IllegalArgumentException("not a size: '" + text + "' (examples: 4096, 64K, 256M, 1G)");
        }
    }
}
