package org.hyperdmabuf.tests.e2e;

import com.google.protobuf.ByteString;
import org.hyperdmabuf.abi.BufferIds;
import org.hyperdmabuf.abi.UEvent;
import org.hyperdmabuf.abi.v1.Access;
import org.hyperdmabuf.abi.v1.BufferId;
import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.abi.v1.Exported;
import org.hyperdmabuf.abi.v1.ImageInfo;
import org.hyperdmabuf.abi.v1.Metadata;
import org.hyperdmabuf.abi.v1.Plane;
import org.hyperdmabuf.abi.v1.Request;
import org.hyperdmabuf.abi.v1.Unexport;
import org.hyperdmabuf.client.Allocation;
import org.hyperdmabuf.client.HdmabufClient;
import org.hyperdmabuf.client.ImportedBuffer;
import org.hyperdmabuf.tests.support.SystemTest;
import org.junit.jupiter.api.Test;

import java.security.SecureRandom;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.hyperdmabuf.tests.e2e.E2e.errorOf;
import static org.hyperdmabuf.tests.e2e.E2e.fill;
import static org.hyperdmabuf.tests.e2e.E2e.firstMismatch;
import static org.hyperdmabuf.tests.e2e.E2e.longs;
import static org.hyperdmabuf.tests.e2e.E2e.nextEvent;
import static org.hyperdmabuf.tests.e2e.E2e.poolFree;
import static org.hyperdmabuf.tests.e2e.E2e.rule;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A 64 MiB buffer travels from a producer on the sink VM to a consumer on the source VM: event properties,
 * metadata, every byte, zero copy (same pages), re-export, unexport, and the consumer's mapping outliving the
 * export until it releases.
 */
@SystemTest
class BufferSharingTest extends WholePoolSystemTest
{
    private static final long REGION = 256L << 20;
    private static final int BUFFER = 64 << 20;
    private static final int FOURCC_AR24 = 0x34325241;

    private final SecureRandom random = new SecureRandom();
    @Override
    protected long regionSize()
    {
        return REGION;
    }

    @Test
    void bufferArrivesIntactAndStaysSharedUntilReleased() throws Exception
    {
        try (HdmabufClient producer = HdmabufClient.connect(system.sinkSocket());
             HdmabufClient consumer = HdmabufClient.connect(system.sourceSocket());
             Allocation a = producer.alloc(BUFFER))
        {
            consumer.subscribe(List.of(rule("TAG_TEST=sharing")), false);
            producer.subscribe(List.of(), false);
            assertEquals(BUFFER, a.buffer().length());
            fill(a.buffer().bytes(), 1);

            final Metadata metadata = Metadata.newBuilder().setVersion(1).setContentType("video/raw")
                .setSize(BUFFER - 100).putTags("stream", "cam0").putTags("color.space", "bt709")
                .putTags("test", "sharing").setPrivateData(randomBytes(4096))
                .setImage(ImageInfo.newBuilder().setWidth(4096).setHeight(4096).setFourcc(FOURCC_AR24)
                    .addPlanes(Plane.newBuilder().setOffset(0).setStride(4 * 4096)))
                .build();
            final Exported exported = producer.export(a.handle(), system.sourceVm(), metadata,
                Access.ACCESS_READ_WRITE);
            assertFalse(exported.getReexport());
            final BufferId id = exported.getId();
            final String idText = BufferIds.format(id);
            assertEquals(system.sinkVm(), id.getExporterVm());

            final UEvent add = nextEvent(consumer, "add", idText);
            assertEquals("hyperdmabuf", add.get("SUBSYSTEM"));
            assertEquals("/hyperdmabuf/vm" + system.sinkVm() + "/" + idText, add.devpath());
            assertEquals(Integer.toString(system.sinkVm()), add.get("EXPORTER"));
            assertEquals(Integer.toString(system.sourceVm()), add.get("IMPORTER"));
            assertEquals(Integer.toString(BUFFER), add.get("SIZE"));
            assertEquals("rw", add.get("ACCESS"));
            assertEquals("1", add.get("REVISION"));
            assertEquals("video/raw", add.get("CONTENT_TYPE"));
            assertEquals(Integer.toString(BUFFER - 100), add.get("CONTENT_SIZE"));
            assertEquals("cam0", add.get("TAG_STREAM"));
            assertEquals("bt709", add.get("TAG_COLOR_SPACE"));
            assertEquals("4096", add.get("PRIVATE_SIZE"));
            assertEquals("4096", add.get("IMAGE_WIDTH"));
            assertEquals("AR24", add.get("IMAGE_FOURCC"));

            try (ImportedBuffer imported = consumer.importBuffer(id))
            {
                assertEquals(metadata, imported.metadata(), "metadata, private_data included");
                assertEquals(BUFFER, imported.buffer().length());
                assertFalse(imported.buffer().isReadOnly());
                assertEquals(-1, firstMismatch(imported.buffer().bytes(), 1), "first differing word");
                assertEquals("imported", nextEvent(producer, "change", idText).get("STATE"));

                // Zero copy: new bytes in the producer's mapping, no re-export, visible through the same pages.
                fill(a.buffer().bytes(), 2);
                assertEquals(-1, firstMismatch(imported.buffer().bytes(), 2), "first differing word");
                longs(imported.buffer().bytes()).put(BUFFER / 8 - 1, 0x600DF00DL);
                assertEquals(0x600DF00DL, longs(a.buffer().bytes()).get(BUFFER / 8 - 1));
                fill(a.buffer().bytes(), 2);

                final Metadata metadata2 = metadata.toBuilder().setSize(BUFFER).putTags("frame", "2")
                    .setPrivateData(randomBytes(17)).build();
                final Exported reexported = producer.export(a.handle(), system.sourceVm(), metadata2,
                    Access.ACCESS_READ_WRITE);
                assertTrue(reexported.getReexport());
                assertEquals(id, reexported.getId());
                final UEvent change = nextEvent(consumer, "change", idText);
                assertEquals("2", change.get("REVISION"));
                assertEquals("2", change.get("TAG_FRAME"));
                assertEquals(Integer.toString(BUFFER), change.get("CONTENT_SIZE"));
                assertEquals(metadata2, consumer.query(id).getMetadata());

                producer.unexport(id);
                final UEvent remove = nextEvent(consumer, "remove", idText);
                assertEquals("unexported", remove.get("REASON"));
                assertEquals("video/raw", remove.get("CONTENT_TYPE"), "remove carries the buffer's properties");
                assertEquals(ErrorCode.ENOENT, errorOf(() -> consumer.importBuffer(id)));

                // The producer frees, but the importer still holds the pages: they must not return to the pool.
                producer.free(a.handle());
                assertEquals(initialFree - poolCost(BUFFER), poolFree(producer), "pool reclaimed memory still imported");
                assertEquals(-1, firstMismatch(imported.buffer().bytes(), 2), "mapping changed after remove");
                consumer.release(id);
            }
            E2e.awaitPoolFree(producer, initialFree);
        }
    }

    @Test
    void unknownAndGuessedIdsAreNotImportable() throws Exception
    {
        try (HdmabufClient producer = HdmabufClient.connect(system.sinkSocket());
             HdmabufClient consumer = HdmabufClient.connect(system.sourceSocket());
             Allocation a = producer.alloc(4096))
        {
            consumer.subscribe(List.of(rule("TAG_TEST=guess")), false);
            producer.subscribe(List.of(), false);
            final BufferId unknown = BufferId.newBuilder().setExporterVm(4242).setExportNumber(1).setNonce(7).build();
            assertEquals(ErrorCode.ENOENT, errorOf(() -> consumer.importBuffer(unknown)));

            final BufferId id = producer.export(a.handle(), system.sourceVm(), Metadata.newBuilder().setVersion(1)
                .setContentType("application/octet-stream").putTags("test", "guess").build(),
                Access.ACCESS_READ_ONLY).getId();
            final String idText = BufferIds.format(id);
            assertEquals("ro", nextEvent(consumer, "add", idText).get("ACCESS"));
            for (int i = 0; i < 16; i++)
            {
                final BufferId guessed = id.toBuilder().setNonce(random.nextLong()).build();
                assertNotEquals(id, guessed);
                assertEquals(ErrorCode.ENOENT, errorOf(() -> consumer.importBuffer(guessed)), "guessed nonce");
            }
            final BufferId nextNumber = id.toBuilder().setExportNumber(id.getExportNumber() + 1).build();
            assertEquals(ErrorCode.ENOENT, errorOf(() -> consumer.importBuffer(nextNumber)));

            try (ImportedBuffer imported = consumer.importBuffer(id))
            {
                assertTrue(imported.buffer().isReadOnly());
            }
            assertEquals("imported", nextEvent(producer, "change", idText).get("STATE"));
            consumer.release(id);
            assertEquals("released", nextEvent(producer, "change", idText).get("STATE"));
            assertEquals(ErrorCode.ENOENT, errorOf(() -> consumer.release(id)), "second release");
            producer.unexport(id);
            nextEvent(consumer, "remove", idText);
            producer.free(a.handle());
            E2e.awaitPoolFree(producer, initialFree);
        }
    }

    /**
     * The sink must not reclaim memory the importer VM holds, even when the importer's ImportNotice and the
     * producer's UNEXPORT cross (ABI.md "Lifecycle": the sink reclaims memory only when the importer VM
     * confirms with ReleaseNotice{dropped}). The sink daemon is paused (SIGSTOP) so that both are pending when it resumes.
     */
    @Test
    void memoryImportedWhileUnexportingIsNotReclaimed() throws Exception
    {
        final int size = 1 << 20;
        try (HdmabufClient producer = HdmabufClient.connect(system.sinkSocket());
             HdmabufClient consumer = HdmabufClient.connect(system.sourceSocket());
             Allocation a = producer.alloc(size))
        {
            consumer.subscribe(List.of(rule("TAG_TEST=crossing")), false);
            fill(a.buffer().bytes(), 3);
            final BufferId id = producer.export(a.handle(), system.sourceVm(), Metadata.newBuilder().setVersion(1)
                .setContentType("application/octet-stream").putTags("test", "crossing").build(),
                Access.ACCESS_READ_WRITE).getId();
            final String idText = BufferIds.format(id);
            nextEvent(consumer, "add", idText);

            final ImportedBuffer imported;
            signal("STOP", system.sink().pid());
            try
            {
                imported = consumer.importBuffer(id); // served by the source; its ImportNotice waits in the ring
                // Raw, so the UNEXPORT is in the paused sink's socket without waiting for the response (which the
                // client drops: the request id is not one it issued).
                producer.sendRaw(RawConnection.frame(Request.newBuilder().setRequestId(1L << 40)
                    .setUnexport(Unexport.newBuilder().setId(id)).build()));
            }
            finally
            {
                signal("CONT", system.sink().pid());
            }
            try (imported)
            {
                nextEvent(consumer, "remove", idText);
                producer.free(a.handle());
                assertEquals(initialFree - poolCost(size), poolFree(producer),
                    "the sink reclaimed a buffer that VM " + system.sourceVm() + " still has imported");
                assertEquals(-1, firstMismatch(imported.buffer().bytes(), 3));
                consumer.release(id);
            }
            E2e.awaitPoolFree(producer, initialFree);
        }
    }

    private static void signal(final String signal, final long pid) throws Exception
    {
        final Process kill = new ProcessBuilder("kill", "-" + signal, Long.toString(pid)).inheritIO().start();
        assertTrue(kill.waitFor(10, TimeUnit.SECONDS) && kill.exitValue() == 0, "kill -" + signal + " " + pid);
    }

    private ByteString randomBytes(final int n)
    {
        final byte[] b = new byte[n];
        random.nextBytes(b);
        return ByteString.copyFrom(b);
    }
}
