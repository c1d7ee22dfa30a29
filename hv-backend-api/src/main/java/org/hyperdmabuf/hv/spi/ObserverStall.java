package org.hyperdmabuf.hv.spi;

/**
 * The observer's side of heartbeat liveness (ABI.md "Liveness"): time in which the observer itself did not run
 * (the host stalled, a long GC pause, a long task) is not counted against its peers, which may have stalled with
 * it. A backend calls {@link #unwatched} once per liveness scan and adds what it returns to every peer's "last
 * moved" time. One scanning thread only.
 */
public final class ObserverStall
{
    private final long thresholdNs;
    private long lastScanNs;

    /** A gap between scans longer than a third of {@code livenessTimeoutNs} counts as a stall of ours. */
    public ObserverStall(final long livenessTimeoutNs)
    {
        this.thresholdNs = livenessTimeoutNs / 3;
    }

    /** The time since the previous scan if it was a stall of ours, else 0; {@code now} is this scan's time. */
    public long unwatched(final long now)
    {
        final long gap = lastScanNs == 0 ? 0 : now - lastScanNs;
        lastScanNs = now;
        return gap > thresholdNs ? gap : 0;
    }
}
