package org.hyperdmabuf.hv.conformance;

import org.hyperdmabuf.hv.nativeio.Errno;
import org.hyperdmabuf.hv.nativeio.MappedMemory;
import org.hyperdmabuf.hv.nativeio.Native;
import org.hyperdmabuf.hv.nativeio.NativeIoException;
import org.hyperdmabuf.hv.shm.FenceSlotDescriptor;
import org.hyperdmabuf.hv.shm.MemoryWindow;
import org.hyperdmabuf.hv.spi.BackendBuffer;
import org.hyperdmabuf.hv.spi.BackendException;
import org.hyperdmabuf.hv.spi.BackendListener;
import org.hyperdmabuf.hv.spi.Capabilities;
import org.hyperdmabuf.hv.spi.ClientMapping;
import org.hyperdmabuf.hv.spi.BackendCapability;
import org.hyperdmabuf.hv.spi.FenceRef;
import org.hyperdmabuf.hv.spi.FenceSlots;
import org.hyperdmabuf.hv.spi.HypervisorBackend;
import org.hyperdmabuf.hv.spi.PeerFenceDoorbells;
import org.hyperdmabuf.hv.spi.PeerInfo;
import org.hyperdmabuf.hv.spi.PeerMemoryReclaim;
import org.hyperdmabuf.hv.spi.ShareRef;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The backend conformance kit (the kselftest of hyperdmabuf): every {@link HypervisorBackend} runs these
 * tests through a subclass that provides a {@link Fabric}, a set of endpoints ("VMs") that can reach each other.
 * Nothing is mocked: a fabric is real shared memory and real doorbells, or a faithful emulation of them.
 */
public abstract class BackendConformanceTest
{
    private static final Set<String> ENFORCEMENTS = Set.of("hypervisor", "daemon", "none");
    private static final Set<String> ISOLATIONS = Set.of("per-buffer", "shared-region");

    /** Endpoints of one sharing fabric; closing it closes every endpoint it started. */
    protected interface Fabric extends AutoCloseable
    {
        /** Creates a new endpoint on this fabric and starts it with {@code listener}. */
        HypervisorBackend start(BackendListener listener) throws Exception;

        @Override
        void close() throws IOException;
    }

    /** A started backend and what its listener recorded. */
    protected record Endpoint(HypervisorBackend backend, RecordingListener listener)
    {
        int vm()
        {
            return backend.localVm();
        }
    }

    private Fabric fabric;
    private final List<HypervisorBackend> started = new ArrayList<>();

    /** A fresh fabric per test. */
    protected abstract Fabric newFabric() throws Exception;

    /**
     * Whether the backend has a fence table ({@link FenceSlots} with slots of their own). One without it (the xen
     * backend, whose slots live in buffers) must refuse a slot without a buffer with ENOTSUP, which the fence tests
     * then check instead, through the capability or, for a backend without one, through what callers fall back on.
     */
    protected boolean hasFenceSlots()
    {
        return true;
    }

    private boolean checkedNoFenceSlots() throws Exception
    {
        if (hasFenceSlots())
        {
            return false;
        }
        final HypervisorBackend backend = startEndpoint().backend();
        final FenceSlots fences = FenceSlots.of(backend);
        assertError("ENOTSUP", fences::allocateFence);
        assertFalse(fences.validateFence(backend.localVm(), 0), "no slot is valid without a fence table");
        return true;
    }

    /** Bound on every wait for a peer event or message. */
    protected Duration eventTimeout()
    {
        return Duration.ofSeconds(10);
    }

    @BeforeEach
    void createFabric() throws Exception
    {
        fabric = newFabric();
    }

    @AfterEach
    void closeFabric() throws Exception
    {
        for (final HypervisorBackend backend : started)
        {
            backend.close();
        }
        started.clear();
        if (fabric != null)
        {
            fabric.close();
        }
    }

    protected Endpoint startEndpoint() throws Exception
    {
        final RecordingListener listener = new RecordingListener();
        final HypervisorBackend backend = fabric.start(listener);
        started.add(backend);
        return new Endpoint(backend, listener);
    }

    /** Two endpoints that have seen each other come up. */
    protected Endpoint[] startPair() throws Exception
    {
        final Endpoint a = startEndpoint();
        final Endpoint b = startEndpoint();
        awaitUp(a, b);
        awaitUp(b, a);
        return new Endpoint[] {a, b};
    }

    private void awaitUp(final Endpoint observer, final Endpoint peer)
    {
        observer.listener().await(l -> l.sawPeerUp(peer.vm(), peer.backend().sessionId()), eventTimeout(),
            "VM " + observer.vm() + " to see VM " + peer.vm() + " (session " +
            Long.toHexString(peer.backend().sessionId()) + ") up");
    }

    @Test
    void capabilitiesAreSane() throws Exception
    {
        final Endpoint a = startEndpoint();
        final HypervisorBackend backend = a.backend();
        final Capabilities caps = backend.capabilities();
        assertEquals(backend.name(), caps.backend(), "caps name the backend");
        assertEquals(backend.localVm(), caps.localVm(), "caps.localVm matches localVm()");
        assertTrue(caps.localVm() >= 0, "local VM id is non-negative: " + caps.localVm());
        assertTrue(caps.pageSize() >= 4096 && Integer.bitCount(caps.pageSize()) == 1,
            "page size is a power of two >= 4096: " + caps.pageSize());
        assertTrue(ENFORCEMENTS.contains(caps.readOnlyEnforcement()),
            "readOnlyEnforcement in " + ENFORCEMENTS + ": " + caps.readOnlyEnforcement());
        assertTrue(ISOLATIONS.contains(caps.isolation()), "isolation in " + ISOLATIONS + ": " + caps.isolation());
        assertTrue(caps.maxBufferSize() >= caps.pageSize(), "max buffer size holds a page: " + caps.maxBufferSize());
        assertTrue(caps.maxBufferSize() <= backend.totalBytes(), "max buffer size fits the total memory");
        assertTrue(backend.totalBytes() > 0 && backend.totalBytes() % caps.pageSize() == 0,
            "total bytes are whole pages: " + backend.totalBytes());
        assertEquals(backend.totalBytes(), backend.freeBytes(), "a fresh fabric has all memory free");
        assertNotEquals(0L, backend.sessionId(), "a session id is chosen");
        assertTrue(backend.maxMessageLength() >= 1024, "messages of 1 KiB fit: " + backend.maxMessageLength());
    }

    @Test
    void twoBackendsSeeEachOtherAsPeers() throws Exception
    {
        final Endpoint[] pair = startPair();
        final Endpoint a = pair[0];
        final Endpoint b = pair[1];
        assertNotEquals(a.vm(), b.vm(), "endpoints have distinct VM ids");
        assertNotEquals(a.backend().sessionId(), b.backend().sessionId(), "sessions are random per start");
        Await.until(() -> hasPeer(a.backend(), b) && hasPeer(b.backend(), a), eventTimeout(),
            () -> "peers() to list the other endpoint: " + a.backend().peers() + " / " + b.backend().peers());
        for (final PeerInfo p : a.backend().peers())
        {
            assertNotEquals(a.vm(), p.vm(), "a backend does not list itself as a peer");
        }
    }

    private static boolean hasPeer(final HypervisorBackend backend, final Endpoint peer)
    {
        return backend.peers().stream()
            .anyMatch(p -> p.vm() == peer.vm() && p.sessionId() == peer.backend().sessionId());
    }

    @Test
    void messagesAreDeliveredInOrderBothWays() throws Exception
    {
        final Endpoint[] pair = startPair();
        final Endpoint a = pair[0];
        final Endpoint b = pair[1];
        final int count = 200;
        final ByteBuffer msg = ByteBuffer.allocate(64);
        for (int i = 0; i < count; i++)
        {
            sendWithRetry(a.backend(), b.vm(), fill(msg, i, 16 + i % 48), 16 + i % 48);
            sendWithRetry(b.backend(), a.vm(), fill(msg, 10_000 + i, 16 + i % 40), 16 + i % 40);
        }
        b.listener().await(l -> l.messageCount(a.vm()) >= count, eventTimeout(), count + " messages at B");
        a.listener().await(l -> l.messageCount(b.vm()) >= count, eventTimeout(), count + " messages at A");
        verifySequence(b.listener().messagesFrom(a.vm()), 0, count, seq -> 16 + (int)(seq % 48));
        verifySequence(a.listener().messagesFrom(b.vm()), 10_000, count, seq -> 16 + (int)((seq - 10_000) % 40));
    }

    @Test
    void bulkTransferWrapsAndAppliesBackPressure() throws Exception
    {
        final Endpoint[] pair = startPair();
        bulkTransfer(pair[0], pair[1]);
        bulkTransfer(pair[1], pair[0]);
    }

    private void bulkTransfer(final Endpoint from, final Endpoint to) throws Exception
    {
        final int max = from.backend().maxMessageLength();
        final ByteBuffer msg = ByteBuffer.allocateDirect(max);
        final java.util.function.IntUnaryOperator lengthOf = seq -> 16 + (int)((seq * 7919L) % (max - 15));

        to.listener().closeGate();
        long seq = 0;
        long acceptedBeforeFull = 0;
        final long limit = 64L << 20;
        while (true)
        {
            final int length = lengthOf.applyAsInt((int)seq);
            if (!from.backend().send(to.vm(), fill(msg, seq, length), 0, length))
            {
                break;
            }
            seq++;
            acceptedBeforeFull += length;
            assertTrue(acceptedBeforeFull < limit, "send never reported a full channel after " + limit + " bytes");
        }
        assertTrue(seq >= 2, "a channel holds more than one message before it is full: " + seq);
        final int retryLength = lengthOf.applyAsInt((int)seq);
        assertFalse(from.backend().send(to.vm(), fill(msg, seq, retryLength), 0, retryLength),
            "a full channel stays full while the receiver is stalled");

        to.listener().openGate();
        final long target = Math.max(32 * acceptedBeforeFull, 1L << 20);
        long sentBytes = acceptedBeforeFull;
        while (sentBytes < target)
        {
            final int length = lengthOf.applyAsInt((int)seq);
            sendWithRetry(from.backend(), to.vm(), fill(msg, seq, length), length);
            seq++;
            sentBytes += length;
        }
        final long total = seq;
        final long totalBytes = sentBytes;
        to.listener().await(l -> l.messageCount(from.vm()) >= total, eventTimeout().multipliedBy(3),
            total + " messages (" + totalBytes + " bytes) from VM " + from.vm());
        verifySequence(to.listener().messagesFrom(from.vm()), 0, total, i -> lengthOf.applyAsInt((int)i));
        assertTrue(totalBytes > 8L * acceptedBeforeFull, "far more bytes than the channel holds went through");
    }

    @Test
    void sharedPagesAreZeroCopyBetweenExporterAndImporter() throws Exception
    {
        final Endpoint[] pair = startPair();
        final HypervisorBackend a = pair[0].backend();
        final HypervisorBackend b = pair[1].backend();
        final int pageSize = a.capabilities().pageSize();
        final long size = 3L * pageSize + 100;
        final BackendBuffer buffer = a.allocate(size);
        assertTrue(buffer.length() >= size, "allocation covers the request: " + buffer);
        final ShareRef ref = a.share(buffer, b.localVm(), false);

        final ClientMapping exported = a.mapAllocation(buffer);
        final ClientMapping imported = b.mapImport(a.localVm(), ref, false);
        assertFalse(imported.readOnly(), "a writable import is writable");
        assertTrue(imported.length() >= size, "the import covers the buffer: " + imported);
        try (ClientView exporter = ClientView.map(exported, false, pageSize);
            ClientView importer = ClientView.map(imported, false, pageSize))
        {
            final ByteBuffer e = exporter.view();
            final ByteBuffer i = importer.view();
            for (int k = 0; k < size; k++)
            {
                e.put(k, (byte)(k * 13 + 7));
            }
            for (int k = 0; k < size; k++)
            {
                assertEquals((byte)(k * 13 + 7), i.get(k), "importer sees exporter byte " + k);
            }
            // Same pages, not a copy: later writes show up without sharing again, in both directions.
            e.putLong(pageSize * 2 + 8, 0x0123456789ABCDEFL);
            assertEquals(0x0123456789ABCDEFL, i.getLong(pageSize * 2 + 8), "a later exporter write is seen");
            i.put((int)size - 1, (byte)0x5A);
            assertEquals((byte)0x5A, e.get((int)size - 1), "an importer write is seen by the exporter");
        }
        finally
        {
            Native.closeQuietly(exported.fd());
            Native.closeQuietly(imported.fd());
        }
        a.free(buffer);
    }

    @Test
    void allocationBeyondTheTotalFailsWithEnospcAndClaimsNothing() throws Exception
    {
        final Endpoint a = startEndpoint();
        final HypervisorBackend backend = a.backend();
        final int pageSize = backend.capabilities().pageSize();
        final long free0 = backend.freeBytes();
        assertError("ENOSPC", () -> backend.allocate(backend.totalBytes() + pageSize));
        assertEquals(free0, backend.freeBytes(), "a failed allocation claims nothing");

        final BackendBuffer one = backend.allocate(pageSize);
        final long free1 = backend.freeBytes();
        assertTrue(free1 <= free0 - pageSize, "an allocation consumes memory: " + free0 + " -> " + free1);
        assertError("ENOSPC", () -> backend.allocate(free1 + pageSize));
        assertEquals(free1, backend.freeBytes(), "a failed allocation claims nothing");
        backend.free(one);
        assertEquals(free0, backend.freeBytes(), "freeing restores the memory");
    }

    @Test
    void freeingEverythingRestoresFreeBytes() throws Exception
    {
        final Endpoint a = startEndpoint();
        final HypervisorBackend backend = a.backend();
        final int pageSize = backend.capabilities().pageSize();
        final long free0 = backend.freeBytes();
        final List<BackendBuffer> buffers = new ArrayList<>();
        for (final long size : new long[] {1, pageSize, 3L * pageSize + 1, 16L * pageSize, 2L * pageSize})
        {
            buffers.add(backend.allocate(size));
        }
        assertTrue(backend.freeBytes() <= free0 - 23L * pageSize, "allocations consume whole pages");
        if (backend.totalBytes() / pageSize <= 8192)
        {
            while (true)
            {
                try
                {
                    buffers.add(backend.allocate(pageSize));
                }
                catch (final BackendException e)
                {
                    assertEquals("ENOSPC", e.code().name(), e.getMessage());
                    break;
                }
            }
            if ("per-buffer".equals(backend.capabilities().isolation()))
            {
                // A per-buffer backend may spend a metadata page per buffer (Xen: its page directory).
                assertTrue(backend.freeBytes() < 2L * pageSize, "page by page, all memory but less than the " +
                    "cheapest buffer can be allocated: " + backend.freeBytes() + " bytes left");
            }
            else
            {
                assertEquals(0, backend.freeBytes(), "page by page, all memory can be allocated");
            }
        }
        // Free in an interleaved order so the free space is fragmented on the way.
        for (int pass = 0; pass < 2; pass++)
        {
            for (int k = pass; k < buffers.size(); k += 2)
            {
                backend.free(buffers.get(k));
            }
        }
        assertEquals(free0, backend.freeBytes(), "freeing everything restores the free bytes");
        assertError("EINVAL", () -> backend.free(buffers.get(0)));
    }

    @Test
    void importOfAReferenceTheExporterDoesNotOwnFailsWithEinval() throws Exception
    {
        final Endpoint[] pair = startPair();
        final HypervisorBackend a = pair[0].backend();
        final HypervisorBackend b = pair[1].backend();
        final int pageSize = a.capabilities().pageSize();
        final BackendBuffer bufferA = a.allocate(2L * pageSize);
        final ShareRef refA = a.share(bufferA, b.localVm(), false);
        Native.closeQuietly(b.mapImport(a.localVm(), refA, false).fd());

        assertError("EINVAL", () -> b.mapImport(b.localVm(), refA, false));
        final BackendBuffer bufferB = b.allocate(pageSize);
        final ShareRef refB = b.share(bufferB, a.localVm(), false);
        assertError("EINVAL", () -> a.mapImport(a.localVm(), refB, false));
        assertError("EINVAL", () -> b.mapImport(a.localVm(), refB, false));
        a.free(bufferA);
        assertError("EINVAL", () -> b.mapImport(a.localVm(), refA, false));
        b.free(bufferB);
    }

    @Test
    void readOnlyImportCannotBeMappedWritable() throws Exception
    {
        final Endpoint[] pair = startPair();
        final HypervisorBackend a = pair[0].backend();
        final HypervisorBackend b = pair[1].backend();
        final int pageSize = a.capabilities().pageSize();
        final BackendBuffer buffer = a.allocate(pageSize);
        final ShareRef ref = a.share(buffer, b.localVm(), true);
        final ClientMapping exported = a.mapAllocation(buffer);
        final ClientMapping imported = b.mapImport(a.localVm(), ref, true);
        try (ClientView exporter = ClientView.map(exported, false, pageSize))
        {
            assertTrue(imported.readOnly(), "a read-only import says so");
            exporter.view().putLong(0, 0xFEEDFACECAFEBEEFL);
            final NativeIoException e = assertThrows(NativeIoException.class,
                () -> ClientView.map(imported, false, pageSize).close(), "mapping a read-only import writable");
            assertEquals(Errno.EACCES, e.errno(), e.getMessage());
            try (ClientView reader = ClientView.map(imported, true, pageSize))
            {
                assertEquals(0xFEEDFACECAFEBEEFL, reader.view().getLong(0), "a read-only mapping reads the pages");
            }
        }
        finally
        {
            Native.closeQuietly(exported.fd());
            Native.closeQuietly(imported.fd());
        }
    }

    @Test
    void closingOneBackendMakesTheOtherSeePeerDown() throws Exception
    {
        final Endpoint[] pair = startPair();
        final Endpoint a = pair[0];
        final Endpoint b = pair[1];
        final int bVm = b.vm();
        final long bSession = b.backend().sessionId();
        b.backend().close();
        a.listener().await(l -> l.peerDown(bVm, bSession) != null, eventTimeout(),
            "VM " + a.vm() + " to see VM " + bVm + " down");
        final RecordingListener.PeerEvent down = a.listener().peerDown(bVm, bSession);
        assertNotNull(down.reason(), "a peer-down event has a reason");
        assertTrue(a.backend().peers().stream().noneMatch(p -> p.vm() == bVm), "a gone peer is not listed");
        final ByteBuffer msg = ByteBuffer.allocate(16);
        assertError("ENOPEER", () -> a.backend().send(bVm, msg, 0, 16));
        final BackendBuffer buffer = a.backend().allocate(a.backend().capabilities().pageSize());
        assertError("ENOPEER", () -> a.backend().share(buffer, bVm, false));
        a.backend().free(buffer);
    }

    // ---- fences ----

    @Test
    void fenceSlotsAreAllocatedValidatedAndFreed() throws Exception
    {
        if (checkedNoFenceSlots())
        {
            return;
        }
        final Endpoint[] pair = startPair();
        final FenceSlots a = required(pair[0].backend(), FenceSlots.class);
        final FenceSlots b = required(pair[1].backend(), FenceSlots.class);
        final FenceRef fence = a.allocateFence();
        assertTrue(fence.index() >= 0, "a slot index: " + fence);
        assertEquals(fence.regionOffset(), a.fenceRegionOffset(fence.index()), "the exporter's region offset");
        assertEquals(fence.regionOffset(), b.fenceRegionOffset(fence.index()), "the same offset for the importer");
        final int aVm = pair[0].vm();
        final int bVm = pair[1].vm();
        assertTrue(b.validateFence(aVm, fence.index()), "the importer accepts the exporter's slot");
        assertTrue(a.validateFence(aVm, fence.index()), "the exporter's own slot is valid to it");
        assertFalse(b.validateFence(bVm, fence.index()), "not a slot of the importer");
        assertFalse(a.validateFence(bVm, fence.index()), "nor, seen from the exporter, of the other VM");
        assertFalse(b.validateFence(aVm, -1), "negative index");
        assertFalse(b.validateFence(aVm, Integer.MAX_VALUE), "index beyond the table");
        final FenceRef other = a.allocateFence();
        assertNotEquals(fence.index(), other.index(), "two live slots are distinct");
        a.freeFence(fence);
        assertFalse(b.validateFence(aVm, fence.index()), "a freed slot is no longer the exporter's");
        assertError("EINVAL", () -> a.freeFence(fence));
        assertError("EINVAL", () -> b.freeFence(other));
        assertError("EINVAL", () -> a.freeFence(new FenceRef(other.index(), other.regionOffset() + 8)));
        a.freeFence(other);
    }

    @Test
    void fenceSlotsRunOutWithEnospcAndComeBack() throws Exception
    {
        if (checkedNoFenceSlots())
        {
            return;
        }
        final FenceSlots a = required(startEndpoint().backend(), FenceSlots.class);
        final List<FenceRef> all = new ArrayList<>();
        final Set<Long> offsets = new HashSet<>();
        while (true)
        {
            try
            {
                final FenceRef f = a.allocateFence();
                assertTrue(offsets.add(f.regionOffset()), "slot handed out twice: " + f);
                all.add(f);
            }
            catch (final BackendException e)
            {
                assertEquals("ENOSPC", e.code().name(), e.getMessage());
                break;
            }
            assertTrue(all.size() <= 1 << 20, "fence allocation never reported ENOSPC");
        }
        assertFalse(all.isEmpty(), "a backend with fences has at least one slot");
        for (final FenceRef f : all)
        {
            a.freeFence(f);
        }
        a.freeFence(a.allocateFence());
    }

    @Test
    void fenceTimelinesAreSharedMemoryBetweenTheTwoVms() throws Exception
    {
        if (checkedNoFenceSlots())
        {
            return;
        }
        final Endpoint[] pair = startPair();
        final FenceSlots a = required(pair[0].backend(), FenceSlots.class);
        final FenceSlots b = required(pair[1].backend(), FenceSlots.class);
        final FenceRef fence = a.allocateFence();
        final MemoryWindow exporter = a.fenceWindow(fence.index());
        final MemoryWindow importer = b.fenceWindow(fence.index());
        for (final int offset : new int[] {FenceSlotDescriptor.ACQUIRE_VALUE_OFFSET,
            FenceSlotDescriptor.RELEASE_VALUE_OFFSET})
        {
            assertEquals(0, importer.getLongAcquire(offset), "a new slot starts at 0 (" + offset + ")");
        }
        exporter.putIntVolatile(FenceSlotDescriptor.ACQUIRE_ERROR_OFFSET, 5);
        exporter.putLongVolatile(FenceSlotDescriptor.ACQUIRE_VALUE_OFFSET, 42);
        assertEquals(42, importer.getLongAcquire(FenceSlotDescriptor.ACQUIRE_VALUE_OFFSET), "acquire seen by B");
        assertEquals(5, importer.getIntVolatile(FenceSlotDescriptor.ACQUIRE_ERROR_OFFSET), "with its error word");
        importer.getAndAddInt(FenceSlotDescriptor.RELEASE_WAITERS_OFFSET, 1);
        importer.putLongVolatile(FenceSlotDescriptor.RELEASE_VALUE_OFFSET, 41);
        assertEquals(41, exporter.getLongAcquire(FenceSlotDescriptor.RELEASE_VALUE_OFFSET), "release seen by A");
        assertEquals(1, exporter.getIntVolatile(FenceSlotDescriptor.RELEASE_WAITERS_OFFSET), "waiters seen by A");
        // Freeing zeroes the slot: the next export never starts from an old export's values.
        a.freeFence(fence);
        assertEquals(0, importer.getLongAcquire(FenceSlotDescriptor.ACQUIRE_VALUE_OFFSET), "zeroed by free");
        assertEquals(0, importer.getIntVolatile(FenceSlotDescriptor.RELEASE_WAITERS_OFFSET), "waiters zeroed");
        assertThrows(IllegalArgumentException.class, () -> a.fenceWindow(-1));
    }

    @Test
    void aFenceDoorbellWakesTheOtherVm() throws Exception
    {
        final Endpoint[] pair = startPair();
        final Endpoint a = pair[0];
        final Endpoint b = pair[1];
        final PeerFenceDoorbells bells = required(a.backend(), PeerFenceDoorbells.class);
        for (int round = 1; round <= 3; round++)
        {
            final long before = b.listener().fenceDoorbells();
            final long start = System.nanoTime();
            assertTrue(bells.ringFence(b.vm()), "a connected peer can be rung");
            b.listener().await(l -> l.fenceDoorbells() > before, eventTimeout(), "B's fence doorbell, round " + round);
            final long tookMs = (System.nanoTime() - start) / 1_000_000L;
            assertTrue(tookMs < 1000, "the doorbell took " + tookMs + " ms");
        }
        assertEquals(0, a.listener().fenceDoorbells(), "only the rung VM is woken");
        assertFalse(bells.ringFence(Integer.MAX_VALUE), "an unknown VM cannot be rung");
    }

    @Test
    void theFenceTickRunsWithoutAnyEvent() throws Exception
    {
        final Endpoint a = startEndpoint();
        final long start = System.nanoTime();
        final long before = a.listener().fenceTicks();
        a.listener().await(l -> l.fenceTicks() >= before + 10, eventTimeout(), "ten fence ticks");
        final long elapsedMs = (System.nanoTime() - start) / 1_000_000L;
        assertTrue(elapsedMs >= 10 * 10 - 20, "ticks are about 10 ms apart at most: 10 in " + elapsedMs + " ms");
    }

    @Test
    void aDeadPeersMemoryIsReclaimedBySessionOnly() throws Exception
    {
        final Endpoint[] pair = startPair();
        final HypervisorBackend a = pair[0].backend();
        final Endpoint b = pair[1];
        final int pageSize = a.capabilities().pageSize();
        final long free0 = a.freeBytes();
        if ("per-buffer".equals(a.capabilities().isolation()))
        {
            // Each VM allocates from its own memory: a peer's allocations and death leave ours untouched.
            final BackendBuffer theirs = b.backend().allocate(3L * pageSize);
            assertEquals(free0, a.freeBytes(), "a peer's allocation is not ours");
            final long bSession = b.backend().sessionId();
            b.backend().close();
            pair[0].listener().await(l -> l.peerDown(b.vm(), bSession) != null, eventTimeout(), "B down");
            assertEquals(0, PeerMemoryReclaim.of(a).reclaimPeerMemory(b.vm(), bSession),
                "nothing of B's lives in A's memory");
            assertEquals(free0, a.freeBytes());
            assertTrue(theirs.length() >= 3L * pageSize);
            return;
        }
        final PeerMemoryReclaim reclaim = required(a, PeerMemoryReclaim.class);
        final FenceSlots aFences = required(a, FenceSlots.class);
        final BackendBuffer mine = a.allocate(pageSize);
        final FenceRef myFence = aFences.allocateFence();
        final BackendBuffer theirs = b.backend().allocate(3L * pageSize);
        final FenceRef theirFence = required(b.backend(), FenceSlots.class).allocateFence();
        final int bVm = b.vm();
        final long bSession = b.backend().sessionId();
        assertError("EBUSY", () -> reclaim.reclaimPeerMemory(bVm, bSession));
        assertError("EINVAL", () -> reclaim.reclaimPeerMemory(a.localVm(), a.sessionId()));
        b.backend().close();
        pair[0].listener().await(l -> l.peerDown(bVm, bSession) != null, eventTimeout(), "B down");
        // A VM that dies frees nothing: its memory stays claimed until a survivor reclaims it.
        assertEquals(free0 - 4L * pageSize, a.freeBytes(), "B's pages are still claimed after it closed");
        assertEquals(0, reclaim.reclaimPeerMemory(bVm, bSession ^ 0x1_0000_0001L), "another session owns nothing");
        assertEquals(4, reclaim.reclaimPeerMemory(bVm, bSession), "3 pages + 1 fence slot of B's session");
        assertEquals(free0 - pageSize, a.freeBytes(), "only A's own page is still claimed");
        assertFalse(aFences.validateFence(bVm, theirFence.index()), "B's slot is free again");
        assertTrue(aFences.validateFence(a.localVm(), myFence.index()), "A's own slot is untouched");
        assertEquals(0, reclaim.reclaimPeerMemory(bVm, bSession), "nothing left the second time");
        assertTrue(theirs.length() >= 3L * pageSize);
        a.free(mine);
        aFences.freeFence(myFence);
        assertEquals(free0, a.freeBytes());
    }

    // ---- helpers ----

    /** {@code backend}'s capability {@code type}, which this test needs: a failure if the backend lacks it. */
    protected static <T extends BackendCapability> T required(final HypervisorBackend backend, final Class<T> type)
    {
        return backend.capability(type).orElseThrow(() -> new AssertionError(backend.name() + " lacks " +
            type.getSimpleName() + ", which this test needs"));
    }

    protected static void assertError(final String error, final Executable call)
    {
        final BackendException e = assertThrows(BackendException.class, call, "expected " + error);
        assertEquals(error, e.code().name(), e.getMessage());
    }

    private void sendWithRetry(final HypervisorBackend backend, final int vm, final ByteBuffer msg, final int length)
        throws BackendException
    {
        final long[] attempts = {0};
        final BackendException[] failure = {null};
        Await.until(() ->
        {
            try
            {
                attempts[0]++;
                return backend.send(vm, msg, 0, length);
            }
            catch (final BackendException e)
            {
                failure[0] = e;
                return true;
            }
        }, eventTimeout(), () -> "room in the channel to VM " + vm + " (" + attempts[0] + " attempts)");
        if (failure[0] != null)
        {
            throw failure[0];
        }
    }

    /** Writes message {@code seq}: seq, length, then a pattern derived from both. */
    private static ByteBuffer fill(final ByteBuffer msg, final long seq, final int length)
    {
        msg.order(ByteOrder.LITTLE_ENDIAN);
        msg.putLong(0, seq);
        msg.putInt(8, length);
        for (int k = 12; k < length; k++)
        {
            msg.put(k, (byte)(seq * 31 + k));
        }
        return msg;
    }

    private static void verifySequence(final List<RecordingListener.Message> received, final long firstSeq,
        final long count, final java.util.function.LongToIntFunction lengthOf)
    {
        assertEquals(count, received.size(), "message count");
        for (int n = 0; n < count; n++)
        {
            final long seq = firstSeq + n;
            final byte[] bytes = received.get(n).bytes();
            final ByteBuffer m = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
            assertEquals(seq, m.getLong(0), "message " + n + " in order");
            final int length = lengthOf.applyAsInt(seq);
            assertEquals(length, bytes.length, "length of message " + seq);
            assertEquals(length, m.getInt(8), "length field of message " + seq);
            for (int k = 12; k < length; k++)
            {
                if (bytes[k] != (byte)(seq * 31 + k))
                {
                    fail("message " + seq + " byte " + k + " corrupted");
                }
            }
        }
    }

    /** A client's mmap of a {@link ClientMapping}, aligned down to a page as mmap requires. */
    protected static final class ClientView implements AutoCloseable
    {
        private final MappedMemory memory;
        private final ByteBuffer view;

        private ClientView(final MappedMemory memory, final ByteBuffer view)
        {
            this.memory = memory;
            this.view = view;
        }

        static ClientView map(final ClientMapping mapping, final boolean readOnly, final int pageSize)
            throws NativeIoException
        {
            final long aligned = mapping.offset() & -(long)pageSize;
            final int delta = (int)(mapping.offset() - aligned);
            final MappedMemory memory = MappedMemory.map(mapping.fd(), aligned, mapping.length() + delta, readOnly);
            return new ClientView(memory, memory.buffer().slice(delta, (int)mapping.length())
                .order(ByteOrder.LITTLE_ENDIAN));
        }

        ByteBuffer view()
        {
            return view;
        }

        @Override
        public void close()
        {
            memory.close();
        }
    }
}
