package org.hyperdmabuf.hv.shm;

import java.util.concurrent.locks.LockSupport;

/**
 * What a polling loop does when a pass found no work (Agrona's {@code BackoffIdleStrategy}): spin a few
 * passes, then yield, then park for a time that doubles from {@code minParkNs} up to {@code maxParkNs}. Any
 * pass with work goes back to spinning. Latency when busy is a spin; the cost when idle is one pass per
 * {@code maxParkNs}. Not thread-safe: one instance per polling thread.
 */
public final class BackoffIdleStrategy
{
    private final int maxSpins;
    private final int maxYields;
    private final long minParkNs;
    private final long maxParkNs;
    private int spins;
    private int yields;
    private long parkNs;

    public BackoffIdleStrategy(final int maxSpins, final int maxYields, final long minParkNs, final long maxParkNs)
    {
        if (maxSpins < 0 || maxYields < 0 || minParkNs < 1 || maxParkNs < minParkNs)
        {
            throw new IllegalArgumentException("backoff spins=" + maxSpins + " yields=" + maxYields + " park=[" +
                minParkNs + ", " + maxParkNs + "] ns");
        }
        this.maxSpins = maxSpins;
        this.maxYields = maxYields;
        this.minParkNs = minParkNs;
        this.maxParkNs = maxParkNs;
        this.parkNs = minParkNs;
    }

    /** After a pass: {@code workCount > 0} resets the backoff, otherwise idles one step. */
    public void idle(final int workCount)
    {
        if (workCount > 0)
        {
            reset();
        }
        else
        {
            idle();
        }
    }

    /** One idle step. */
    public void idle()
    {
        if (spins < maxSpins)
        {
            spins++;
            Thread.onSpinWait();
        }
        else if (yields < maxYields)
        {
            yields++;
            Thread.yield();
        }
        else
        {
            LockSupport.parkNanos(parkNs);
            parkNs = Math.min(parkNs << 1, maxParkNs);
        }
    }

    public void reset()
    {
        spins = 0;
        yields = 0;
        parkNs = minParkNs;
    }

    /** The park time the next parking step will use (for tests and diagnostics). */
    public long nextParkNs()
    {
        return spins < maxSpins || yields < maxYields ? 0 : parkNs;
    }
}
