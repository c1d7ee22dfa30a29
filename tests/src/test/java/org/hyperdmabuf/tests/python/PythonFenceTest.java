package org.hyperdmabuf.tests.python;

import org.hyperdmabuf.abi.BufferIds;
import org.hyperdmabuf.abi.v1.Access;
import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.abi.v1.Exported;
import org.hyperdmabuf.abi.v1.Metadata;
import org.hyperdmabuf.client.Allocation;
import org.hyperdmabuf.client.Fence;
import org.hyperdmabuf.client.HdmabufClient;
import org.hyperdmabuf.client.HdmabufException;
import org.hyperdmabuf.tests.python.PythonSupport.Run;
import org.hyperdmabuf.tests.support.SystemTest;
import org.hyperdmabuf.tests.support.TwoVmSystem;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Fences across languages (ABI.md "Fences"): {@code examples/python/stream_consumer.py} never maps the fence page. It
 * blocks in the source daemon with FENCE_WAIT on acquire and hands each frame back with FENCE_SIGNAL on release,
 * while a Java producer on the sink "VM" stores acquire directly in its mapping of the fence slot and waits for
 * release. Frame r is the number r in the buffer's first 8 bytes (little-endian), so a frame read before its
 * acquire, or written before its release, shows up as a wrong number.
 */
// "try": Python runs are closed by try-with-resources, and stopping a process may be interrupted.
@SystemTest
@SuppressWarnings("try")
class PythonFenceTest extends PythonSystemTest
{
    private static final int BUFFER_SIZE = 4096;
    /** Bound on one script run; its own --timeout is shorter so it reports before we kill it. */
    private static final Duration RUN_TIMEOUT = Duration.ofSeconds(90);
    private static final int SCRIPT_TIMEOUT_SECONDS = 60;
    /** Bound on the producer's whole frame loop (its waits for release). */
    private static final Duration STREAM_TIMEOUT = Duration.ofSeconds(60);
    /** One blocking wait for release; between slices the producer checks the script is still running. */
    private static final Duration WAIT_SLICE = Duration.ofSeconds(1);

    PythonFenceTest()
    {
        super("hdpyf", "stream_consumer.py");
    }

    /**
     * 200 frames through one read-write buffer: the producer (blocking in the sink for release) and Python
     * (blocking in the source for acquire) alternate, every frame crossing both daemons' fence paths.
     */
    @Test
    void pythonStreamsFramesThroughDaemonFenceOperations() throws Exception
    {
        stream(system(), "application/x-fence-rw", Access.ACCESS_READ_WRITE, 200, Fence.WaitStrategy.BLOCK);
    }

    /**
     * A read-only import's fd cannot map the fence page writable, so the socket's FENCE_SIGNAL is the only way
     * to signal release. The producer waits adaptively (spin, then block).
     */
    @Test
    void readOnlyImportSignalsReleaseThroughTheSocket() throws Exception
    {
        stream(readOnlySystem(), "application/x-fence-ro", Access.ACCESS_READ_ONLY, 8, Fence.WaitStrategy.ADAPTIVE);
    }

    /**
     * The error word travels with the value: the producer signals acquire 1 with an application code (1234);
     * Python's FENCE_WAIT returns it, the script reports it and never signals release. Here the script starts
     * first and sees the buffer as a live "add" event.
     */
    @Test
    void acquireErrorWordReachesPython() throws Exception
    {
        try (HdmabufClient producer = HdmabufClient.connect(system().sinkSocket());
             Run run = startScript(system(), "application/x-fence-err", 1))
        {
            run.awaitLine("READY stream-consumer", RUN_TIMEOUT);
            try (Produced p = produce(system(), producer, "application/x-fence-err", Access.ACCESS_READ_WRITE))
            {
                p.write(1);
                p.fence.signal(1, 1234);
                assertEquals(3, run.waitFor(RUN_TIMEOUT), "script should exit 3 on a fence error:\n" + run.output());
                assertTrue(run.hasLine("IMPORTED " + p.id + " access=rw "), run.output());
                assertEquals(List.of("FENCE-ERROR 1 1234"), run.linesStartingWith("FENCE-ERROR "), run.output());
                assertEquals(List.of(), run.linesStartingWith("FRAMES "), run.output());
                assertEquals(0, p.fence.releaseValue(), "Python must not release a frame that came with an error");
            }
        }
        assertEquals(List.of(), system().errorLines(), "daemons logged errors");
    }

    // ---- helpers ----

    /** Exports first, starts the script second (it finds the buffer by replay), then runs {@code frames} frames. */
    private void stream(final TwoVmSystem daemons, final String contentType, final Access access, final int frames,
        final Fence.WaitStrategy strategy) throws Exception
    {
        try (HdmabufClient producer = HdmabufClient.connect(daemons.sinkSocket());
             Produced p = produce(daemons, producer, contentType, access);
             Run run = startScript(daemons, contentType, frames))
        {
            final long deadline = System.nanoTime() + STREAM_TIMEOUT.toNanos();
            for (int r = 1; r <= frames; r++)
            {
                // Frame r may overwrite the buffer only once Python released frame r - 1.
                final long released = awaitRelease(p.fence, r - 1, strategy, run, deadline);
                assertEquals(r - 1, released, "release ran ahead of the frames written");
                p.write(r);
                p.fence.signal(r);
            }
            assertEquals(frames, awaitRelease(p.fence, frames, strategy, run, deadline), "final release value");
            assertEquals(frames, p.fence.releaseValue());
            assertEquals(0, run.waitFor(RUN_TIMEOUT), "script failed:\n" + run.output());
            assertTrue(run.hasLine("IMPORTED " + p.id + " access=" +
                (access == Access.ACCESS_READ_ONLY ? "ro" : "rw") + " length=" + BUFFER_SIZE), run.output());
            assertEquals(List.of("FRAMES " + frames + " OK"), run.linesStartingWith("FRAMES "), run.output());
            assertEquals(List.of(), run.linesStartingWith("ERROR"), run.output());
            assertEquals(List.of(), run.linesStartingWith("FENCE-ERROR"), run.output());
        }
        assertEquals(List.of(), daemons.errorLines(), "daemons logged errors");
    }

    /**
     * Waits until release reaches {@code value} (in bounded slices, so a script that died is reported with its
     * output instead of a bare timeout); returns the value seen and checks its error word is 0.
     */
    private static long awaitRelease(final Fence fence, final long value, final Fence.WaitStrategy strategy,
        final Run run, final long deadline) throws IOException
    {
        while (true)
        {
            final long left = deadline - System.nanoTime();
            if (left <= 0)
            {
                fail("release " + value + " not reached within " + STREAM_TIMEOUT + " (at " + fence.releaseValue() +
                    "); script output:\n" + run.output());
            }
            try
            {
                final long seen = fence.await(value, Duration.ofNanos(Math.min(left, WAIT_SLICE.toNanos())), strategy);
                assertEquals(0, fence.error(), "release error word at " + seen + "; script output:\n" + run.output());
                return seen;
            }
            catch (final HdmabufException e)
            {
                if (e.code() != ErrorCode.ETIMEDOUT)
                {
                    throw e;
                }
                if (!run.isAlive() && fence.releaseValue() < value)
                {
                    fail("the script exited before releasing " + value + " (release at " + fence.releaseValue() +
                        "); output:\n" + run.output());
                }
            }
        }
    }

    /** An exported allocation and the producer's fence; closing unexports, frees and unmaps. */
    private record Produced(String id, HdmabufClient producer, Allocation allocation, Exported exported, Fence fence)
        implements AutoCloseable
    {
        /** Frame {@code r}: the number r in the first 8 bytes, little-endian (what the script checks). */
        void write(final long r)
        {
            final ByteBuffer b = allocation.buffer().bytes().duplicate().order(ByteOrder.LITTLE_ENDIAN);
            b.putLong(0, r);
        }

        @Override
        public void close() throws IOException
        {
            try
            {
                fence.close();
                producer.unexport(exported.getId());
                producer.free(allocation.handle());
            }
            finally
            {
                allocation.close();
            }
        }
    }

    private static Produced produce(final TwoVmSystem daemons, final HdmabufClient producer, final String contentType,
        final Access access) throws IOException
    {
        final Allocation a = producer.alloc(BUFFER_SIZE);
        try
        {
            final Metadata m = Metadata.newBuilder().setVersion(1).setContentType(contentType).setSize(8).build();
            final Exported e = producer.export(a.handle(), daemons.sourceVm(), m, access);
            final Fence fence = producer.fence(a, e);
            assertEquals(0, fence.acquireValue(), "a new export's acquire timeline starts at 0");
            assertEquals(0, fence.releaseValue(), "a new export's release timeline starts at 0");
            return new Produced(BufferIds.format(e.getId()), producer, a, e, fence);
        }
        catch (final IOException | RuntimeException | Error e)
        {
            a.close();
            throw e;
        }
    }

    private Run startScript(final TwoVmSystem daemons, final String contentTypeGlob, final int frames)
        throws IOException
    {
        return Run.start(List.of(PythonSupport.PYTHON.toString(), script.toString(),
            "--socket", daemons.sourceSocket().toString(), "--content-type", contentTypeGlob,
            "--frames", Integer.toString(frames), "--timeout", Integer.toString(SCRIPT_TIMEOUT_SECONDS)),
            Map.of("HDMABUF_PY_GEN", generated.toString()));
    }
}
