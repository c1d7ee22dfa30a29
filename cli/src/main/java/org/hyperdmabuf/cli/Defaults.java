package org.hyperdmabuf.cli;

import org.hyperdmabuf.hv.spi.BackendOptions;

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

    /** Parses sizes like 4096, 64K, 256M, 1G (the backends' parser, with the command line's message). */
    static long parseSize(final String text)
    {
        try
        {
            return BackendOptions.parseSize(text);
        }
        catch (final IllegalArgumentException e)
        {
            throw new IllegalArgumentException("not a size: '" + text + "' (examples: 4096, 64K, 256M, 1G)");
        }
    }
}
