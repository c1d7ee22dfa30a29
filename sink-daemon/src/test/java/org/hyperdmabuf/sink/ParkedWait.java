package org.hyperdmabuf.sink;

import org.hyperdmabuf.hv.conformance.Await;
import org.hyperdmabuf.hv.inmemory.InMemoryBackend;
import org.hyperdmabuf.hv.shm.FenceSlotDescriptor;

import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * A fence wait run on a thread of its own, and known to be parked in its daemon: the daemon raised the
 * timeline's {@code waiters} word (ABI.md "Fences"), which the test reads in the shared fence slot.
 */
final class ParkedWait<T> implements AutoCloseable
{
    private final ExecutorService thread = Executors.newSingleThreadExecutor();
    private final Future<T> result;

    private ParkedWait(final Callable<T> wait)
    {
        this.result = thread.submit(wait);
    }

    /** Starts {@code wait} and returns once a wait is parked on the acquire ({@code acquire}) or release timeline. */
    static <T> ParkedWait<T> start(final Callable<T> wait, final InMemoryBackend backend, final long fenceOffset,
        final boolean acquire)
    {
        final ParkedWait<T> w = new ParkedWait<>(wait);
        final int waiters = acquire ? FenceSlotDescriptor.ACQUIRE_WAITERS_OFFSET :
            FenceSlotDescriptor.RELEASE_WAITERS_OFFSET;
        Await.until(() -> w.result.isDone() || backend.fenceSlotAt(fenceOffset).getIntVolatile(waiters) > 0,
            TwoVms.TIMEOUT, () -> "a wait parked in the daemon");
        if (w.result.isDone())
        {
            w.close();
            fail("the wait ended before it was parked: " + w.outcome());
        }
        return w;
    }

    /** What the wait returned, or the exception it ended with. */
    Object outcome()
    {
        try
        {
            return result.get(TwoVms.TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        }
        catch (final InterruptedException e)
        {
            Thread.currentThread().interrupt();
            return fail("interrupted waiting for the wait's outcome");
        }
        catch (final ExecutionException e)
        {
            return e.getCause();
        }
        catch (final java.util.concurrent.TimeoutException e)
        {
            return fail("the wait did not end within " + TwoVms.TIMEOUT.toMillis() + " ms");
        }
    }

    @Override
    public void close()
    {
        thread.shutdownNow();
    }
}
