package org.hyperdmabuf.hv.spi;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.HashMap;
import java.util.Map;

/**
 * Heartbeat liveness and session bookkeeping shared by the backends (ABI.md "Liveness", "Resync"), judged on the
 * observer's clock: our own heartbeat's schedule, each peer's last heartbeat and when it last moved, the sessions
 * reported down (never brought up again), and the rate bound on starting a new session of ours after a peer
 * declared the current one down. Time in which the observer itself did not run ({@link ObserverStall}) is not
 * counted against the peers. Confined to the one thread that scans (the receive or pass thread); only
 * {@link #nextBeat()} may run on a thread of its own, when nothing else on it beats.
 */
public final class PeerLiveness
{
    private static final Logger LOG = LoggerFactory.getLogger(PeerLiveness.class);
    private static final Path URANDOM = Path.of("/dev/urandom");

    private final String owner;
    private final long heartbeatNs;
    private final long timeoutNs;
    private final ObserverStall stall;
    private final Map<Integer, Watch> watches = new HashMap<>();
    private long beat = 1;
    private long nextBeatNs;
    private long lastResyncNs;

    /** {@code owner} names the observer in log lines. */
    public PeerLiveness(final String owner, final long heartbeatNs, final long timeoutNs)
    {
        this.owner = owner;
        this.heartbeatNs = heartbeatNs;
        this.timeoutNs = timeoutNs;
        this.stall = new ObserverStall(timeoutNs);
    }

    /**
     * A random session id, never 0 (0 means "no session" in slots, channels and xenstore). Read from the kernel's
     * random source: an id tells a restart from the session before it and guards nothing, and the JDK's SecureRandom
     * sets up its security providers first, about 20 ms of a daemon's start-up (a SecureRandom where the file cannot
     * be read).
     */
    public static long newSessionId()
    {
        long session;
        do
        {
            session = randomLong();
        }
        while (session == 0);
        return session;
    }

    private static long randomLong()
    {
        try (InputStream in = Files.newInputStream(URANDOM))
        {
            final byte[] b = in.readNBytes(Long.BYTES);
            if (b.length == Long.BYTES)
            {
                return ByteBuffer.wrap(b).getLong();
            }
        }
        catch (final IOException e)
        {
            // below
        }
        return FallbackRandom.RANDOM.nextLong();
    }

    /** Made only where /dev/urandom cannot be read. */
    private static final class FallbackRandom
    {
        static final SecureRandom RANDOM = new SecureRandom();
    }

    public long heartbeatNs()
    {
        return heartbeatNs;
    }

    public long timeoutNs()
    {
        return timeoutNs;
    }

    // ---- our heartbeat ----

    /** Starts the heartbeat schedule: the first beat is due one interval after {@code now}. */
    public void startBeating(final long now)
    {
        nextBeatNs = now + heartbeatNs;
    }

    /** The value to publish when our heartbeat is due at {@code now} (and the next one scheduled), else 0. */
    public long beatIfDue(final long now)
    {
        if (now - nextBeatNs < 0)
        {
            return 0;
        }
        nextBeatNs = now + heartbeatNs;
        return ++beat;
    }

    /** The next value of our heartbeat, for a thread that beats on its own schedule. */
    public long nextBeat()
    {
        return ++beat;
    }

    /** Nanoseconds from {@code now} until our next beat is due (negative: overdue). */
    public long untilBeat(final long now)
    {
        return nextBeatNs - now;
    }

    // ---- the peers' heartbeats ----

    /**
     * Discounts our own stall before a scan at {@code now}: the time we did not run moves every peer's "last moved"
     * forward. Returns that time (0: no stall).
     */
    public long discountStall(final long now)
    {
        final long gap = stall.unwatched(now);
        if (gap > 0)
        {
            for (final Watch w : watches.values())
            {
                w.movedAt += gap;
            }
        }
        return gap;
    }

    /** Records what {@code peer}'s heartbeat reads at {@code now}; a new session starts a new watch. */
    public void observe(final int peer, final long session, final long beatValue, final long now)
    {
        final Watch w = watch(peer);
        if (session != w.session)
        {
            w.session = session;
            w.beat = beatValue;
            w.movedAt = now;
            w.timedOut = false;
            w.resumeLogged = false;
        }
        else if (beatValue != w.beat)
        {
            w.beat = beatValue;
            w.movedAt = now;
            if (w.timedOut && session == w.deadSession && !w.resumeLogged)
            {
                w.resumeLogged = true;
                LOG.warn("{}: peer {} session {}: heartbeat moves again after it was declared down; it is told so " +
                    "and comes back when it rejoins with a new session", owner, peer, Long.toHexString(session));
            }
        }
    }

    /** Watches {@code peer}'s {@code session} afresh from {@code now} (a channel to it was just made). */
    public void restart(final int peer, final long session, final long beatValue, final long now)
    {
        final Watch w = watch(peer);
        w.session = session;
        w.beat = beatValue;
        w.movedAt = now;
        w.timedOut = false;
        w.resumeLogged = false;
    }

    /** How long {@code peer}'s heartbeat has stood still at {@code now}. */
    public long stillFor(final int peer, final long now)
    {
        return now - watch(peer).movedAt;
    }

    /** Whether {@code peer}'s heartbeat has stood still for longer than the timeout at {@code now}. */
    public boolean stale(final int peer, final long now)
    {
        return stillFor(peer, now) > timeoutNs;
    }

    /** {@code peer}'s {@code session} was declared down for a still heartbeat. */
    public void timedOut(final int peer, final long session)
    {
        final Watch w = watch(peer);
        w.timedOut = true;
        w.deadSession = session;
    }

    /** {@code peer}'s {@code session} was reported down: it is never brought up again. */
    public void dead(final int peer, final long session)
    {
        watch(peer).deadSession = session;
    }

    /** Whether {@code session} of {@code peer} was reported down. */
    public boolean isDead(final int peer, final long session)
    {
        final Watch w = watches.get(peer);
        return w != null && w.deadSession == session;
    }

    // ---- resync ----

    /**
     * Whether a new session of ours may start at {@code now}: at most once per liveness timeout since the last
     * ({@link #resyncing}), so a peer that keeps naming our session as dropped cannot keep us resyncing.
     */
    public boolean mayResync(final long now)
    {
        return lastResyncNs == 0 || now - lastResyncNs >= timeoutNs;
    }

    /** A new session of ours starts at {@code now}. */
    public void resyncing(final long now)
    {
        lastResyncNs = now;
    }

    private Watch watch(final int peer)
    {
        return watches.computeIfAbsent(peer, p -> new Watch());
    }

    /** One peer's heartbeat as we watch it. */
    private static final class Watch
    {
        long session;
        long beat;
        long movedAt;
        /** The last session reported down: never brought up again. */
        long deadSession;
        boolean timedOut;
        boolean resumeLogged;
    }
}
