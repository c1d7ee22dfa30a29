package org.hyperdmabuf.tests.e2e;

import org.hyperdmabuf.abi.BufferIds;
import org.hyperdmabuf.abi.v1.Access;
import org.hyperdmabuf.abi.v1.BufferId;
import org.hyperdmabuf.abi.v1.Caps;
import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.abi.v1.Metadata;
import org.hyperdmabuf.client.Allocation;
import org.hyperdmabuf.client.DmaBufImport;
import org.hyperdmabuf.client.HdmabufClient;
import org.hyperdmabuf.client.HdmabufException;
import org.hyperdmabuf.client.ImportedBuffer;
import org.hyperdmabuf.hv.nativeio.MappedMemory;
import org.hyperdmabuf.hv.nativeio.NativeIoException;
import org.hyperdmabuf.hv.nativeio.UdmaBuf;
import org.hyperdmabuf.tests.support.SystemTest;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.DisabledIf;
import org.junit.jupiter.api.condition.EnabledIf;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.hyperdmabuf.tests.e2e.E2e.errorOf;
import static org.hyperdmabuf.tests.e2e.E2e.fill;
import static org.hyperdmabuf.tests.e2e.E2e.firstMismatch;
import static org.hyperdmabuf.tests.e2e.E2e.longs;
import static org.hyperdmabuf.tests.e2e.E2e.nextEvent;
import static org.hyperdmabuf.tests.e2e.E2e.rule;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * IMPORT and ALLOC with dma_buf on the host-mode stack (embedded ivshmem server, sink, source). Where this kernel
 * has no usable /dev/udmabuf, caps say why and dma-buf requests are refused with ENOTSUP, a plain import still
 * working; where it has one (root in a guest with udmabuf), a consumer gets exactly its buffer as a udmabuf
 * dma-buf. The read-only refusal (EACCES) holds either way.
 */
@SystemTest
class DmaBufImportTest extends WholePoolSystemTest
{
    private static final long REGION = 16L << 20;
    private static final int BUFFER = 1 << 20;

    @Override
    protected long regionSize()
    {
        return REGION;
    }

    private HdmabufClient producer;
    private HdmabufClient consumer;

    @BeforeEach
    void connect() throws Exception
    {
        producer = HdmabufClient.connect(system.sinkSocket());
        consumer = HdmabufClient.connect(system.sourceSocket());
    }

    @AfterEach
    void disconnect() throws Exception
    {
        consumer.close();
        producer.close();
    }

    static boolean udmabufUsable()
    {
        return UdmaBuf.unavailability() == null;
    }

    private BufferId exportTo(final Allocation a, final Access access, final String tag) throws Exception
    {
        consumer.subscribe(List.of(rule("TAG_TEST=" + tag)), false);
        final BufferId id = producer.export(a.handle(), system.sourceVm(), Metadata.newBuilder().setVersion(1)
            .putTags("test", tag).build(), access).getId();
        nextEvent(consumer, "add", BufferIds.format(id));
        return id;
    }

    @Test
    @DisabledIf("udmabufUsable")
    void withoutUdmabufCapsSayWhyAndRequestsAreRefused() throws Exception
    {
        try (Allocation a = producer.alloc(BUFFER))
        {
            for (final Caps caps : List.of(producer.caps(), consumer.caps()))
            {
                assertFalse(caps.getDmaBuf());
                assertTrue(caps.getDmaBufUnavailable().contains(UdmaBuf.DEVICE), caps.getDmaBufUnavailable());
            }
            fill(a.buffer().bytes(), 3);
            final BufferId id = exportTo(a, Access.ACCESS_READ_WRITE, "dmabuf-none");
            final HdmabufException refused = assertThrows(HdmabufException.class, () -> consumer.importDmaBuf(id));
            assertEquals(ErrorCode.ENOTSUP, refused.code());
            assertTrue(refused.getMessage().contains(UdmaBuf.DEVICE), refused.getMessage());
            // The documented fallback: import again without dma_buf
            try (ImportedBuffer imported = consumer.importBuffer(id))
            {
                assertEquals(-1, firstMismatch(imported.buffer().bytes(), 3), "first differing word");
            }
            consumer.release(id);
            assertEquals(ErrorCode.ENOTSUP, errorOf(() -> producer.allocDmaBuf(BUFFER)));
            producer.free(a.handle());
        }
    }

    @Test
    void readOnlyImportIsNeverADmaBuf() throws Exception
    {
        try (Allocation a = producer.alloc(BUFFER))
        {
            final BufferId id = exportTo(a, Access.ACCESS_READ_ONLY, "dmabuf-ro");
            assertEquals(ErrorCode.EACCES, errorOf(() -> consumer.importDmaBuf(id)));
            producer.free(a.handle());
        }
    }

    @Test
    @EnabledIf("udmabufUsable")
    void consumerGetsExactlyItsBufferAsAUdmabuf() throws Exception
    {
        try (Allocation a = producer.alloc(BUFFER))
        {
            assertTrue(consumer.caps().getDmaBuf(), consumer.caps().getDmaBufUnavailable());
            fill(a.buffer().bytes(), 4);
            final BufferId id = exportTo(a, Access.ACCESS_READ_WRITE, "dmabuf-rw");
            try (DmaBufImport imported = consumer.importDmaBuf(id))
            {
                final String fdinfo = Files.readString(Path.of("/proc/self/fdinfo/" + imported.dmaBufFd()));
                assertTrue(fdinfo.contains("exp_name:\tudmabuf"), fdinfo);
                assertTrue(fdinfo.contains("size:\t" + BUFFER), fdinfo);
                assertTrue(fdinfo.contains("name:\thdmabuf-"), fdinfo);
                assertEquals(BUFFER, imported.buffer().length());
                assertEquals(-1, firstMismatch(imported.buffer().bytes(), 4), "first differing word");
                longs(imported.buffer().bytes()).put(7, 0x600DF00DL);
                assertEquals(0x600DF00DL, longs(a.buffer().bytes()).get(7), "consumer's write seen by the producer");
                longs(a.buffer().bytes()).put(9, 0xFEEDL);
                assertEquals(0xFEEDL, longs(imported.buffer().bytes()).get(9), "producer's write seen by the consumer");
                assertThrows(NativeIoException.class,
                    () -> MappedMemory.map(imported.dmaBufFd(), 0, BUFFER + 4096L, true).close());

                // Unexport, release and free while the consumer keeps its dma-buf: the range is punched and
                // detaches; the next allocation of it must never show through the stale dma-buf.
                fill(a.buffer().bytes(), 5);
                consumer.release(id);
                producer.free(a.handle());
                E2e.awaitPoolFree(producer, initialFree);
                try (Allocation next = producer.alloc(BUFFER))
                {
                    fill(next.buffer().bytes(), 6);
                    assertEquals(-1, firstMismatch(imported.buffer().bytes(), 5), "the stale dma-buf keeps its bytes");
                    producer.free(next.handle());
                }
            }
        }
    }

    @Test
    @EnabledIf("udmabufUsable")
    void bufferOverTheSizeLimitIsRefusedNamingIt() throws Exception
    {
        final long limit = UdmaBuf.sizeLimitBytes();
        // A guest boots with a small udmabuf.size_limit_mb so that a buffer over it fits the region
        Assumptions.assumeTrue(limit > 0 && limit + 4096 <= producer.caps().getMaxBufferSize(),
            "size_limit_mb " + (limit >> 20) + " MiB is not below this region's largest buffer");
        final HdmabufException refused = assertThrows(HdmabufException.class, () -> producer.allocDmaBuf(limit + 4096));
        assertEquals(ErrorCode.E2BIG, refused.code());
        assertTrue(refused.getMessage().contains("size_limit_mb"), refused.getMessage());
    }
}
