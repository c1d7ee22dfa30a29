package org.hyperdmabuf.tests.e2e;

import org.hyperdmabuf.abi.BufferIds;
import org.hyperdmabuf.abi.v1.Access;
import org.hyperdmabuf.abi.v1.BufferId;
import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.abi.v1.Metadata;
import org.hyperdmabuf.client.Allocation;
import org.hyperdmabuf.client.HdmabufClient;
import org.hyperdmabuf.client.ImportedBuffer;
import org.hyperdmabuf.tests.support.SystemTest;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.hyperdmabuf.tests.e2e.E2e.errorOf;
import static org.hyperdmabuf.tests.e2e.E2e.nextEvent;
import static org.hyperdmabuf.tests.e2e.E2e.rule;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

/**
 * {@link BufferSharingTest} on the xen backend (grant pages, page directories, fence pages) over the Xen
 * emulation. One difference is by design: gntalloc fixes a grant's access when the pages are made, which for
 * an ALLOC is before any export, so this sink (alloc-access=rw, the default) refuses a read-only export of an
 * allocation with a typed EINVAL instead of pretending; the guessed-id checks run on a read-write export.
 */
@SystemTest
class XenBufferSharingTest extends BufferSharingTest
{
    @Override
    protected boolean xen()
    {
        return true;
    }

    @Test
    @Override
    void unknownAndGuessedIdsAreNotImportable() throws Exception
    {
        try (HdmabufClient producer = HdmabufClient.connect(system.sinkSocket());
             HdmabufClient consumer = HdmabufClient.connect(system.sourceSocket());
             Allocation a = producer.alloc(4096))
        {
            consumer.subscribe(List.of(rule("TAG_TEST=guess")), false);
            final Metadata metadata = Metadata.newBuilder().setVersion(1)
                .setContentType("application/octet-stream").putTags("test", "guess").build();
            assertEquals(ErrorCode.EINVAL, errorOf(() -> producer.export(a.handle(), system.sourceVm(), metadata,
                Access.ACCESS_READ_ONLY)), "a writable grant cannot back a read-only export");
            final BufferId id = producer.export(a.handle(), system.sourceVm(), metadata, Access.ACCESS_READ_WRITE)
                .getId();
            final String idText = BufferIds.format(id);
            assertEquals("rw", nextEvent(consumer, "add", idText).get("ACCESS"), "the refusal left no export");
            final BufferId guessed = id.toBuilder().setNonce(id.getNonce() ^ 0x5A5A).build();
            assertEquals(ErrorCode.ENOENT, errorOf(() -> consumer.importBuffer(guessed)), "guessed nonce");
            try (ImportedBuffer imported = consumer.importBuffer(id))
            {
                assertFalse(imported.buffer().isReadOnly());
            }
            consumer.release(id);
            producer.unexport(id);
            nextEvent(consumer, "remove", idText);
            producer.free(a.handle());
            E2e.awaitPoolFree(producer, initialFree);
        }
    }
}
