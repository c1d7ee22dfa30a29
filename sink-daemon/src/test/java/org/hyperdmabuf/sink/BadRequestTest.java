package org.hyperdmabuf.sink;

import org.hyperdmabuf.abi.v1.Access;
import org.hyperdmabuf.abi.v1.BufferId;
import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.abi.v1.Exported;
import org.hyperdmabuf.abi.v1.Metadata;
import org.hyperdmabuf.abi.v1.Request;
import org.hyperdmabuf.abi.v1.Timeline;
import org.hyperdmabuf.abi.v1.Unexport;
import org.hyperdmabuf.client.Allocation;
import org.hyperdmabuf.client.HdmabufClient;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;


import static org.hyperdmabuf.sink.TwoVms.assertError;
import static org.hyperdmabuf.sink.TwoVms.metadata;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

/** Unknown ids and bad input get typed errors, and leave the daemons' state and the connection as they were. */
class BadRequestTest extends TwoVmsTest
{
    private Allocation allocation;
    private Exported exported;

    @BeforeEach
    void export() throws Exception
    {
        allocation = producer.alloc(4096);
        exported = exportSeen(allocation.handle(), "video/raw", Access.ACCESS_READ_WRITE);
    }

    /** What a client sees of the state: its LIST on both sides, the pool, and a working export. */
    private void assertStateIntact() throws Exception
    {
        assertEquals(1, producer.list().getAllocationsCount(), "the allocation is still there");
        assertEquals(exported.getId(), producer.list().getBuffers(0).getId(), "and its export");
        assertEquals(exported.getId(), producer.query(exported.getId()).getId(), "QUERY still finds it");
        assertFalse(producer.isBroken(), "the producer's connection survived");
        assertFalse(consumer.isBroken(), "the consumer's connection survived");
        consumer.importBuffer(exported.getId()).close();
        consumer.release(exported.getId());
    }

    @Test
    void unknownIdsAndHandlesAreEnoent() throws Exception
    {
        final BufferId unknown = exported.getId().toBuilder().setNonce(exported.getId().getNonce() + 1).build();
        assertError(ErrorCode.ENOENT, () -> producer.unexport(unknown));
        assertError(ErrorCode.ENOENT, () -> producer.free(allocation.handle() + 1000));
        assertError(ErrorCode.ENOENT, () -> producer.export(allocation.handle() + 1000, vms.source.vm(),
            metadata("video/raw", 1), Access.ACCESS_READ_WRITE));
        assertError(ErrorCode.ENOENT, () -> producer.query(unknown));
        assertError(ErrorCode.ENOENT, () -> consumer.importBuffer(unknown));
        assertError(ErrorCode.ENOENT, () -> consumer.release(exported.getId()));
        assertError(ErrorCode.ENOENT, () -> consumer.fenceWait(unknown, Timeline.TIMELINE_ACQUIRE, 1, 10));
        assertError(ErrorCode.ENOENT, () -> producer.fenceSignal(unknown, Timeline.TIMELINE_ACQUIRE, 1, 0));
        assertError(ErrorCode.ENOENT, () -> producer.unsubscribe(12345));
        assertStateIntact();
    }

    @Test
    void anotherClientsHandlesAndExportsAreNotItsOwn() throws Exception
    {
        final HdmabufClient other = vms.sink.connect();
        assertError(ErrorCode.ENOENT, () -> other.free(allocation.handle()));
        assertError(ErrorCode.ENOENT, () -> other.unexport(exported.getId()));
        assertError(ErrorCode.ENOENT, () -> other.fenceSignal(exported.getId(), Timeline.TIMELINE_ACQUIRE, 1, 0));
        assertEquals(0, other.list().getAllocationsCount(), "LIST shows a client only its own");
        assertStateIntact();
    }

    @Test
    void badInputIsEinvalOrTheErrorOfItsKind() throws Exception
    {
        final long handle = allocation.handle();
        final int source = vms.source.vm();
        assertError(ErrorCode.EINVAL, () -> producer.alloc(0).close());
        assertError(ErrorCode.ENOSPC, () -> producer.alloc(vms.sink.backend().totalBytes() + 4096).close());
        assertError(ErrorCode.EINVAL, () -> producer.export(handle, vms.sink.vm(), metadata("video/raw", 1),
            Access.ACCESS_READ_WRITE));
        assertError(ErrorCode.ENOPEER, () -> producer.export(handle, 77, metadata("video/raw", 1),
            Access.ACCESS_READ_WRITE));
        assertError(ErrorCode.EINVAL, () -> producer.export(handle, source, metadata("video/raw", 1 << 20),
            Access.ACCESS_READ_WRITE));
        assertError(ErrorCode.EINVAL, () -> producer.export(handle, source, Metadata.newBuilder().setVersion(1)
            .setContentType("video/raw").putTags("not a key!", "v").build(), Access.ACCESS_READ_WRITE));
        assertError(ErrorCode.EINVAL, () -> producer.export(handle, source, metadata("video/raw", 1),
            Access.ACCESS_READ_ONLY));
        assertError(ErrorCode.EINVAL, () -> producer.call(Request.newBuilder().setUnexport(Unexport.newBuilder()
            .setId(exported.getId()).setDelayMs((int)SinkRole.MAX_UNEXPORT_DELAY_MS + 1))));
        assertError(ErrorCode.EINVAL, () -> producer.fenceSignal(exported.getId(), Timeline.TIMELINE_RELEASE, 1, 0));
        assertError(ErrorCode.ENOTSUP, () -> consumer.alloc(4096).close());
        assertError(ErrorCode.ENOTSUP, () -> producer.importBuffer(exported.getId()));
        assertError(ErrorCode.ENOTSUP, () -> producer.call(Request.newBuilder()));
        assertStateIntact();
    }
}
