package org.hyperdmabuf.tests.e2e;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnknownFieldSet;
import org.hyperdmabuf.abi.BufferIds;
import org.hyperdmabuf.abi.UEvent;
import org.hyperdmabuf.abi.v1.Access;
import org.hyperdmabuf.abi.v1.AudioInfo;
import org.hyperdmabuf.abi.v1.BufferId;
import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.abi.v1.ImageInfo;
import org.hyperdmabuf.abi.v1.Metadata;
import org.hyperdmabuf.abi.v1.Plane;
import org.hyperdmabuf.abi.v1.QueryCaps;
import org.hyperdmabuf.abi.v1.Request;
import org.hyperdmabuf.abi.v1.Response;
import org.hyperdmabuf.abi.v1.ServerFrame;
import org.hyperdmabuf.client.Allocation;
import org.hyperdmabuf.client.HdmabufClient;
import org.hyperdmabuf.client.HdmabufException;
import org.hyperdmabuf.client.ImportedBuffer;
import org.hyperdmabuf.tests.support.SystemTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.hyperdmabuf.tests.e2e.E2e.TIMEOUT;
import static org.hyperdmabuf.tests.e2e.E2e.awaitPoolFree;
import static org.hyperdmabuf.tests.e2e.E2e.errorOf;
import static org.hyperdmabuf.tests.e2e.E2e.nextEvent;
import static org.hyperdmabuf.tests.e2e.E2e.poolFree;
import static org.hyperdmabuf.tests.e2e.E2e.rule;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Bad input gets a typed error and leaves no trace; a broken connection never harms other clients; memory
 * always returns to the pool, to the byte.
 */
// "try": an import held open by try-with-resources for the duration of a check.
@SystemTest
@SuppressWarnings("try")
class ErrorHandlingTest extends WholePoolSystemTest
{
    private static final long REGION = 64L << 20;
    private static final int PAGE = 4096;
    private static final int SMALL = 16 * PAGE;

    @Override
    protected long regionSize()
    {
        return REGION;
    }

    private String backendName()
    {
        return xen() ? "xen" : "kvm-ivshmem";
    }

    private static Metadata.Builder valid(final String test)
    {
        return Metadata.newBuilder().setVersion(1).setContentType("application/octet-stream").setSize(SMALL)
            .putTags("test", test);
    }

    @Test
    void metadataOverAnyLimitIsRejectedAndNothingIsExported() throws Exception
    {
        final Map<String, Metadata> invalid = new LinkedHashMap<>();
        invalid.put("private_data of 4097 bytes", valid("limits").setPrivateData(ByteString.copyFrom(new byte[4097]))
            .build());
        final Metadata.Builder manyTags = valid("limits");
        for (int i = 0; manyTags.getTagsCount() < 65; i++)
        {
            manyTags.putTags("k" + i, "v");
        }
        invalid.put("65 tags", manyTags.build());
        invalid.put("tag key with a space", valid("limits").putTags("bad key", "v").build());
        invalid.put("tag key with '='", valid("limits").putTags("a=b", "v").build());
        invalid.put("empty tag key", valid("limits").putTags("", "v").build());
        invalid.put("tag key of 65 bytes", valid("limits").putTags("k".repeat(65), "v").build());
        invalid.put("tag value of 1025 bytes", valid("limits").putTags("long", "v".repeat(1025)).build());
        invalid.put("tag value with a newline", valid("limits").putTags("nl", "a\nb").build());
        invalid.put("content_type of 128 bytes", valid("limits").setContentType("x".repeat(128)).build());
        invalid.put("metadata.size > buffer length", valid("limits").setSize(SMALL + 1).build());
        invalid.put("image plane past the end", valid("limits").setImage(ImageInfo.newBuilder().setWidth(64)
            .setHeight(64).addPlanes(Plane.newBuilder().setOffset(PAGE).setStride(PAGE))).build());
        invalid.put("image plane starting past the end", valid("limits").setImage(ImageInfo.newBuilder().setWidth(1)
            .setHeight(1).addPlanes(Plane.newBuilder().setOffset(SMALL + 1).setStride(1))).build());
        invalid.put("5 image planes", valid("limits").setImage(ImageInfo.newBuilder().setWidth(1).setHeight(1)
            .addPlanes(plane(0)).addPlanes(plane(1)).addPlanes(plane(2)).addPlanes(plane(3)).addPlanes(plane(4)))
            .build());
        invalid.put("audio rate 0", valid("limits").setAudio(AudioInfo.newBuilder().setChannels(2)).build());
        invalid.put("version 2", valid("limits").setVersion(2).build());
        final Metadata.Builder big = valid("limits");
        for (int i = 0; i < 9; i++)
        {
            big.putTags("t" + i, "v".repeat(1000));
        }
        invalid.put("9 KB encoded", big.build());

        try (HdmabufClient producer = HdmabufClient.connect(system.sinkSocket());
             HdmabufClient consumer = HdmabufClient.connect(system.sourceSocket());
             Allocation a = producer.alloc(SMALL))
        {
            consumer.subscribe(List.of(), false); // every event, from anyone
            for (final Map.Entry<String, Metadata> m : invalid.entrySet())
            {
                assertEquals(ErrorCode.EINVAL, errorOf(() -> producer.export(a.handle(), system.sourceVm(),
                    m.getValue(), Access.ACCESS_READ_WRITE)), m.getKey());
            }
            assertEquals(0, producer.list().getBuffersCount(), "exports after rejected EXPORTs");

            // Positive control: the first event the consumer sees is the valid export that follows.
            final BufferId id = producer.export(a.handle(), system.sourceVm(), valid("limits").build(),
                Access.ACCESS_READ_WRITE).getId();
            nextEvent(consumer, "add", BufferIds.format(id));
            producer.unexport(id);
            nextEvent(consumer, "remove", BufferIds.format(id));
            producer.free(a.handle());
        }
    }

    /**
     * ABI.md "Metadata limits": offset + stride * height <= buffer length, "computed without overflow (a
     * product or sum that overflows 64 bits is EINVAL)". 0xffffffff * 0xffffffff does not fit a signed long.
     */
    @Test
    void imagePlaneBoundsAreCheckedWithoutOverflow() throws Exception
    {
        expectRejected("plane-overflow", valid("plane-overflow").setImage(ImageInfo.newBuilder().setWidth(1)
            .setHeight(0xffffffff).addPlanes(Plane.newBuilder().setOffset(0).setStride(0xffffffff))).build());
    }

    /** ABI.md "Metadata limits": version 1 (0 is treated as 1); any other value is EINVAL. uint32 on the wire. */
    @Test
    void metadataVersionAboveOneIsRejectedOverTheWholeUint32Range() throws Exception
    {
        expectRejected("version-2", valid("version-2").setVersion(2).build());
        expectRejected("version-max", valid("version-max").setVersion(0xffffffff).build());
    }

    /** Exports {@code m}, expecting EINVAL; if the daemon accepts it, withdraws it again and fails. */
    private void expectRejected(final String test, final Metadata m) throws Exception
    {
        try (HdmabufClient producer = HdmabufClient.connect(system.sinkSocket());
             HdmabufClient consumer = HdmabufClient.connect(system.sourceSocket());
             Allocation a = producer.alloc(SMALL))
        {
            consumer.subscribe(List.of(rule("TAG_TEST=" + test)), false);
            final BufferId id;
            try
            {
                id = producer.export(a.handle(), system.sourceVm(), m, Access.ACCESS_READ_WRITE).getId();
            }
            catch (final HdmabufException e)
            {
                assertEquals(ErrorCode.EINVAL, e.code(), e.getMessage());
                return;
            }
            final UEvent add = nextEvent(consumer, "add", BufferIds.format(id));
            producer.unexport(id);
            fail("the sink accepted invalid metadata and VM " + system.sourceVm() + " received it too: " +
                add.properties());
        }
    }

    @Test
    void malformedFrameGetsEbadmsgAndTheConnectionStaysUsable() throws Exception
    {
        try (HdmabufClient other = HdmabufClient.connect(system.sinkSocket());
             RawConnection raw = RawConnection.open(system.sinkSocket()))
        {
            raw.write(new byte[] {5, (byte)0xff, (byte)0xff, (byte)0xff, (byte)0xff, (byte)0xff},
                RawConnection.frame(Request.newBuilder().setRequestId(7).setQueryCaps(QueryCaps.getDefaultInstance())
                    .build()));
            final Response bad = raw.readFrame(TIMEOUT).getResponse();
            assertEquals(0, bad.getRequestId());
            assertEquals(ErrorCode.EBADMSG, bad.getError());
            assertEquals(backendName(), other.caps().getBackend(), "another client of the same daemon");
            final Response next = raw.readFrame(TIMEOUT).getResponse();
            assertEquals(7, next.getRequestId(), "the request after the malformed frame");
            assertEquals(ErrorCode.OK, next.getError());
            assertEquals(backendName(), next.getCaps().getBackend());
        }
    }

    @Test
    void oversizeFrameGetsEmsgsizeAndOnlyThatConnectionIsClosed() throws Exception
    {
        try (HdmabufClient other = HdmabufClient.connect(system.sinkSocket()))
        {
            final List<byte[]> prefixes = List.of(RawConnection.varint(10_000_000),
                new byte[] {(byte)0xff, (byte)0xff, (byte)0xff, (byte)0xff, (byte)0xff, 1}); // 6-byte varint
            for (final byte[] prefix : prefixes)
            {
                try (RawConnection raw = RawConnection.open(system.sinkSocket()))
                {
                    raw.write(prefix, new byte[] {1, 2, 3, 4});
                    final ServerFrame f = raw.readFrame(TIMEOUT);
                    assertEquals(0, f.getResponse().getRequestId());
                    assertEquals(ErrorCode.EMSGSIZE, f.getResponse().getError());
                    assertTrue(raw.awaitClosed(TIMEOUT));
                }
                assertEquals(backendName(), other.caps().getBackend(), "another client of the same daemon");
                final Allocation a = other.alloc(PAGE);
                other.free(a.handle());
                a.close();
            }
        }
        try (HdmabufClient source = HdmabufClient.connect(system.sourceSocket());
             RawConnection raw = RawConnection.open(system.sourceSocket()))
        {
            raw.write(RawConnection.varint(65537), new byte[] {0});
            assertEquals(ErrorCode.EMSGSIZE, raw.readFrame(TIMEOUT).getResponse().getError());
            assertTrue(raw.awaitClosed(TIMEOUT));
            assertEquals(system.sourceVm(), source.caps().getLocalVm());
        }
    }

    /**
     * Regression: a 5-byte length prefix whose last byte is above 0x0F (2^32 and more) was taken modulo 2^32, so
     * {@code 80 80 80 80 10} read as an empty frame, answered ENOTSUP on a connection kept open.
     */
    @Test
    @Timeout(120)
    void aLengthPrefixOf2To32OrMoreGetsEmsgsizeNotAWrappedLength() throws Exception
    {
        final List<byte[]> prefixes = List.of(
            new byte[] {(byte)0x80, (byte)0x80, (byte)0x80, (byte)0x80, 0x10}, // 2^32: 0 modulo 2^32
            new byte[] {(byte)0x85, (byte)0x80, (byte)0x80, (byte)0x80, 0x10}); // 2^32 + 5: 5 modulo 2^32
        for (final byte[] prefix : prefixes)
        {
            try (RawConnection raw = RawConnection.open(system.sinkSocket()))
            {
                raw.write(prefix, RawConnection.frame(Request.newBuilder().setRequestId(3)
                    .setQueryCaps(QueryCaps.getDefaultInstance()).build()));
                final Response r = raw.readFrame(TIMEOUT).getResponse();
                assertEquals(ErrorCode.EMSGSIZE, r.getError(), r.getMessage());
                assertEquals(0, r.getRequestId());
                assertTrue(raw.awaitClosed(TIMEOUT));
            }
        }
    }

    /** Regression: the size of an ALLOC of 2^63 bytes or more was printed as a negative number. */
    @Test
    @Timeout(120)
    void aHugeAllocIsRefusedWithItsSizeAsGiven() throws Exception
    {
        try (HdmabufClient producer = HdmabufClient.connect(system.sinkSocket()))
        {
            for (final long size : new long[] {Long.MIN_VALUE, -1L})
            {
                final HdmabufException e = assertThrows(HdmabufException.class, () -> producer.alloc(size));
                assertEquals(ErrorCode.EINVAL, e.code(), e.getMessage());
                assertTrue(e.getMessage().contains("size " + Long.toUnsignedString(size) + " "), e.getMessage());
            }
        }
    }

    @Test
    void badRequestsGetTypedErrors() throws Exception
    {
        try (HdmabufClient producer = HdmabufClient.connect(system.sinkSocket());
             HdmabufClient intruder = HdmabufClient.connect(system.sinkSocket());
             HdmabufClient consumer = HdmabufClient.connect(system.sourceSocket());
             Allocation a = producer.alloc(SMALL))
        {
            // ABI.md "Error codes": ENOTSUP for "a Request without a known op" (none, or one from a newer ABI).
            assertEquals(ErrorCode.ENOTSUP, errorOf(() -> producer.call(Request.newBuilder())), "no operation");
            assertEquals(ErrorCode.ENOTSUP, errorOf(() -> producer.call(Request.newBuilder().setUnknownFields(
                UnknownFieldSet.newBuilder().addField(99, UnknownFieldSet.Field.newBuilder().addVarint(1).build())
                    .build()))), "operation unknown to ABI v1");
            assertEquals(ErrorCode.EINVAL, errorOf(() -> producer.alloc(0)), "ALLOC 0");
            final BufferId someId = BufferId.newBuilder().setExporterVm(system.sinkVm()).setExportNumber(1).build();
            assertEquals(ErrorCode.ENOTSUP, errorOf(() -> producer.importBuffer(someId)), "IMPORT on the sink");
            assertEquals(ErrorCode.ENOTSUP, errorOf(() -> consumer.alloc(PAGE)), "ALLOC on the source");
            assertEquals(ErrorCode.ENOENT, errorOf(() -> consumer.unsubscribe(12345)), "unknown subscription");

            final long free = poolFree(producer);
            assertEquals(ErrorCode.ENOSPC, errorOf(() -> producer.alloc(REGION + PAGE)), "ALLOC beyond the region");
            assertEquals(free, poolFree(producer), "pool changed by a failed ALLOC");
            if (xen())
            {
                // Beyond max_buffer_size on xen: the message names the gntalloc limit that bounds it.
                final HdmabufException beyond = assertThrows(HdmabufException.class,
                    () -> producer.alloc(REGION + PAGE));
                assertTrue(beyond.getMessage().contains("/sys/module/xen_gntalloc/parameters/limit"),
                    beyond.getMessage());
            }

            final BufferId id = producer.export(a.handle(), system.sourceVm(), valid("errors").build(),
                Access.ACCESS_READ_WRITE).getId();
            assertEquals(ErrorCode.ENOENT, errorOf(() -> intruder.export(a.handle(), system.sourceVm(),
                valid("errors").build(), Access.ACCESS_READ_WRITE)), "EXPORT of another client's handle");
            assertEquals(ErrorCode.ENOENT, errorOf(() -> intruder.free(a.handle())), "FREE of another's handle");
            assertEquals(ErrorCode.ENOENT, errorOf(() -> intruder.unexport(id)), "UNEXPORT of another's export");
            assertEquals(ErrorCode.ENOENT, errorOf(() -> intruder.query(id)), "QUERY of another's export");
            assertEquals(0, intruder.list().getBuffersCount() + intruder.list().getAllocationsCount());
            assertEquals(ErrorCode.EINVAL, errorOf(() -> producer.export(a.handle(), system.sourceVm(),
                valid("errors").build(), Access.ACCESS_READ_ONLY)), "access change on re-export");
            assertEquals(ErrorCode.EINVAL, errorOf(() -> producer.export(a.handle(), system.sinkVm(),
                valid("errors").build(), Access.ACCESS_READ_WRITE)), "export to itself");
            assertEquals(ErrorCode.ENOPEER, errorOf(() -> producer.export(a.handle(), 7,
                valid("errors").build(), Access.ACCESS_READ_WRITE)), "export to an absent VM");
            assertEquals(system.sourceVm(), producer.query(id).getTargetVm(), "the owner still has its export");
            producer.free(a.handle());
            assertEquals(ErrorCode.ENOENT, errorOf(() -> producer.free(a.handle())), "double FREE");
        }
    }

    @Test
    void poolReturnsExactlyToItsInitialSize() throws Exception
    {
        final int chunk = 8 << 20;
        try (HdmabufClient producer = HdmabufClient.connect(system.sinkSocket());
             HdmabufClient consumer = HdmabufClient.connect(system.sourceSocket()))
        {
            assertEquals(initialFree, poolFree(producer));
            final List<Allocation> held = new ArrayList<>();
            HdmabufException full = null;
            while (full == null && held.size() < 64)
            {
                try
                {
                    held.add(producer.alloc(chunk));
                }
                catch (final HdmabufException e)
                {
                    full = e;
                }
            }
            assertTrue(full != null && full.code() == ErrorCode.ENOSPC, "allocating until the pool is full: " + full);
            if (xen())
            {
                // On xen the pool is the domain's gntalloc page limit; the message says what to raise.
                assertTrue(full.getMessage().contains("gntalloc"), full.getMessage());
            }
            assertTrue(held.size() >= 2, "allocations before ENOSPC: " + held.size());
            assertEquals(initialFree - held.size() * poolCost(chunk), poolFree(producer));
            for (final Allocation a : held)
            {
                producer.free(a.handle());
                a.close();
            }
            awaitPoolFree(producer, initialFree);

            consumer.subscribe(List.of(rule("TAG_TEST=cycle")), false);
            producer.subscribe(List.of(), false);
            for (int i = 0; i < 6; i++)
            {
                // Even cycles release before unexport; odd ones unexport and free while still imported.
                final int size = chunk / 8 + i * PAGE + 1;
                try (Allocation a = producer.alloc(size))
                {
                    final BufferId id = producer.export(a.handle(), system.sourceVm(), valid("cycle").setSize(0)
                        .build(), Access.ACCESS_READ_WRITE).getId();
                    final String idText = BufferIds.format(id);
                    nextEvent(consumer, "add", idText);
                    try (ImportedBuffer b = consumer.importBuffer(id))
                    {
                        E2e.awaitEvent(producer, "change", idText, "imported");
                        if (i % 2 == 0)
                        {
                            consumer.release(id);
                            producer.unexport(id);
                            nextEvent(consumer, "remove", idText);
                        }
                        else
                        {
                            producer.unexport(id);
                            nextEvent(consumer, "remove", idText);
                            producer.free(a.handle());
                            assertEquals(initialFree - poolCost(size), poolFree(producer),
                                "freed while imported: the pages must stay pinned");
                            consumer.release(id);
                        }
                    }
                    if (i % 2 == 0)
                    {
                        producer.free(a.handle());
                    }
                }
            }
            awaitPoolFree(producer, initialFree);
        }
    }

    @Test
    void disconnectFreesAllocationsAndRemovesExports() throws Exception
    {
        final int size = 1 << 20;
        try (HdmabufClient consumer = HdmabufClient.connect(system.sourceSocket());
             HdmabufClient observer = HdmabufClient.connect(system.sinkSocket()))
        {
            consumer.subscribe(List.of(rule("TAG_TEST=disconnect")), false);
            final Set<String> exported = new HashSet<>();
            final BufferId imported;
            final List<Allocation> mappings = new ArrayList<>();
            final HdmabufClient producer = HdmabufClient.connect(system.sinkSocket());
            try
            {
                producer.subscribe(List.of(), false);
                for (int i = 0; i < 3; i++)
                {
                    final Allocation a = producer.alloc(size);
                    mappings.add(a);
                    if (i < 2)
                    {
                        exported.add(BufferIds.format(producer.export(a.handle(), system.sourceVm(),
                            valid("disconnect").build(), Access.ACCESS_READ_WRITE).getId()));
                    }
                }
                final Set<String> added = new HashSet<>();
                for (int i = 0; i < 2; i++)
                {
                    final UEvent add = nextEvent(consumer);
                    assertEquals("add", add.action());
                    added.add(add.get("BUFFER"));
                }
                assertEquals(exported, added);
                assertEquals(initialFree - 3 * poolCost(size), poolFree(observer));
                imported = BufferIds.parse(exported.iterator().next());
                consumer.importBuffer(imported).close();
                E2e.awaitEvent(producer, "change", BufferIds.format(imported), "imported");
            }
            finally
            {
                producer.close();
                mappings.forEach(Allocation::close);
            }
            final Set<String> removed = new HashSet<>();
            for (int i = 0; i < 2; i++)
            {
                final UEvent remove = nextEvent(consumer);
                assertEquals("remove", remove.action());
                assertEquals("unexported", remove.get("REASON"));
                removed.add(remove.get("BUFFER"));
            }
            assertEquals(exported, removed);
            // Everything but the buffer the consumer still holds is back.
            awaitPoolFree(observer, initialFree - poolCost(size));
            consumer.release(imported);
            awaitPoolFree(observer, initialFree);
        }
    }

    private static Plane plane(final int i)
    {
        return Plane.newBuilder().setOffset((long)i * PAGE).setStride(PAGE).build();
    }
}
