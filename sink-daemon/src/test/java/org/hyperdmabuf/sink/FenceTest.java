package org.hyperdmabuf.sink;

import org.hyperdmabuf.abi.v1.Access;
import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.abi.v1.Exported;
import org.hyperdmabuf.abi.v1.Timeline;
import org.hyperdmabuf.client.Allocation;
import org.hyperdmabuf.client.Fence;
import org.hyperdmabuf.client.HdmabufClient;
import org.hyperdmabuf.client.HdmabufException;
import org.hyperdmabuf.client.ImportedBuffer;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;


import static org.hyperdmabuf.sink.TwoVms.TIMEOUT;
import static org.hyperdmabuf.sink.TwoVms.assertError;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

/**
 * Fence signals and waits across the two roles: stores in the shared slot, waits parked in a daemon
 * (FENCE_WAIT) woken by the other VM's doorbell, signals through a daemon for a side that cannot store.
 */
class FenceTest extends TwoVmsTest
{
    private Allocation allocation;

    @BeforeEach
    void allocate() throws Exception
    {
        allocation = producer.alloc(4096);
    }

    private Exported export(final Access access) throws Exception
    {
        return exportSeen(allocation.handle(), "video/raw", access);
    }

    @Test
    void acquireAndReleaseRoundTripsWakeWaitsParkedInTheOtherDaemon() throws Exception
    {
        final Exported e = export(Access.ACCESS_READ_WRITE);
        try (ImportedBuffer imported = consumer.importBuffer(e.getId());
             Fence produced = producer.fence(allocation, e))
        {
            for (long round = 1; round <= 3; round++)
            {
                final long value = round;
                try (ParkedWait<Long> acquired = ParkedWait.start(() -> imported.fence().await(value, TIMEOUT,
                    Fence.WaitStrategy.BLOCK), vms.source.backend(), e.getFenceOffset(), true))
                {
                    allocation.buffer().bytes().putLong(0, value * 100);
                    produced.signal(value);
                    assertEquals(value, acquired.outcome(), "the consumer's parked wait saw acquire " + value);
                }
                assertEquals(value * 100, imported.buffer().bytes().getLong(0), "the content the signal published");
                try (ParkedWait<Long> released = ParkedWait.start(() -> produced.await(value, TIMEOUT,
                    Fence.WaitStrategy.BLOCK), vms.sink.backend(), e.getFenceOffset(), false))
                {
                    imported.fence().signal(value, 7);
                    assertEquals(value, released.outcome(), "the producer's parked wait saw release " + value);
                }
                assertEquals(7, produced.error(), "with the error word the consumer stored");
            }
        }
    }

    @Test
    void aReadOnlyImporterSignalsReleaseThroughItsDaemon() throws Exception
    {
        final Exported e = export(Access.ACCESS_READ_ONLY);
        try (ImportedBuffer imported = consumer.importBuffer(e.getId());
             Fence produced = producer.fence(allocation, e);
             ParkedWait<Long> released = ParkedWait.start(() -> produced.await(1, TIMEOUT, Fence.WaitStrategy.BLOCK),
                 vms.sink.backend(), e.getFenceOffset(), false))
        {
            imported.fence().signal(1);
            assertEquals(1L, released.outcome());
            assertEquals(1, imported.fence().releaseValue(), "the daemon stored it in the shared slot");
        }
    }

    @Test
    void waitsTimeOutAndEndWithEnoentWhenTheBufferIsUnexported() throws Exception
    {
        final Exported e = export(Access.ACCESS_READ_WRITE);
        assertError(ErrorCode.ETIMEDOUT, () -> consumer.fenceWait(e.getId(), Timeline.TIMELINE_ACQUIRE, 5, 20));
        assertError(ErrorCode.EINVAL, () -> consumer.fenceWait(e.getId(), Timeline.TIMELINE_RELEASE, 1, 20));
        try (ImportedBuffer imported = consumer.importBuffer(e.getId());
             HdmabufClient waiter = vms.source.connect();
             ParkedWait<?> parked = ParkedWait.start(() -> waiter.fenceWait(e.getId(), Timeline.TIMELINE_ACQUIRE, 1,
                 TIMEOUT.toMillis()), vms.source.backend(), e.getFenceOffset(), true))
        {
            producer.unexport(e.getId());
            final Object outcome = parked.outcome();
            assertInstanceOf(HdmabufException.class, outcome, "the parked wait ended: " + outcome);
            assertEquals(ErrorCode.ENOENT, ((HdmabufException)outcome).code());
            consumer.release(imported.id());
        }
    }
}
