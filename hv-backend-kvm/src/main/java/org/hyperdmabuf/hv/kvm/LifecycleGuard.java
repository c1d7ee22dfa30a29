package org.hyperdmabuf.hv.kvm;

import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.hv.spi.BackendException;

import java.io.IOException;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * Keeps the backend's operations and receive passes off the region while it is unmapped: they run under the read
 * lock and only while the backend is started and not closed; releasing the region takes the write lock.
 */
final class LifecycleGuard
{
    private final String name;
    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
    private volatile boolean started;
    private volatile boolean closed;

    LifecycleGuard(final String name)
    {
        this.name = name;
    }

    boolean started()
    {
        return started;
    }

    boolean closed()
    {
        return closed;
    }

    void started(final boolean value)
    {
        started = value;
    }

    /** Marks the backend closed; false if it already was. */
    boolean close()
    {
        if (closed)
        {
            return false;
        }
        closed = true;
        return true;
    }

    /** Whether the calling thread is inside a guarded operation or pass (a listener callback may close). */
    boolean heldByCaller()
    {
        return lock.getReadHoldCount() > 0;
    }

    /** Runs {@code call} while the backend is started; releasing waits for it. */
    <T> T guarded(final Guarded<T> call) throws BackendException
    {
        lock.readLock().lock();
        try
        {
            if (!started || closed)
            {
                throw new BackendException(ErrorCode.EIO, name + " backend is " + (closed ? "closed" : "not started"));
            }
            return call.run();
        }
        finally
        {
            lock.readLock().unlock();
        }
    }

    void guardedRun(final GuardedAction action) throws BackendException
    {
        guarded(() ->
        {
            action.run();
            return null;
        });
    }

    /** Runs {@code pass} under the read lock if the backend is still open; false if it did not run. */
    boolean readLocked(final Pass pass) throws IOException
    {
        lock.readLock().lock();
        try
        {
            return !closed && pass.run();
        }
        finally
        {
            lock.readLock().unlock();
        }
    }

    /** Runs {@code release} once no operation or pass is inside; the backend is closed after it. */
    void release(final Runnable release)
    {
        lock.writeLock().lock();
        try
        {
            release.run();
            closed = true;
            started = false;
        }
        finally
        {
            lock.writeLock().unlock();
        }
    }

    @FunctionalInterface
    interface Guarded<T>
    {
        T run() throws BackendException;
    }

    @FunctionalInterface
    interface Pass
    {
        boolean run() throws IOException;
    }

    @FunctionalInterface
    interface GuardedAction
    {
        void run() throws BackendException;
    }
}
