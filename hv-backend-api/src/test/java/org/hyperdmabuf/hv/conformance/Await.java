package org.hyperdmabuf.hv.conformance;

import java.time.Duration;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.fail;

/** Deadline-bounded waiting for conditions that have no notification to wait on. */
public final class Await
{
    private Await()
    {
    }

    /** Re-checks {@code condition} with a short back-off until it holds; fails with {@code what} at the deadline. */
    public static void until(final BooleanSupplier condition, final Duration timeout, final Supplier<String> what)
    {
        final long deadline = System.nanoTime() + timeout.toNanos();
        long backoffNs = 10_000;
        while (!condition.getAsBoolean())
        {
            if (System.nanoTime() - deadline > 0)
            {
                fail("timed out after " + timeout.toMillis() + " ms waiting for " + what.get());
            }
            LockSupport.parkNanos(backoffNs);
            backoffNs = Math.min(backoffNs * 2, 1_000_000);
        }
    }
}
