package org.hyperdmabuf.tests.policy;

import org.hyperdmabuf.abi.BufferIds;
import org.hyperdmabuf.abi.v1.Access;
import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.abi.v1.Exported;
import org.hyperdmabuf.abi.v1.Metadata;
import org.hyperdmabuf.client.Allocation;
import org.hyperdmabuf.client.Fence;
import org.hyperdmabuf.client.HdmabufClient;
import org.hyperdmabuf.client.HdmabufException;
import org.hyperdmabuf.client.ImportedBuffer;
import org.hyperdmabuf.tests.support.SystemTest;
import org.hyperdmabuf.tests.support.TwoVmSystem;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Policy on the xen backend over the Xen emulation: the sink refuses forbidden exports with EACCES before any
 * grant is made, and a permitted read-only export is a read-only grant (the sink runs alloc-access=ro), which the
 * consumer's mapping cannot write; its fences work through the buffer's fence page and its daemon.
 */
@SystemTest
class XenPolicyTest
{
    private static final Duration TIMEOUT = Duration.ofSeconds(20);

    @Test
    void forbiddenExportsAreEaccesAndTheAllowedOneIsAReadOnlyGrantWithFences() throws Exception
    {
        final Path policyDir = Files.createTempDirectory(Path.of("/tmp"), "hdxp");
        final Path policy = policyDir.resolve("sink.toml");
        Files.writeString(policy, String.join("\n", "[vms]", "producer = 1", "consumer = 2", "",
            "[[share]]", "from = \"producer\"", "to = [\"consumer\"]", "content = [\"video/*\"]", "read_only = true",
            ""));
        final TwoVmSystem system = TwoVmSystem.startXenInTempDir("hdx", 1024,
            List.of("--policy", policy.toString(), "--policy-dir", policyDir.resolve("none.d").toString(),
                "-O", "alloc-access=ro"), List.of());
        try (HdmabufClient producer = HdmabufClient.connect(system.sinkSocket());
             HdmabufClient consumer = HdmabufClient.connect(system.sourceSocket());
             Allocation a = producer.alloc(4096))
        {
            consumer.subscribe(List.of(), false);
            assertEquals(ErrorCode.EACCES, assertThrows(HdmabufException.class, () ->
                producer.export(a.handle(), 2, meta("text/plain"), Access.ACCESS_READ_ONLY)).code(), "content");
            final HdmabufException rw = assertThrows(HdmabufException.class, () ->
                producer.export(a.handle(), 2, meta("video/raw"), Access.ACCESS_READ_WRITE));
            assertEquals(ErrorCode.EACCES, rw.code(), "read-only required");
            assertTrue(rw.getMessage().contains("read-only"), rw.getMessage());
            final Exported ok = producer.export(a.handle(), 2, meta("video/raw"), Access.ACCESS_READ_ONLY);
            final var add = consumer.nextEvent(TIMEOUT);
            assertEquals("add", add.event().action(), "the first event is the allowed export");
            assertEquals(BufferIds.format(ok.getId()), add.event().get("BUFFER"));
            a.buffer().bytes().putLong(0, 0xC0FFEEL);
            try (Fence mine = producer.fence(a, ok); ImportedBuffer imported = consumer.importBuffer(ok.getId()))
            {
                assertTrue(imported.buffer().isReadOnly());
                assertEquals(0xC0FFEEL, imported.buffer().bytes().getLong(0));
                // The read-only importer's fences: acquire read from the fence page, release through its daemon.
                mine.signal(3);
                assertEquals(3, imported.fence().await(3, TIMEOUT, Fence.WaitStrategy.SPIN));
                imported.fence().signal(3, 77);
                assertEquals(3, mine.await(3, TIMEOUT, Fence.WaitStrategy.SPIN));
                assertEquals(77, mine.error());
            }
            consumer.release(ok.getId());
            producer.unexport(ok.getId());
        }
        finally
        {
            system.closeAndVerify();
            try (var files = Files.walk(policyDir))
            {
                files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    private static Metadata meta(final String contentType)
    {
        return Metadata.newBuilder().setVersion(1).setContentType(contentType).build();
    }
}
