package org.hyperdmabuf.tests.e2e;

import org.hyperdmabuf.abi.UEvent;
import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.abi.v1.Match;
import org.hyperdmabuf.abi.v1.MatchRule;
import org.hyperdmabuf.client.HdmabufClient;
import org.hyperdmabuf.client.HdmabufException;
import org.hyperdmabuf.client.ReceivedEvent;
import org.hyperdmabuf.tests.support.Await;
import org.junit.jupiter.api.function.Executable;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.LongBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.fail;

/** Helpers shared by the end-to-end tests. */
final class E2e
{
    /** Bound on any single wait for an event or a state change (generous: CI has 2 cores and many JVMs). */
    static final Duration TIMEOUT = Duration.ofSeconds(20);

    private E2e()
    {
    }

    /** A short run directory (socket paths must stay below 108 bytes); remove it with {@link #deleteTree}. */
    static Path shortTempDir() throws IOException
    {
        return Files.createTempDirectory(Path.of("/tmp"), "hd");
    }

    static void deleteTree(final Path dir) throws IOException
    {
        if (dir == null || !Files.exists(dir))
        {
            return;
        }
        try (Stream<Path> files = Files.walk(dir))
        {
            files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }

    /** The next event within {@link #TIMEOUT}; fails on timeout or on an overflow marker. */
    static UEvent nextEvent(final HdmabufClient client) throws IOException, InterruptedException
    {
        final ReceivedEvent e = client.nextEvent(TIMEOUT);
        assertNotNull(e, "no event within " + TIMEOUT);
        assertFalse(e.isOverflow(), "overflow marker: " + e.overflowDropped() + " events dropped");
        return e.event();
    }

    /** The next event, which must have {@code action} for {@code bufferId}. */
    static UEvent nextEvent(final HdmabufClient client, final String action, final String bufferId)
        throws IOException, InterruptedException
    {
        final UEvent e = nextEvent(client);
        if (!action.equals(e.action()) || !bufferId.equals(e.get("BUFFER")))
        {
            fail("expected " + action + " of " + bufferId + ", got " + e.properties());
        }
        return e;
    }

    /**
     * Skips events until one has {@code action} for {@code bufferId} and, if {@code state} is not null,
     * STATE={@code state} (sink-side change events); fails after {@link #TIMEOUT}.
     */
    static UEvent awaitEvent(final HdmabufClient client, final String action, final String bufferId,
        final String state) throws IOException, InterruptedException
    {
        final long deadline = System.nanoTime() + TIMEOUT.toNanos();
        while (true)
        {
            final long left = deadline - System.nanoTime();
            final ReceivedEvent e = left > 0 ? client.nextEvent(Duration.ofNanos(left)) : null;
            assertNotNull(e, "no " + action + " " + (state == null ? "" : "STATE=" + state + " ") + "of " + bufferId +
                " within " + TIMEOUT);
            if (!e.isOverflow() && action.equals(e.event().action()) && bufferId.equals(e.event().get("BUFFER")) &&
                (state == null || state.equals(e.event().get("STATE"))))
            {
                return e.event();
            }
        }
    }

    /** One rule of {@code KEY=GLOB} / {@code KEY!=GLOB} matches that must all hold. */
    static MatchRule rule(final String... matches)
    {
        final MatchRule.Builder r = MatchRule.newBuilder();
        for (final String m : matches)
        {
            final int ne = m.indexOf("!=");
            final int eq = m.indexOf('=');
            final boolean negate = ne > 0 && ne < eq;
            r.addMatches(Match.newBuilder().setKey(m.substring(0, negate ? ne : eq)).setGlob(m.substring(eq + 1))
                .setNegate(negate));
        }
        return r.build();
    }

    /** The error code {@code call} fails with (it must fail with an {@link HdmabufException}). */
    static ErrorCode errorOf(final Executable call)
    {
        return assertThrows(HdmabufException.class, call).code();
    }

    static long poolFree(final HdmabufClient sink) throws IOException
    {
        return sink.caps().getPoolFreeBytes();
    }

    /** Waits until the sink's pool has exactly {@code expected} free bytes. */
    static void awaitPoolFree(final HdmabufClient sink, final long expected) throws Exception
    {
        try
        {
            Await.until("pool free bytes == " + expected, TIMEOUT, () -> poolFree(sink) == expected);
        }
        catch (final AssertionError e)
        {
            throw new AssertionError(e.getMessage() + " (now " + poolFree(sink) + ")", e);
        }
    }

    /** Little-endian long view of a mapping (absolute indexing). */
    static LongBuffer longs(final ByteBuffer bytes)
    {
        return bytes.duplicate().order(ByteOrder.LITTLE_ENDIAN).asLongBuffer();
    }

    /** Word {@code i} of test pattern {@code seed}: distinct per index and seed (splitmix64). */
    static long pattern(final long seed, final long i)
    {
        long z = seed * 0x9E3779B97F4A7C15L + i;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    static void fill(final ByteBuffer bytes, final long seed)
    {
        final LongBuffer l = longs(bytes);
        for (int i = 0; i < l.limit(); i++)
        {
            l.put(i, pattern(seed, i));
        }
    }

    /** Index of the first word that differs from pattern {@code seed}, or -1 if all match. */
    static int firstMismatch(final ByteBuffer bytes, final long seed)
    {
        final LongBuffer l = longs(bytes);
        for (int i = 0; i < l.limit(); i++)
        {
            if (l.get(i) != pattern(seed, i))
            {
                return i;
            }
        }
        return -1;
    }
}
