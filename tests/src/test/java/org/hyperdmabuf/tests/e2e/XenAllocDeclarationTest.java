package org.hyperdmabuf.tests.e2e;

import org.hyperdmabuf.abi.BufferIds;
import org.hyperdmabuf.abi.v1.Access;
import org.hyperdmabuf.abi.v1.Alloc;
import org.hyperdmabuf.abi.v1.BufferId;
import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.abi.v1.Import;
import org.hyperdmabuf.abi.v1.Imported;
import org.hyperdmabuf.abi.v1.Metadata;
import org.hyperdmabuf.abi.v1.Request;
import org.hyperdmabuf.client.Allocation;
import org.hyperdmabuf.client.HdmabufClient;
import org.hyperdmabuf.client.HdmabufException;
import org.hyperdmabuf.client.ImportedBuffer;
import org.hyperdmabuf.hv.nativeio.MappedMemory;
import org.hyperdmabuf.hv.nativeio.Native;
import org.hyperdmabuf.hv.nativeio.NativeIoException;
import org.hyperdmabuf.tests.support.SystemTest;
import org.hyperdmabuf.tests.support.TwoVmSystem;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.hyperdmabuf.tests.e2e.E2e.errorOf;
import static org.hyperdmabuf.tests.e2e.E2e.nextEvent;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * ALLOC declaring its export target and access (ABI.md "ALLOC") on the xen backend over the Xen emulation:
 * gntalloc fixes grantee and access when the pages are made, which for an ALLOC is before any export, so the
 * declaration is what lets one sink (alloc-access=rw, the default) export one buffer read-only and another
 * read-write. The policy allows dom1 -> dom2 read-only only.
 */
@SystemTest
class XenAllocDeclarationTest
{
    private static Path policyDir;
    private static TwoVmSystem system;

    @BeforeAll
    static void start() throws Exception
    {
        policyDir = Files.createTempDirectory(Path.of("/tmp"), "hdxa");
        final Path policy = policyDir.resolve("sink.toml");
        Files.writeString(policy, String.join("\n", "[vms]", "producer = 1", "consumer = 2", "",
            "[[share]]", "from = \"producer\"", "to = [\"consumer\"]", "content = [\"*\"]", "read_only = true", ""));
        system = TwoVmSystem.startXenInTempDir("hdxa", 1024,
            List.of("--policy", policy.toString(), "--policy-dir", policyDir.resolve("none.d").toString()), List.of());
    }

    @AfterAll
    static void stop() throws Exception
    {
        try
        {
            system.closeAndVerify();
        }
        finally
        {
            try (var files = Files.walk(policyDir))
            {
                files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    @Test
    void aDeclaredReadOnlyAllocationIsAReadOnlyGrantTheConsumerCannotMapWritable() throws Exception
    {
        try (HdmabufClient producer = HdmabufClient.connect(system.sinkSocket());
             HdmabufClient consumer = HdmabufClient.connect(system.sourceSocket());
             Allocation a = producer.alloc(3 * 4096, system.sourceVm(), Access.ACCESS_READ_ONLY))
        {
            consumer.subscribe(List.of(), false);
            a.buffer().bytes().putLong(8192, 0xFEEDFACEL);
            final BufferId id = producer.export(a.handle(), system.sourceVm(), meta(), Access.ACCESS_READ_ONLY).getId();
            final String idText = BufferIds.format(id);
            assertEquals("ro", nextEvent(consumer, "add", idText).get("ACCESS"));
            try (ImportedBuffer imported = consumer.importBuffer(id))
            {
                assertTrue(imported.buffer().isReadOnly());
                assertEquals(0xFEEDFACEL, imported.buffer().bytes().getLong(8192), "the producer's bytes");
            }
            consumer.release(id);
            // The grant itself is read-only: the fd IMPORT hands out cannot be mapped writable.
            final HdmabufClient.Reply raw = consumer.call(Request.newBuilder().setImport(Import.newBuilder().setId(id)));
            final Imported i = raw.response().getImported();
            try
            {
                assertThrows(NativeIoException.class, () -> MappedMemory.map(raw.fds()[0], i.getOffset(),
                    i.getLength(), false).close(), "a writable mapping of a read-only grant");
                try (MappedMemory ro = MappedMemory.map(raw.fds()[0], i.getOffset(), i.getLength(), true))
                {
                    assertEquals(0xFEEDFACEL, ro.buffer().getLong(8192));
                }
            }
            finally
            {
                Native.closeQuietly(raw.fds()[0]);
                consumer.release(id);
            }
            // Re-exporting it read-write: the policy refuses first (the grant could not change anyway).
            producer.unexport(id);
            nextEvent(consumer, "remove", idText);
            assertEquals(ErrorCode.EACCES, errorOf(() -> producer.export(a.handle(), system.sourceVm(), meta(),
                Access.ACCESS_READ_WRITE)), "the policy still decides first");
            producer.free(a.handle());
        }
    }

    @Test
    void aDeclaredTargetOrAccessThePolicyForbidsIsEaccesAtAlloc() throws Exception
    {
        try (HdmabufClient producer = HdmabufClient.connect(system.sinkSocket()))
        {
            final long free = producer.caps().getPoolFreeBytes();
            final HdmabufException other = assertThrows(HdmabufException.class,
                () -> producer.alloc(4096, 3, Access.ACCESS_READ_ONLY));
            assertEquals(ErrorCode.EACCES, other.code(), other.getMessage());
            final HdmabufException rw = assertThrows(HdmabufException.class,
                () -> producer.alloc(4096, system.sourceVm(), Access.ACCESS_READ_WRITE));
            assertEquals(ErrorCode.EACCES, rw.code());
            assertTrue(rw.getMessage().contains("read-only"), rw.getMessage());
            assertEquals(ErrorCode.EINVAL, errorOf(() -> producer.alloc(4096, system.sinkVm(),
                Access.ACCESS_READ_ONLY)), "this VM");
            assertEquals(ErrorCode.EINVAL, errorOf(() -> producer.call(Request.newBuilder().setAlloc(
                Alloc.newBuilder().setSize(4096).setAccessValue(7)))), "unknown access");
            assertEquals(free, producer.caps().getPoolFreeBytes(), "refused ALLOCs took no pages");
        }
    }

    @Test
    void anUndeclaredAllocationKeepsTheDaemonDefaults() throws Exception
    {
        try (HdmabufClient producer = HdmabufClient.connect(system.sinkSocket());
             Allocation a = producer.alloc(4096))
        {
            final HdmabufException e = assertThrows(HdmabufException.class, () -> producer.export(a.handle(),
                system.sourceVm(), meta(), Access.ACCESS_READ_ONLY));
            assertEquals(ErrorCode.EINVAL, e.code(), "alloc-access=rw granted it writable");
            assertTrue(e.getMessage().contains("granted writable"), e.getMessage());
            producer.free(a.handle());
        }
    }

    private static Metadata meta()
    {
        return Metadata.newBuilder().setVersion(1).setContentType("video/raw").build();
    }
}
