package org.hyperdmabuf.hv.kvm;

import org.hyperdmabuf.hv.spi.BackendListener;
import org.hyperdmabuf.hv.spi.PeerInfo;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * A backend (host or guest mode) in its own process, for tests that stop or kill a whole "VM" (SIGSTOP, SIGKILL).
 * Arguments are backend options as {@code key=value}. Prints {@code READY <vm> <session-hex>} once joined,
 * then runs until its stdin ends, and leaves the region cleanly.
 */
public final class PeerProcess
{
    private PeerProcess()
    {
    }

    /** A started peer process: its id and session as it printed them. */
    record Child(Process process, int vm, long session)
    {
    }

    /** Starts a peer process with backend {@code options} and waits for its READY line. */
    static Child spawn(final Map<String, String> options) throws Exception
    {
        final List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java")
            .toString(), "-Xmx64m", "-XX:TieredStopAtLevel=1", "-cp", System.getProperty("java.class.path"),
            PeerProcess.class.getName()));
        options.forEach((k, v) -> cmd.add(k + "=" + v));
        final Process process = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        final BufferedReader out = new BufferedReader(new InputStreamReader(process.getInputStream(),
            StandardCharsets.UTF_8));
        final String line;
        try
        {
            line = CompletableFuture.supplyAsync(() ->
            {
                try
                {
                    return out.readLine();
                }
                catch (final IOException e)
                {
                    throw new UncheckedIOException(e);
                }
            }).get(30, TimeUnit.SECONDS);
        }
        catch (final Exception e)
        {
            process.destroyForcibly();
            throw e;
        }
        if (line == null || !line.startsWith("READY "))
        {
            process.destroyForcibly();
            fail("peer process did not start: " + line);
        }
        final String[] parts = line.split(" ");
        return new Child(process, Integer.parseInt(parts[1]), Long.parseUnsignedLong(parts[2], 16));
    }

    public static void main(final String[] args) throws Exception
    {
        final Map<String, String> options = new HashMap<>();
        for (final String arg : args)
        {
            final int eq = arg.indexOf('=');
            options.put(arg.substring(0, eq), arg.substring(eq + 1));
        }
        final IvshmemBackend backend = new IvshmemBackend(options);
        backend.start(new BackendListener()
        {
            @Override
            public void onPeerUp(final PeerInfo peer)
            {
            }

            @Override
            public void onPeerDown(final int vm, final long sessionId, final String reason)
            {
            }

            @Override
            public void onMessage(final int vm, final ByteBuffer payload, final int length)
            {
            }
        });
        System.out.println("READY " + backend.localVm() + " " + Long.toHexString(backend.sessionId()));
        System.out.flush();
        try
        {
            while (System.in.read() >= 0)
            {
                // run until the parent closes our stdin (or dies)
            }
        }
        catch (final IOException e)
        {
            // the parent is gone
        }
        backend.close();
    }
}
