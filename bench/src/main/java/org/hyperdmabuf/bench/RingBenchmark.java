package org.hyperdmabuf.bench;

import org.hyperdmabuf.hv.shm.MemoryWindow;
import org.hyperdmabuf.hv.shm.RecordDescriptor;
import org.hyperdmabuf.hv.shm.RingDescriptor;
import org.hyperdmabuf.hv.shm.RingReader;
import org.hyperdmabuf.hv.shm.RingWriter;
import org.hyperdmabuf.hv.shm.ShmCorruptionException;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

import java.nio.ByteBuffer;
import java.util.concurrent.TimeUnit;

/**
 * One offer plus one poll on the control ring, single-threaded: the per-message cost of the inter-VM
 * channel without the doorbell. Run with {@code -prof gc} to check the path allocates nothing.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class RingBenchmark
{
    @Param({"64", "1024"})
    int payload;

    private RingWriter writer;
    private RingReader reader;
    private ByteBuffer message;
    private long received;
    private final RingReader.RecordHandler handler = (type, buffer, length) -> received += length;

    @Setup
    public void setup()
    {
        final int capacity = 64 * 1024;
        final MemoryWindow ring = new MemoryWindow(ByteBuffer.allocateDirect(RingDescriptor.stride(capacity)));
        writer = new RingWriter(ring, capacity);
        reader = new RingReader(ring, capacity);
        message = ByteBuffer.allocateDirect(payload);
    }

    @Benchmark
    public long offerPoll() throws ShmCorruptionException
    {
        writer.offer(RecordDescriptor.PEER_MESSAGE_TYPE, message, 0, payload);
        reader.poll(handler, 1);
        return received;
    }
}
