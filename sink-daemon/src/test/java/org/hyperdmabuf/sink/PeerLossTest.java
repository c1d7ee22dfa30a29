package org.hyperdmabuf.sink;

import org.hyperdmabuf.abi.BufferIds;
import org.hyperdmabuf.abi.v1.Access;
import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.abi.v1.Exported;
import org.hyperdmabuf.abi.v1.Timeline;
import org.hyperdmabuf.client.Allocation;
import org.hyperdmabuf.client.Fence;
import org.hyperdmabuf.client.HdmabufClient;
import org.hyperdmabuf.client.HdmabufException;
import org.hyperdmabuf.client.ImportedBuffer;
import org.hyperdmabuf.client.ReceivedEvent;
import org.hyperdmabuf.hv.conformance.Await;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.hyperdmabuf.sink.TwoVms.TIMEOUT;
import static org.hyperdmabuf.sink.TwoVms.assertError;
import static org.hyperdmabuf.sink.TwoVms.awaitEvent;
import static org.hyperdmabuf.sink.TwoVms.event;
import static org.hyperdmabuf.sink.TwoVms.metadata;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A VM dies (its heartbeat stops, {@code InMemoryFabric.kill}): what the survivor's daemon and clients see. */
class PeerLossTest extends TwoVmsTest
{
    private Allocation allocation;
    private Exported exported;
    private String id;

    @BeforeEach
    void export() throws Exception
    {
        producer.subscribe(List.of(), false);
        allocation = producer.alloc(4096);
        exported = exportSeen(allocation.handle(), "video/raw", Access.ACCESS_READ_WRITE);
        id = BufferIds.format(exported.getId());
    }

    @Test
    void whenTheExporterDiesImportsAndWaitsEndWithEpeerlostAndMappingsStay() throws Exception
    {
        try (ImportedBuffer imported = consumer.importBuffer(exported.getId());
             HdmabufClient waiter = vms.source.connect();
             ParkedWait<?> parked = ParkedWait.start(() -> waiter.fenceWait(exported.getId(),
                 Timeline.TIMELINE_ACQUIRE, 1, TIMEOUT.toMillis()), vms.source.backend(), exported.getFenceOffset(),
                 true))
        {
            allocation.buffer().bytes().putInt(0, 99);
            assertTrue(vms.fabric.kill(vms.sink.vm()));
            final ReceivedEvent remove = awaitEvent(consumer, event("remove", "BUFFER", id), "remove");
            assertEquals("peer-lost", remove.event().get("REASON"));
            final Object outcome = parked.outcome();
            assertInstanceOf(HdmabufException.class, outcome, "the parked FENCE_WAIT ended: " + outcome);
            assertEquals(ErrorCode.EPEERLOST, ((HdmabufException)outcome).code());
            final HdmabufException spun = org.junit.jupiter.api.Assertions.assertThrows(HdmabufException.class,
                () -> imported.fence().await(1, TIMEOUT, Fence.WaitStrategy.SPIN), "a spinning wait ends too");
            assertEquals(ErrorCode.EPEERLOST, spun.code(), spun.getMessage());
            assertError(ErrorCode.EPEERLOST, () -> consumer.fenceWait(exported.getId(), Timeline.TIMELINE_ACQUIRE, 1,
                TIMEOUT.toMillis()));
            assertError(ErrorCode.ENOENT, () -> consumer.importBuffer(exported.getId()));
            assertEquals(99, imported.buffer().bytes().getInt(0), "the mapping stays valid until released");
            consumer.release(exported.getId());
        }
        Await.until(() -> consumerListIsEmpty(), TIMEOUT, () -> "the source to forget the released buffer");
    }

    private boolean consumerListIsEmpty()
    {
        try
        {
            return consumer.list().getBuffersCount() == 0;
        }
        catch (final java.io.IOException e)
        {
            throw new IllegalStateException(e);
        }
    }

    @Test
    void whenTheImporterDiesWaitsEndWithEpeerlostAndItsExportsAreCleanedUp() throws Exception
    {
        final long total = vms.sink.backend().totalBytes();
        consumer.importBuffer(exported.getId()).close(); // imported, never released: the importer VM holds it
        awaitEvent(producer, event("change", "STATE", "imported"), "imported");
        final Allocation pinned = producer.alloc(4096);
        final Exported second = exportSeen(pinned.handle(), "video/raw", Access.ACCESS_READ_ONLY);
        consumer.importBuffer(second.getId()).close();
        producer.unexport(second.getId());
        producer.free(pinned.handle());
        pinned.close();
        try (ParkedWait<?> parked = ParkedWait.start(() -> producer.fenceWait(exported.getId(),
            Timeline.TIMELINE_RELEASE, 1, TIMEOUT.toMillis()), vms.sink.backend(), exported.getFenceOffset(), false))
        {
            assertTrue(vms.fabric.kill(vms.source.vm()));
            final Object outcome = parked.outcome();
            assertInstanceOf(HdmabufException.class, outcome, "the parked FENCE_WAIT ended: " + outcome);
            assertEquals(ErrorCode.EPEERLOST, ((HdmabufException)outcome).code());
        }
        final ReceivedEvent lost = awaitEvent(producer, event("change", "STATE", "peer-lost"), "peer-lost");
        assertEquals(id, lost.event().get("BUFFER"));
        assertError(ErrorCode.EPEERLOST, () -> producer.export(allocation.handle(), vms.source.vm(),
            metadata("video/raw", 2), Access.ACCESS_READ_WRITE));
        assertError(ErrorCode.EPEERLOST, () -> producer.fenceSignal(exported.getId(), Timeline.TIMELINE_ACQUIRE, 1, 0));
        final HdmabufException spun = org.junit.jupiter.api.Assertions.assertThrows(HdmabufException.class,
            () -> producer.fence(allocation, exported).await(1, TIMEOUT, Fence.WaitStrategy.SPIN));
        assertEquals(ErrorCode.EPEERLOST, spun.code(), spun.getMessage());
        // The export pinned only by the lost importer is gone; the live one goes with its owner's unexport.
        producer.unexport(exported.getId());
        producer.free(allocation.handle());
        allocation.close();
        Await.until(() -> vms.sink.backend().freeBytes() == total, TIMEOUT,
            () -> "every page back: " + vms.sink.backend().freeBytes() + " of " + total);
        assertEquals(0, producer.list().getAllocationsCount());
    }
}
