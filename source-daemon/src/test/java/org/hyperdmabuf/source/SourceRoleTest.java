package org.hyperdmabuf.source;

import org.hyperdmabuf.abi.BufferIds;
import org.hyperdmabuf.abi.v1.Access;
import org.hyperdmabuf.abi.v1.BufferId;
import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.abi.v1.ExportAnnounce;
import org.hyperdmabuf.abi.v1.Metadata;
import org.hyperdmabuf.abi.v1.PeerMessage;
import org.hyperdmabuf.abi.v1.UnexportNotice;
import org.hyperdmabuf.client.HdmabufClient;
import org.hyperdmabuf.client.ImportedBuffer;
import org.hyperdmabuf.client.ReceivedEvent;
import org.hyperdmabuf.daemon.ExportTag;
import org.hyperdmabuf.daemon.inprocess.InProcessDaemon;
import org.hyperdmabuf.hv.conformance.Await;
import org.hyperdmabuf.hv.conformance.RecordingListener;
import org.hyperdmabuf.hv.inmemory.InMemoryBackend;
import org.hyperdmabuf.hv.inmemory.InMemoryFabric;
import org.hyperdmabuf.hv.nativeio.MappedMemory;
import org.hyperdmabuf.hv.nativeio.Native;
import org.hyperdmabuf.hv.spi.BackendBuffer;
import org.hyperdmabuf.hv.spi.ClientMapping;
import org.hyperdmabuf.hv.spi.FenceRef;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.function.Predicate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The source role against an exporter VM the test scripts itself: a bare endpoint of the in-memory fabric that
 * allocates, claims fence slots and sends the wire messages a sink would (or would not) send, and records what
 * the source answers. The source must check every announcement against the VM whose channel carried it.
 */
@Timeout(60)
class SourceRoleTest
{
    private static final Duration TIMEOUT = Duration.ofSeconds(10);

    @TempDir
    Path dir;
    private InMemoryFabric fabric;
    private InProcessDaemon source;
    private InMemoryBackend exporter;
    private final RecordingListener exporterHeard = new RecordingListener();
    private HdmabufClient consumer;
    private int exportNumber;

    @BeforeEach
    void start() throws Exception
    {
        fabric = new InMemoryFabric();
        source = InProcessDaemon.start(fabric, dir, "source", InMemoryFabric.ROLE_SOURCE, List.of(SourceRole::new),
            null);
        exporter = fabric.backend(InMemoryFabric.ROLE_SINK);
        exporter.start(exporterHeard);
        Await.until(() -> exporter.peers().stream().anyMatch(p -> p.vm() == source.vm()), TIMEOUT,
            () -> "the exporter to see the source");
        consumer = source.connect();
        consumer.subscribe(List.of(), false);
    }

    @AfterEach
    void stop()
    {
        source.close();
        exporter.close();
        fabric.close();
    }

    /** A buffer and a fence slot of the scripted exporter, tagged as a sink does, and its announcement. */
    private ExportAnnounce.Builder announce(final long size) throws Exception
    {
        final BackendBuffer buffer = exporter.allocate(size);
        final FenceRef fence = exporter.allocateFence();
        final BufferId id = BufferId.newBuilder().setExporterVm(exporter.localVm()).setExportNumber(++exportNumber)
            .setNonce(0x5EED0000L + exportNumber).build();
        ExportTag.write(exporter.fenceWindow(fence.index()), id);
        return ExportAnnounce.newBuilder().setId(id).setOffset(buffer.offset()).setLength(buffer.length())
            .setAccess(Access.ACCESS_READ_WRITE).setRevision(1).setFenceSlot(fence.index())
            .setMetadata(Metadata.newBuilder().setVersion(1).setContentType("video/raw").setSize(1));
    }

    private void send(final PeerMessage message) throws Exception
    {
        final ByteBuffer bytes = ByteBuffer.wrap(message.toByteArray());
        assertTrue(exporter.send(source.vm(), bytes, 0, bytes.limit()), "room in the channel");
    }

    /** The first message the exporter heard from the source that matches, waited for with a deadline. */
    private PeerMessage heard(final Predicate<PeerMessage> match, final String what)
    {
        final PeerMessage[] found = {null};
        exporterHeard.await(l ->
        {
            for (final RecordingListener.Message m : l.messagesFrom(source.vm()))
            {
                try
                {
                    final PeerMessage p = PeerMessage.parseFrom(m.bytes());
                    if (match.test(p))
                    {
                        found[0] = p;
                        return true;
                    }
                }
                catch (final com.google.protobuf.InvalidProtocolBufferException e)
                {
                    fail("the source sent a malformed message: " + e.getMessage());
                }
            }
            return false;
        }, TIMEOUT, what);
        return found[0];
    }

    private void assertRejected(final BufferId id, final ErrorCode code)
    {
        final PeerMessage reject = heard(p -> p.hasReject() && p.getReject().getId().equals(id), "a reject of " +
            BufferIds.format(id));
        assertEquals(code, reject.getReject().getError(), reject.getReject().getMessage());
    }

    @Test
    void announcementsTheSenderCannotBackAreRejectedAndNeverAnnouncedToClients() throws Exception
    {
        final ExportAnnounce.Builder forged = announce(4096);
        forged.setId(forged.getId().toBuilder().setExporterVm(source.vm() + 7));
        send(PeerMessage.newBuilder().setExport(forged).build());
        assertRejected(forged.getId(), ErrorCode.EACCES);

        final ExportAnnounce.Builder notItsFence = announce(4096);
        notItsFence.setFenceSlot(notItsFence.getFenceSlot() + 1);
        send(PeerMessage.newBuilder().setExport(notItsFence).build());
        assertRejected(notItsFence.getId(), ErrorCode.EINVAL);

        final ExportAnnounce.Builder notItsMemory = announce(4096);
        notItsMemory.setOffset(exporter.totalBytes() - 4096);
        send(PeerMessage.newBuilder().setExport(notItsMemory).build());
        assertRejected(notItsMemory.getId(), ErrorCode.EINVAL);

        final ExportAnnounce.Builder badMetadata = announce(4096);
        badMetadata.setMetadata(badMetadata.getMetadata().toBuilder().setSize(1 << 20));
        send(PeerMessage.newBuilder().setExport(badMetadata).build());
        assertRejected(badMetadata.getId(), ErrorCode.EINVAL);

        assertNull(consumer.nextEvent(Duration.ofMillis(50)), "no event for a refused announcement");
        assertEquals(0, consumer.list().getBuffersCount(), "nothing stored");
    }

    @Test
    void aValidAnnouncementIsImportedReleasedAndRemovedWithTheNoticesTheExporterExpects() throws Exception
    {
        final ExportAnnounce.Builder a = announce(2 * 4096);
        final BufferId id = a.getId();
        send(PeerMessage.newBuilder().setExport(a).build());
        final ReceivedEvent add = consumer.nextEvent(TIMEOUT);
        assertEquals("add", add.event().action());
        assertEquals(BufferIds.format(id), add.event().get("BUFFER"));

        final ClientMapping mine = exporter.mapAllocation(new BackendBuffer(a.getOffset(), a.getLength()));
        try (MappedMemory exporterView = MappedMemory.map(mine.fd(), mine.offset(), mine.length(), false);
             ImportedBuffer imported = consumer.importBuffer(id))
        {
            exporterView.buffer().putLong(4096, 0xABCDL);
            assertEquals(0xABCDL, imported.buffer().bytes().getLong(4096), "the importer maps the exporter's pages");
            heard(p -> p.hasImport() && p.getImport().getId().equals(id), "the import notice");
            consumer.release(id);
            final PeerMessage release = heard(p -> p.hasRelease() && p.getRelease().getId().equals(id),
                "the release notice");
            assertEquals(false, release.getRelease().getDropped(), "still exported: not dropped");
        }
        finally
        {
            Native.closeQuietly(mine.fd());
        }
        send(PeerMessage.newBuilder().setUnexport(UnexportNotice.newBuilder().setId(id).setReason("unexported"))
            .build());
        final ReceivedEvent remove = consumer.nextEvent(TIMEOUT);
        assertEquals("remove", remove.event().action());
        assertEquals("unexported", remove.event().get("REASON"));
        heard(p -> p.hasRelease() && p.getRelease().getId().equals(id) && p.getRelease().getDropped(),
            "the final release notice (dropped)");
    }
}
