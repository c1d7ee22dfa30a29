package org.hyperdmabuf.tests.support;

import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.locks.LockSupport;

/** Waits for a condition with a deadline (tests never sleep to synchronize). */
public final class Await
{
    /** Poll interval: leaves the 2 CI cores to the processes under test. */
    private static final long POLL_NANOS = 2_000_000L;

    private Await()
    {
    }

    /** Polls {@code condition} until true; fails with {@code what} after {@code timeout}. */
    public static void until(final String what, final Duration timeout, final Callable<Boolean> condition)
        throws Exception
    {
        final long deadline = System.nanoTime() + timeout.toNanos();
        while (!condition.call())
        {
            if (System.nanoTime() > deadline)
            {
                throw new AssertionError("timed out after " + timeout + " waiting for " + what);
            }
            LockSupport.parkNanos(POLL_NANOS);
        }
    }
}
