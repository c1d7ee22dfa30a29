package org.hyperdmabuf.sink;

import org.hyperdmabuf.abi.BufferIds;
import org.hyperdmabuf.abi.v1.Access;
import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.abi.v1.Exported;
import org.hyperdmabuf.client.Allocation;
import org.hyperdmabuf.client.HdmabufClient;
import org.hyperdmabuf.client.ReceivedEvent;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;

import static org.hyperdmabuf.sink.TwoVms.assertError;
import static org.hyperdmabuf.sink.TwoVms.awaitEvent;
import static org.hyperdmabuf.sink.TwoVms.event;
import static org.hyperdmabuf.sink.TwoVms.metadata;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Policy files refusing shares (EACCES) and allocations (EDQUOT), and a reload revoking a live export. */
@Timeout(60)
class PolicyRefusalTest
{
    /** The sink is VM 1 and the source VM 2 (TwoVms). */
    private static final String VIDEO_ONLY = """
        [[share]]
        from = 1
        to = 2
        content = "video/*"

        [[share]]
        from = 1
        to = 2
        content = "audio/*"
        read_only = true

        [quota.vm.1]
        buffers = 2
        """;

    @TempDir
    Path dir;
    private TwoVms vms;

    @AfterEach
    void stop()
    {
        if (vms != null)
        {
            vms.close();
        }
    }

    @Test
    void sharesThePolicyDoesNotGrantAreRefusedWithEaccesAndTheAllocationStaysUsable() throws Exception
    {
        vms = TwoVms.start(dir, VIDEO_ONLY, null);
        final HdmabufClient producer = vms.sink.connect();
        final Allocation a = producer.alloc(4096);
        final int target = vms.source.vm();
        assertError(ErrorCode.EACCES, () -> producer.export(a.handle(), target, metadata("text/plain", 1),
            Access.ACCESS_READ_WRITE));
        assertError(ErrorCode.EACCES, () -> producer.export(a.handle(), target, metadata("audio/pcm", 1),
            Access.ACCESS_READ_WRITE));
        assertEquals(0, producer.list().getBuffersCount(), "a refused export leaves nothing behind");
        final Exported ro = producer.export(a.handle(), target, metadata("audio/pcm", 1), Access.ACCESS_READ_ONLY);
        assertEquals(vms.sink.vm(), ro.getId().getExporterVm(), "the read-only rule grants a read-only export");
        // ALLOC declaring its export checks the pair now: no rule grants VM 3 anything.
        assertError(ErrorCode.EACCES, () -> producer.alloc(4096, 3, Access.ACCESS_READ_ONLY).close());
        producer.alloc(4096, target, Access.ACCESS_READ_WRITE).close();
    }

    @Test
    void allocationsBeyondTheVmQuotaAreRefusedWithEdquotUntilOneIsFreed() throws Exception
    {
        vms = TwoVms.start(dir, VIDEO_ONLY, null);
        final HdmabufClient producer = vms.sink.connect();
        final Allocation first = producer.alloc(4096);
        final Allocation second = producer.alloc(4096);
        final long free = vms.sink.backend().freeBytes();
        assertError(ErrorCode.EDQUOT, () -> producer.alloc(4096).close());
        assertEquals(free, vms.sink.backend().freeBytes(), "a refused allocation claims nothing");
        assertTrue(producer.stats().toString().contains("buffers"), "STATS reports the quota: " + producer.stats());
        producer.free(first.handle());
        first.close();
        producer.alloc(4096).close();
        assertEquals(2, producer.list().getAllocationsCount(), "the second allocation and the new one");
        second.close();
    }

    @Test
    void aReloadThatNoLongerGrantsAnExportRevokesIt() throws Exception
    {
        vms = TwoVms.start(dir, VIDEO_ONLY, null);
        final HdmabufClient producer = vms.sink.connect();
        final HdmabufClient consumer = vms.source.connect();
        consumer.subscribe(List.of(), false);
        final Allocation a = producer.alloc(4096);
        final Exported e = producer.export(a.handle(), vms.source.vm(), metadata("video/raw", 1),
            Access.ACCESS_READ_WRITE);
        final String id = BufferIds.format(e.getId());
        awaitEvent(consumer, event("add", "BUFFER", id), "add");
        vms.sink.reloadPolicy(VIDEO_ONLY.replace("video/*", "image/*"));
        final ReceivedEvent remove = awaitEvent(consumer, event("remove", "BUFFER", id), "remove after the reload");
        assertEquals("policy", remove.event().get("REASON"));
        assertError(ErrorCode.ENOENT, () -> producer.unexport(e.getId()));
    }

    @Test
    void theSourcesOwnPolicyRejectsAnExportItsSinkAllowed() throws Exception
    {
        vms = TwoVms.start(dir, null, """
            [[share]]
            from = 1
            to = 2
            content = "audio/*"
            """);
        final HdmabufClient producer = vms.sink.connect();
        final HdmabufClient consumer = vms.source.connect();
        producer.subscribe(List.of(), false);
        consumer.subscribe(List.of(), false);
        final Allocation a = producer.alloc(4096);
        final Exported video = producer.export(a.handle(), vms.source.vm(), metadata("video/raw", 1),
            Access.ACCESS_READ_WRITE);
        final ReceivedEvent rejected = awaitEvent(producer, event("change", "STATE", "rejected"), "the rejection");
        assertEquals(BufferIds.format(video.getId()), rejected.event().get("BUFFER"));
        assertError(ErrorCode.ENOENT, () -> consumer.importBuffer(video.getId()));
        assertEquals(0, consumer.list().getBuffersCount(), "the source stored nothing");
    }
}
