package org.hyperdmabuf.tests.fence;

import org.hyperdmabuf.abi.BufferIds;
import org.hyperdmabuf.abi.UEvent;
import org.hyperdmabuf.abi.v1.Access;
import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.abi.v1.Exported;
import org.hyperdmabuf.abi.v1.Metadata;
import org.hyperdmabuf.client.Allocation;
import org.hyperdmabuf.client.Fence;
import org.hyperdmabuf.client.FrameConsumer;
import org.hyperdmabuf.client.FrameProducer;
import org.hyperdmabuf.client.HdmabufClient;
import org.hyperdmabuf.client.HdmabufException;
import org.hyperdmabuf.client.ReceivedEvent;
import org.hyperdmabuf.tests.support.SystemTest;
import org.hyperdmabuf.tests.support.TwoVmSystem;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Delayed unexport: the reuse window keeps an export alive, a re-export inside it reuses the id. */
@SystemTest
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class DelayedUnexportTest
{
    private static final Duration TIMEOUT = Duration.ofSeconds(20);

    private TwoVmSystem system;
    private HdmabufClient producer;
    private HdmabufClient consumer;

    /** Whether this class runs on the xen backend over the Xen emulation instead of kvm-ivshmem. */
    protected boolean xen()
    {
        return false;
    }

    @BeforeAll
    void start() throws Exception
    {
        system = xen() ? TwoVmSystem.startXenInTempDir("hdux", (16 << 20) / 4096, List.of(), List.of()) :
            TwoVmSystem.startInTempDir("hdu", 16L << 20, List.of(), List.of());
        producer = HdmabufClient.connect(system.sinkSocket());
        consumer = HdmabufClient.connect(system.sourceSocket());
        consumer.subscribe(List.of(), false);
    }

    @AfterAll
    void stop() throws Exception
    {
        producer.close();
        consumer.close();
        system.closeAndVerify();
    }

    private UEvent next() throws Exception
    {
        final ReceivedEvent e = consumer.nextEvent(TIMEOUT);
        assertTrue(e != null && !e.isOverflow(), "expected an event");
        return e.event();
    }

    private Exported export(final Allocation a, final String tag) throws Exception
    {
        return producer.export(a.handle(), system.sourceVm(), Metadata.newBuilder().setContentType("application/x-u")
            .putTags("t", tag).build(), Access.ACCESS_READ_WRITE);
    }

    /** A frame stream re-exported by setMetadata: frames say which revision they were written for. */
    @Test
    void framesAfterSetMetadataNameTheNewRevision() throws Exception
    {
        final Metadata first = Metadata.newBuilder().setContentType("application/x-u").putTags("t", "first").build();
        try (HdmabufClient reader = HdmabufClient.connect(system.sourceSocket());
            FrameProducer p = FrameProducer.create(producer, system.sourceVm(), "revisions", 2, 4096, first,
                Access.ACCESS_READ_WRITE, Fence.WaitStrategy.ADAPTIVE);
            FrameConsumer c = FrameConsumer.open(reader, "revisions", TIMEOUT, Fence.WaitStrategy.ADAPTIVE))
        {
            p.beginFrame(TIMEOUT);
            assertEquals(ErrorCode.EINVAL, assertThrows(HdmabufException.class, () -> p.setMetadata(first)).code());
            p.endFrame(null, 0);
            c.beginFrame(TIMEOUT);
            assertEquals(1, c.frameInfo().metadataRevision());
            c.endFrame();
            p.drain(TIMEOUT);
            p.setMetadata(first.toBuilder().putTags("t", "second").build());
            p.beginFrame(TIMEOUT);
            p.endFrame(null, 0);
            c.beginFrame(TIMEOUT);
            assertEquals(2, c.frameInfo().metadataRevision(), "the frame after the re-export");
            c.endFrame();
            p.drain(TIMEOUT);
        }
        // The subscribed consumer saw both buffers added, changed once and removed, and nothing else is left.
        final Map<String, Integer> actions = new TreeMap<>();
        for (int i = 0; i < 6; i++)
        {
            actions.merge(next().action(), 1, Integer::sum);
        }
        assertEquals(Map.of("add", 2, "change", 2, "remove", 2), actions);
    }

    @Test
    void theExportLivesUntilTheWindowEnds() throws Exception
    {
        try (Allocation a = producer.alloc(4096))
        {
            final Exported e = export(a, "one");
            final String id = BufferIds.format(e.getId());
            assertEquals("add", next().action());
            final long start = System.nanoTime();
            producer.unexport(e.getId(), Duration.ofMillis(400));
            assertEquals("unexport-pending", producer.query(e.getId()).getState());
            consumer.importBuffer(e.getId()).close(); // still importable inside the window
            consumer.release(e.getId());
            final UEvent removed = next();
            final long elapsedMs = (System.nanoTime() - start) / 1_000_000;
            assertEquals("remove", removed.action());
            assertEquals(id, removed.get("BUFFER"));
            assertEquals("unexported", removed.get("REASON"));
            assertTrue(elapsedMs >= 350, "remove came after " + elapsedMs + " ms, before the 400 ms window ended");
            assertEquals(ErrorCode.ENOENT, assertThrows(HdmabufException.class, () -> producer.query(e.getId())).code());
            producer.free(a.handle());
        }
    }

    @Test
    void aReExportInsideTheWindowReusesTheIdAndCancelsTheRemove() throws Exception
    {
        try (Allocation a = producer.alloc(4096))
        {
            final Exported first = export(a, "first");
            assertEquals("add", next().action());
            producer.unexport(first.getId(), Duration.ofSeconds(30));
            final Exported again = export(a, "second");
            assertTrue(again.getReexport());
            // The producer learns the revision the change event carries (frames state it in their headers).
            assertEquals(1, first.getRevision());
            assertEquals(2, again.getRevision());
            assertEquals(first.getId(), again.getId());
            assertEquals("exported", producer.query(first.getId()).getState());
            final UEvent change = next();
            assertEquals("change", change.action());
            assertEquals("2", change.get("REVISION"));
            assertEquals("second", change.get("TAG_T"));
            producer.unexport(first.getId()); // immediate: the very next event is its remove, no stale one
            final UEvent removed = next();
            assertEquals("remove", removed.action());
            assertEquals(BufferIds.format(first.getId()), removed.get("BUFFER"));
            producer.free(a.handle());
        }
    }

    @Test
    void aWindowAboveTheLimitIsRefused() throws Exception
    {
        try (Allocation a = producer.alloc(4096))
        {
            final Exported e = export(a, "limit");
            assertEquals("add", next().action());
            assertEquals(ErrorCode.EINVAL, assertThrows(HdmabufException.class,
                () -> producer.unexport(e.getId(), Duration.ofMillis(600_001))).code());
            assertEquals("exported", producer.query(e.getId()).getState());
            producer.free(a.handle()); // FREE ends everything at once
            assertEquals("remove", next().action());
        }
    }
}
