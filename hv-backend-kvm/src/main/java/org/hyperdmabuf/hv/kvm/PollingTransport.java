package org.hyperdmabuf.hv.kvm;

import org.hyperdmabuf.hv.shm.BackoffIdleStrategy;
import org.hyperdmabuf.hv.spi.Capabilities;

import java.io.IOException;

/**
 * A transport without incoming notifications or announcements (a PCI device through sysfs, a shared file): the
 * receive loop polls the region with a {@link BackoffIdleStrategy}, and peers are known from the peer table and
 * their heartbeats alone. A subclass that can also be woken (a PCI device with vfio interrupts) overrides the
 * waiting methods.
 */
public abstract class PollingTransport implements IvshmemTransport
{
    private final BackoffIdleStrategy idle;

    /** Spins, yields, then parks from 1 µs doubling up to {@code maxParkNs}. */
    protected PollingTransport(final long maxParkNs)
    {
        this.idle = new BackoffIdleStrategy(100, 10, 1_000, maxParkNs);
    }

    @Override
    public String notification()
    {
        return Capabilities.NOTIFY_POLLING;
    }

    @Override
    public final boolean isPeerAttached(final int peer)
    {
        return true; // nobody announces peers here: the peer table and heartbeats decide
    }

    @Override
    public int await(final boolean busy, final long maxWaitNs) throws IOException
    {
        if (busy)
        {
            idle.reset();
        }
        else if (maxWaitNs > 0)
        {
            idle.idle();
        }
        return 0;
    }

    @Override
    public void wakeUp()
    {
        // the back-off parks for at most max-park, then the loop sees it is closed
    }
}
