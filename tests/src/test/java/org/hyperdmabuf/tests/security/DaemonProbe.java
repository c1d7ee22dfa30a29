package org.hyperdmabuf.tests.security;

import org.hyperdmabuf.cli.ChildProcess;
import org.hyperdmabuf.client.HdmabufClient;
import org.hyperdmabuf.tests.support.Await;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.stream.Stream;

/**
 * What a daemon holds, seen from outside: its open fds ({@code /proc/PID/fd}), its resident memory and its
 * free pool bytes. Tests take a baseline and await the return to it after hostile input.
 */
final class DaemonProbe
{
    static final Duration SETTLE = Duration.ofSeconds(20);

    private DaemonProbe()
    {
    }

    static int openFds(final ChildProcess daemon) throws IOException
    {
        try (Stream<Path> fds = Files.list(Path.of("/proc", Long.toString(daemon.pid()), "fd")))
        {
            return (int)fds.count();
        }
    }

    /** Resident set size in KiB ({@code VmRSS} of /proc/PID/status). */
    static long rssKib(final ChildProcess daemon) throws IOException
    {
        for (final String line : Files.readAllLines(Path.of("/proc", Long.toString(daemon.pid()), "status")))
        {
            if (line.startsWith("VmRSS:"))
            {
                return Long.parseLong(line.replaceAll("[^0-9]", ""));
            }
        }
        throw new IOException("no VmRSS for pid " + daemon.pid());
    }

    static long poolFree(final Path sinkSocket) throws IOException
    {
        try (HdmabufClient c = HdmabufClient.connect(sinkSocket))
        {
            return c.caps().getPoolFreeBytes();
        }
    }

    /** Waits until the daemon holds {@code baseline} fds again (closes after a disconnect are asynchronous). */
    static void awaitFds(final ChildProcess daemon, final int baseline, final String context) throws Exception
    {
        try
        {
            Await.until(daemon.name() + " back to " + baseline + " open fds", SETTLE, () -> openFds(daemon) <= baseline);
        }
        catch (final AssertionError e)
        {
            throw new AssertionError(context + ": " + daemon.name() + " holds " + openFds(daemon) + " fds, baseline " +
                baseline, e);
        }
    }

    /** Waits until the sink's pool has {@code baseline} free bytes again. */
    static void awaitPool(final Path sinkSocket, final long baseline, final String context) throws Exception
    {
        try
        {
            Await.until("pool free == " + baseline, SETTLE, () -> poolFree(sinkSocket) == baseline);
        }
        catch (final AssertionError e)
        {
            throw new AssertionError(context + ": pool free " + poolFree(sinkSocket) + ", baseline " + baseline, e);
        }
    }
}
