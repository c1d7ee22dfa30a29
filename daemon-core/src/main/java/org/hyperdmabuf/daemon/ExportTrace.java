package org.hyperdmabuf.daemon;

import org.hyperdmabuf.abi.v1.Metadata;

import java.util.Arrays;

/**
 * Where an export's latency goes, for the benchmark ({@code ./hdmabuf bench --trace-export}, bench/README.md
 * "Where the time goes"). With {@code -Dhdmabuf.trace-export=true} the sink and the source note
 * {@code System.nanoTime()} at fixed points of every export whose metadata carries the tag {@code sent} (the
 * producer's nanoTime just before its EXPORT call; the bench runs every process on one host, so the clocks
 * agree) and print the median of the last {@link #WINDOW} samples of each point, in µs after {@code sent},
 * every {@link #WINDOW} exports. Off by default: then a mark is one test of a static final flag.
 * Event-loop confined.
 */
public final class ExportTrace
{
    public static final boolean ENABLED = Boolean.getBoolean("hdmabuf.trace-export");
    static final int WINDOW = 1000;
    private static final long MAX_NS = 1_000_000_000L;

    /** The points, in the order an export passes them. */
    public enum Point
    {
        /** The sink starts handling the EXPORT request (decoded). */
        SINK_REQUEST,
        /** Checks passed, memory shared and fence slot claimed. */
        SINK_CHECKED,
        /** The announcement is in the ring and the doorbell rung. */
        SINK_ANNOUNCED,
        /** The reply is written to the producer's socket. */
        SINK_REPLIED,
        /** The source starts handling the announcement (taken from the ring and parsed). */
        SOURCE_ANNOUNCE,
        /** The source's checks passed. */
        SOURCE_CHECKED,
        /** The add event is built. */
        SOURCE_EVENT_BUILT,
        /** The add event is written to the subscribers' sockets. */
        SOURCE_PUBLISHED
    }

    private static final Point[] POINTS = Point.values();
    private static final long[][] SAMPLES = new long[POINTS.length][WINDOW];
    private static final int[] COUNT = new int[POINTS.length];

    private ExportTrace()
    {
    }

    public static void mark(final Point point, final Metadata metadata)
    {
        if (!ENABLED)
        {
            return;
        }
        final String sent = metadata.getTagsMap().get("sent");
        final long ns;
        try
        {
            ns = sent == null ? -1 : System.nanoTime() - Long.parseLong(sent);
        }
        catch (final NumberFormatException e)
        {
            return;
        }
        if (ns < 0 || ns > MAX_NS)
        {
            return; // not a timed export (the bench's untimed warm-up tags sent=0)
        }
        final int p = point.ordinal();
        SAMPLES[p][COUNT[p]++ % WINDOW] = ns;
        if ((point == Point.SINK_REPLIED || point == Point.SOURCE_PUBLISHED) && COUNT[p] % WINDOW == 0)
        {
            print();
        }
    }

    private static void print()
    {
        final StringBuilder b = new StringBuilder("EXPORT-TRACE median_us_after_sent");
        for (final Point q : POINTS)
        {
            final int n = Math.min(COUNT[q.ordinal()], WINDOW);
            if (n > 0)
            {
                final long[] s = Arrays.copyOf(SAMPLES[q.ordinal()], n);
                Arrays.sort(s);
                b.append(' ').append(q.name().toLowerCase()).append('=').append(s[n / 2] / 1000);
            }
        }
        System.out.println(b);
        System.out.flush();
    }
}
