package org.hyperdmabuf.sink;

import org.hyperdmabuf.abi.BufferIds;
import org.hyperdmabuf.abi.v1.Access;
import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.abi.v1.Exported;
import org.hyperdmabuf.client.Allocation;
import org.hyperdmabuf.client.HdmabufClient;
import org.hyperdmabuf.client.ImportedBuffer;
import org.hyperdmabuf.client.ReceivedEvent;
import org.hyperdmabuf.hv.conformance.Await;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.util.List;

import static org.hyperdmabuf.sink.TwoVms.TIMEOUT;
import static org.hyperdmabuf.sink.TwoVms.assertError;
import static org.hyperdmabuf.sink.TwoVms.awaitEvent;
import static org.hyperdmabuf.sink.TwoVms.event;
import static org.hyperdmabuf.sink.TwoVms.metadata;
import static org.hyperdmabuf.sink.TwoVms.nextEvent;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** ALLOC, EXPORT, IMPORT, RELEASE, UNEXPORT, FREE between a sink and a source daemon, and the events on both sides. */
class ExportLifecycleTest extends TwoVmsTest
{

    @Test
    void aBufferGoesThroughItsWholeLifecycleWithItsEventsInOrder() throws Exception
    {
        final long total = vms.sink.backend().totalBytes();
        producer.subscribe(List.of(), false);

        final Allocation a = producer.alloc(10_000);
        assertTrue(a.buffer().length() >= 10_000, "the allocation covers the request");
        final Exported exported = producer.export(a.handle(), vms.source.vm(), metadata("video/raw", 10_000),
            Access.ACCESS_READ_WRITE);
        final String id = BufferIds.format(exported.getId());
        assertEquals(vms.sink.vm(), exported.getId().getExporterVm(), "the id names the exporter VM");

        final ReceivedEvent add = nextEvent(consumer);
        assertEquals("add", add.event().action());
        assertEquals(id, add.event().get("BUFFER"));
        assertEquals("video/raw", add.event().get("CONTENT_TYPE"));
        assertEquals(Integer.toString(vms.sink.vm()), add.event().get("EXPORTER"));
        assertEquals(Integer.toString(vms.source.vm()), add.event().get("IMPORTER"));
        assertEquals("rw", add.event().get("ACCESS"));

        final ReceivedEvent imp;
        final ByteBuffer produced = a.buffer().bytes();
        produced.putLong(0, 0x1122334455667788L);
        try (ImportedBuffer imported = consumer.importBuffer(exported.getId()))
        {
            final ByteBuffer seen = imported.buffer().bytes();
            assertEquals(0x1122334455667788L, seen.getLong(0), "the consumer sees the producer's bytes");
            produced.putLong(8, 42);
            assertEquals(42, seen.getLong(8), "the same pages, not a copy: a later write is seen");
            seen.putInt(9_000, 7);
            assertEquals(7, produced.getInt(9_000), "a read-write import writes the producer's pages");
            assertEquals("video/raw", imported.metadata().getContentType());

            imp = nextEvent(producer);
            assertEquals("change", imp.event().action());
            assertEquals("imported", imp.event().get("STATE"));
            assertEquals(id, imp.event().get("BUFFER"));
            consumer.release(exported.getId());
        }
        final ReceivedEvent released = nextEvent(producer);
        assertEquals("released", released.event().get("STATE"));
        assertTrue(Long.parseLong(released.event().get("SEQNUM")) > Long.parseLong(imp.event().get("SEQNUM")),
            "SEQNUM grows");

        producer.unexport(exported.getId());
        final ReceivedEvent remove = nextEvent(consumer);
        assertEquals("remove", remove.event().action());
        assertEquals("unexported", remove.event().get("REASON"));
        assertTrue(Long.parseLong(remove.event().get("SEQNUM")) > Long.parseLong(add.event().get("SEQNUM")),
            "the source's SEQNUM grows");
        assertError(ErrorCode.ENOENT, () -> consumer.importBuffer(exported.getId()));

        producer.free(a.handle());
        a.close();
        Await.until(() -> vms.sink.backend().freeBytes() == total, TIMEOUT,
            () -> "the pages back in the pool: " + vms.sink.backend().freeBytes() + " of " + total);
        assertEquals(0, producer.list().getAllocationsCount(), "nothing left in LIST");
        assertEquals(0, consumer.list().getBuffersCount(), "the source forgot the buffer");
    }

    @Test
    void pagesStayPinnedUntilTheLastImporterReleasesAfterUnexportAndFree() throws Exception
    {
        final long total = vms.sink.backend().totalBytes();
        final Allocation a = producer.alloc(3 * 4096);
        final Exported exported = exportSeen(a.handle(), "audio/pcm", Access.ACCESS_READ_ONLY);
        try (ImportedBuffer imported = consumer.importBuffer(exported.getId()))
        {
            assertTrue(imported.buffer().isReadOnly(), "a read-only export is imported read-only");
            a.buffer().bytes().put(0, (byte)0x5A);
            producer.unexport(exported.getId());
            producer.free(a.handle());
            awaitEvent(consumer, event("remove", "BUFFER", BufferIds.format(exported.getId())), "remove");
            assertEquals((byte)0x5A, imported.buffer().bytes().get(0), "the mapping stays valid after unexport");
            assertTrue(vms.sink.backend().freeBytes() < total, "pages pinned while the consumer holds them");
            consumer.release(exported.getId());
        }
        Await.until(() -> vms.sink.backend().freeBytes() == total, TIMEOUT,
            () -> "pages back after the release: " + vms.sink.backend().freeBytes() + " of " + total);
    }

    @Test
    void aProducerThatDisconnectsTakesItsAllocationsAndExportsWithIt() throws Exception
    {
        final long total = vms.sink.backend().totalBytes();
        final HdmabufClient leaving = vms.sink.connect();
        final Allocation a = leaving.alloc(4096);
        final Exported exported = leaving.export(a.handle(), vms.source.vm(), metadata("video/raw", 1),
            Access.ACCESS_READ_WRITE);
        awaitEvent(consumer, event("add", "BUFFER", BufferIds.format(exported.getId())), "add");
        a.close();
        leaving.close();
        final ReceivedEvent remove = awaitEvent(consumer, event("remove", "BUFFER",
            BufferIds.format(exported.getId())), "remove after the producer left");
        assertEquals("unexported", remove.event().get("REASON"));
        Await.until(() -> vms.sink.backend().freeBytes() == total, TIMEOUT, () -> "the pages back in the pool");
    }

    @Test
    void aReexportChangesMetadataUnderTheSameId() throws Exception
    {
        final Allocation a = producer.alloc(4096);
        final Exported first = producer.export(a.handle(), vms.source.vm(), metadata("video/raw", 1),
            Access.ACCESS_READ_WRITE);
        final Exported again = producer.export(a.handle(), vms.source.vm(), metadata("video/raw", 2),
            Access.ACCESS_READ_WRITE);
        assertTrue(again.getReexport(), "the second EXPORT is a re-export");
        assertEquals(first.getId(), again.getId(), "under the same id");
        assertEquals("add", nextEvent(consumer).event().action());
        final ReceivedEvent change = nextEvent(consumer);
        assertEquals("change", change.event().action());
        assertEquals("2", change.event().get("REVISION"));
        assertEquals("2", change.event().get("CONTENT_SIZE"));
        assertEquals(2, consumer.query(first.getId()).getMetadata().getSize(), "QUERY sees the new metadata");
    }
}
