package org.hyperdmabuf.bench;

import org.hyperdmabuf.abi.FenceAbi;
import org.hyperdmabuf.abi.v1.Timeline;
import org.hyperdmabuf.daemon.ApiException;
import org.hyperdmabuf.daemon.FenceTimeline;
import org.hyperdmabuf.hv.shm.FenceSlotDescriptor;
import org.hyperdmabuf.hv.shm.MemoryWindow;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.util.concurrent.TimeUnit;

/**
 * Fence signal + await on one thread, over one fence slot in a direct buffer (no daemon, no second side):
 * the per-operation cost of the fence fast path and whether it allocates (run with {@code -prof gc}).
 * <ul>
 * <li>{@link #clientSignalAwait}: the same MemoryWindow operations, in the same order, as
 * {@code org.hyperdmabuf.client.Fence.signal} (acquire read of the current value, the error word stored only
 * when it changes, release value store, full fence, volatile reads of the waiters and wake words) and the spin
 * path of
 * {@code Fence.await} (acquire read of the value, volatile read of the error word, poison check). A real
 * {@code Fence} needs a daemon connection, so its code path is reproduced here.</li>
 * <li>{@link #timelineSignalValue}: daemon-core's {@link FenceTimeline#signal} + {@link FenceTimeline#value}
 * + {@link FenceTimeline#hasWaiters} (what a daemon does on FENCE_SIGNAL).</li>
 * </ul>
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class FenceBenchmark
{

    private MemoryWindow slot;
    private FenceTimeline acquire;
    private long next;
    private int lastError;

    @Setup
    public void setup()
    {
        slot = new MemoryWindow(ByteBuffer.allocateDirect(FenceSlotDescriptor.SLOT_LENGTH));
        acquire = FenceTimeline.of(slot, Timeline.TIMELINE_ACQUIRE);
        next = 0;
    }

    @Benchmark
    public long clientSignalAwait()
    {
        final long value = ++next;
        // Fence.signal (canStore path)
        final long current = slot.getLongAcquire(FenceSlotDescriptor.ACQUIRE_VALUE_OFFSET);
        if (value < current)
        {
            throw new IllegalStateException("backwards");
        }
        if (slot.getInt(FenceSlotDescriptor.ACQUIRE_ERROR_OFFSET) != 0)
        {
            slot.putIntRelease(FenceSlotDescriptor.ACQUIRE_ERROR_OFFSET, 0);
        }
        slot.putLongRelease(FenceSlotDescriptor.ACQUIRE_VALUE_OFFSET, value);
        VarHandle.fullFence();
        if ((slot.getIntVolatile(FenceSlotDescriptor.ACQUIRE_WAITERS_OFFSET) |
            slot.getIntVolatile(FenceSlotDescriptor.ACQUIRE_WAKE_OFFSET)) != 0)
        {
            throw new IllegalStateException("no waiters expected");
        }
        // Fence.await, spin path, first probe succeeds
        final long seen = slot.getLongAcquire(FenceSlotDescriptor.ACQUIRE_VALUE_OFFSET);
        if (seen >= value)
        {
            lastError = slot.getIntVolatile(FenceSlotDescriptor.ACQUIRE_ERROR_OFFSET);
            if (seen == FenceAbi.POISON_VALUE)
            {
                throw new IllegalStateException("poisoned");
            }
            return seen + lastError;
        }
        throw new IllegalStateException("not reached");
    }

    @Benchmark
    public long timelineSignalValue() throws ApiException
    {
        final long value = ++next;
        acquire.signal(value, 0);
        if (acquire.hasWaiters())
        {
            throw new IllegalStateException("no waiters expected");
        }
        return acquire.value() + acquire.error();
    }
}
