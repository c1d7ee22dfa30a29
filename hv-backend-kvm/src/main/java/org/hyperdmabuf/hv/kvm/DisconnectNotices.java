package org.hyperdmabuf.hv.kvm;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The ivshmem server's disconnect notices, confirmed against the peer's heartbeat before the peer is declared
 * gone (ABI.md "ivshmem specifics", Liveness). A notice is not proof of death: QEMU's {@code ivshmem-server}
 * announces every peer as disconnected when it shuts down gracefully, while the peers live on. So a notice
 * only starts a confirmation window for the session it names:
 * <ul>
 *   <li>the heartbeat moves after the notice: the peer lives; the notice is dropped and the peer stays up;</li>
 *   <li>the heartbeat does not move for the whole window: the notice is confirmed and the peer is gone.</li>
 * </ul>
 * The window is half the observer's liveness timeout plus one scan: the longest heartbeat interval a peer may
 * have (ABI.md "Heartbeat and timeout"), so a live peer always beats within it, and a killed one is still
 * declared gone well before the liveness timeout. A slot that stops being active ({@code state = gone}, a new
 * session) needs no notice at all. Receive thread only.
 */
final class DisconnectNotices
{
    private static final Logger LOG = LoggerFactory.getLogger(DisconnectNotices.class);

    private final long windowNs;
    /** Per peer id: the session a pending notice names (0: none), the heartbeat then, and when it came. */
    private final long[] session;
    private final long[] beat;
    private final long[] since;

    DisconnectNotices(final int peers, final long livenessTimeoutNs, final long scanIntervalNs)
    {
        this.windowNs = livenessTimeoutNs / 2 + scanIntervalNs;
        this.session = new long[peers];
        this.beat = new long[peers];
        this.since = new long[peers];
    }

    long windowNs()
    {
        return windowNs;
    }

    /** The server says {@code peer}, known to us as {@code peerSession}, disconnected; its slot shows {@code slotBeat}. */
    void notice(final int peer, final long peerSession, final long slotBeat, final long now)
    {
        if (peer < 0 || peer >= session.length || session[peer] == peerSession)
        {
            return; // a repeated notice does not restart the window
        }
        session[peer] = peerSession;
        beat[peer] = slotBeat;
        since[peer] = now;
        LOG.info("peer {} session {}: the ivshmem server announced it disconnected; gone unless its heartbeat " +
            "moves within {} ms", peer, Long.toHexString(peerSession), windowNs / 1_000_000L);
    }

    /**
     * Whether a notice for {@code peer}'s session {@code peerSession} stands confirmed: its heartbeat, now
     * {@code slotBeat}, has not moved for the window. A moving heartbeat drops the notice.
     */
    boolean confirmed(final int peer, final long peerSession, final long slotBeat, final long now)
    {
        if (peer < 0 || peer >= session.length || session[peer] == 0)
        {
            return false;
        }
        if (session[peer] != peerSession)
        {
            session[peer] = 0; // the notice was for an earlier session, which is handled as a restart
            return false;
        }
        if (slotBeat != beat[peer])
        {
            LOG.info("peer {} session {}: heartbeat moves after the server's disconnect notice (the server stopped?); " +
                "it stays up", peer, Long.toHexString(peerSession));
            session[peer] = 0;
            return false;
        }
        if (now - since[peer] < windowNs)
        {
            return false;
        }
        session[peer] = 0;
        return true;
    }

    /** Time in which the observer did not run does not count toward a window (see {@code ObserverStall}). */
    void discount(final long gapNs)
    {
        for (int i = 0; i < since.length; i++)
        {
            since[i] += gapNs;
        }
    }
}
