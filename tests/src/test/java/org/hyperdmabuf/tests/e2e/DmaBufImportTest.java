package org.hyperdmabuf.tests.e2e;

import org.hyperdmabuf.abi.v1.Access;
import org.hyperdmabuf.abi.v1.BufferId;
import org.hyperdmabuf.abi.v1.Caps;
import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.client.Allocation;
import org.hyperdmabuf.client.HdmabufClient;
import org.hyperdmabuf.client.HdmabufException;
import org.hyperdmabuf.client.ImportedBuffer;
import org.hyperdmabuf.hv.nativeio.UdmaBuf;
import org.hyperdmabuf.tests.support.SystemTest;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.DisabledIf;
import org.junit.jupiter.api.condition.EnabledIf;

import java.util.List;

import static org.hyperdmabuf.tests.e2e.E2e.errorOf;
import static org.hyperdmabuf.tests.e2e.E2e.fill;
import static org.hyperdmabuf.tests.e2e.E2e.firstMismatch;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * IMPORT and ALLOC with dma_buf on the host-mode stack (embedded ivshmem server, sink, source). Where this kernel
 * has no usable /dev/udmabuf, caps say why and dma-buf requests are refused with ENOTSUP, a plain import still
 * working; where it has one (root in a guest with udmabuf), a consumer gets exactly its buffer as a udmabuf
 * dma-buf ({@link UdmabufChecks}, which UdmabufGuestTest runs in a guest with udmabuf). The read-only refusal
 * (EACCES) holds either way.
 */
@SystemTest
class DmaBufImportTest extends WholePoolSystemTest
{
    private static final long REGION = 16L << 20;
    private static final int BUFFER = UdmabufChecks.BUFFER;

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
            final BufferId id = checks().exportTo(a, Access.ACCESS_READ_WRITE, "dmabuf-none");
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
        checks().readOnlyImportIsRefused();
    }

    @Test
    @EnabledIf("udmabufUsable")
    void consumerGetsExactlyItsBufferAsAUdmabuf() throws Exception
    {
        checks().capsSayAvailable();
        checks().consumerGetsExactlyItsBuffer(initialFree);
    }

    @Test
    @EnabledIf("udmabufUsable")
    void bufferOverTheSizeLimitIsRefusedNamingIt() throws Exception
    {
        final long limit = UdmaBuf.sizeLimitBytes();
        // A guest boots with a small udmabuf.size_limit_mb so that a buffer over it fits the region
        Assumptions.assumeTrue(limit > 0 && limit + 4096 <= producer.caps().getMaxBufferSize(),
            "size_limit_mb " + (limit >> 20) + " MiB is not below this region's largest buffer");
        checks().bufferOverTheSizeLimitIsRefused(limit);
    }

    private UdmabufChecks checks()
    {
        return new UdmabufChecks(producer, consumer, (name, value) -> System.out.println(name + " = " + value));
    }
}
