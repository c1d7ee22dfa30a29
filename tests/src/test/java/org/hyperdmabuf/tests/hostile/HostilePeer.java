package org.hyperdmabuf.tests.hostile;

import org.hyperdmabuf.abi.FenceAbi;
import com.google.protobuf.InvalidProtocolBufferException;
import org.hyperdmabuf.abi.v1.Access;
import org.hyperdmabuf.abi.v1.BufferId;
import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.abi.v1.ExportAnnounce;
import org.hyperdmabuf.abi.v1.ExportReject;
import org.hyperdmabuf.abi.v1.ImportNotice;
import org.hyperdmabuf.abi.v1.Metadata;
import org.hyperdmabuf.abi.v1.PeerMessage;
import org.hyperdmabuf.abi.v1.ReleaseNotice;
import org.hyperdmabuf.abi.v1.UnexportNotice;
import org.hyperdmabuf.hv.kvm.IvshmemBackend;
import org.hyperdmabuf.hv.nativeio.MappedMemory;
import org.hyperdmabuf.hv.shm.FenceSlotDescriptor;
import org.hyperdmabuf.hv.shm.MemoryWindow;
import org.hyperdmabuf.hv.shm.PageTableDescriptor;
import org.hyperdmabuf.hv.shm.PeerSlotDescriptor;
import org.hyperdmabuf.hv.shm.RecordDescriptor;
import org.hyperdmabuf.hv.shm.RegionHeaderDescriptor;
import org.hyperdmabuf.hv.shm.RegionLayout;
import org.hyperdmabuf.hv.shm.RingDescriptor;
import org.hyperdmabuf.hv.shm.RingWriter;
import org.hyperdmabuf.hv.shm.SharedRegion;
import org.hyperdmabuf.hv.spi.BackendBuffer;
import org.hyperdmabuf.hv.spi.BackendListener;
import org.hyperdmabuf.hv.spi.FenceRef;
import org.hyperdmabuf.hv.spi.PeerInfo;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.locks.LockSupport;

/**
 * A hostile "VM": a separate process that joins the ivshmem server as a real peer (a host-mode backend, so the
 * daemons see it come up), maps the whole region and then attacks per {@link Scenario}: garbage ring counters
 * and records on its own rings, well-formed messages with forged content, and scribbles over structures other
 * peers own. It prints {@code JOINED}, one {@code GOT <kind> ...} line per message the daemons send it,
 * {@code ATTACKED <scenario>} when done, and runs until its stdin ends. The ring corruptions wait for commands on
 * stdin, one victim at a time ({@link #corruptOnCommand}).
 * <p>
 * Arguments: {@code IVSHMEM_SOCKET SCENARIO SINK_VM SOURCE_VM [BUFFER_ID...]}, a buffer id as
 * {@code exporter:number:nonce-hex} (ids the test learnt from the source's LIST, for forged notices). It prints
 * {@code JOINED <vm> <session-hex>} once the daemons are up in its view.
 */
public final class HostilePeer
{
    /** What the hostile peer does; the test class documents the outcome expected of each. */
    public enum Scenario
    {
        TAIL_BEYOND_CAPACITY, TAIL_MISALIGNED, TAIL_BACKWARDS, RECORD_LENGTH_ZERO, RECORD_LENGTH_HUGE,
        RECORD_LENGTH_NEGATIVE, RECORD_PAST_TAIL, RECORD_TYPE_ZERO, RECORD_TYPE_NEGATIVE, PADDING_WRONG_LENGTH,
        SESSION_START_SHORT, HEAD_GARBAGE, MALFORMED_RECORDS, UNKNOWN_RECORD_TYPE, FORGED_EXPORTER, RANGE_ATTACKS,
        FOREIGN_PAGES, FENCE_ATTACKS, DUPLICATE_EXPORT, FORGED_NOTICES, REJECT_FLOOD,
        SCRIBBLE_FENCES, SCRIBBLE_PAGE_TABLE, SCRIBBLE_HEADER, SCRIBBLE_PEER_SLOT, SCRIBBLE_CROSS_RING
    }

    /** The scenarios that corrupt our own rings, one victim per command ({@link #corruptOnCommand}). */
    public static final Set<Scenario> RING_CORRUPTIONS = EnumSet.range(Scenario.TAIL_BEYOND_CAPACITY,
        Scenario.SESSION_START_SHORT);

    /** Ranges {@link Scenario#RANGE_ATTACKS} announces, each answered EINVAL. */
    public static final int RANGE_ATTACK_COUNT = 9;
    /** Fence slots {@link Scenario#FENCE_ATTACKS} announces, each answered EINVAL. */
    public static final int FENCE_ATTACK_COUNT = 4;
    public static final int FLOOD_MESSAGES = 5000;

    private static final long WAIT_NS = 30_000_000_000L;

    private final IvshmemBackend backend;
    private final MemoryWindow region;
    private final RegionLayout layout;
    private final int me;
    private final int sink;
    private final int source;
    private final Random random = new Random(8);
    private final Map<Integer, RingWriter> writers = new java.util.HashMap<>();

    private HostilePeer(final IvshmemBackend backend, final MemoryWindow region, final RegionLayout layout,
        final int sink, final int source)
    {
        this.backend = backend;
        this.region = region;
        this.layout = layout;
        this.me = backend.localVm();
        this.sink = sink;
        this.source = source;
    }

    public static void main(final String[] args) throws Exception
    {
        final Scenario scenario = Scenario.valueOf(args[1]);
        final int sink = Integer.parseInt(args[2]);
        final int source = Integer.parseInt(args[3]);
        final List<BufferId> ids = new ArrayList<>();
        for (int i = 4; i < args.length; i++)
        {
            final String[] p = args[i].split(":");
            ids.add(BufferId.newBuilder().setExporterVm(Integer.parseInt(p[0])).setExportNumber(Integer.parseInt(p[1]))
                .setNonce(Long.parseUnsignedLong(p[2], 16)).build());
        }
        final IvshmemBackend backend = new IvshmemBackend(Map.of(IvshmemBackend.OPTION_SOCKET, args[0]));
        backend.start(new Printer());
        awaitPeers(backend, sink, source);
        final long size = backend.connection().shmSize();
        try (MappedMemory mapped = MappedMemory.map(backend.connection().shmFd(), 0, size, false))
        {
            final MemoryWindow region = new MemoryWindow(mapped.buffer());
            final RegionLayout layout = SharedRegion.validate(region.slice(0, RegionHeaderDescriptor.HEADER_LENGTH),
                size);
            System.out.println("JOINED " + backend.localVm() + " " + Long.toHexString(backend.sessionId()));
            final HostilePeer peer = new HostilePeer(backend, region, layout, sink, source);
            final BufferedReader commands = new BufferedReader(new InputStreamReader(System.in,
                StandardCharsets.UTF_8));
            if (RING_CORRUPTIONS.contains(scenario))
            {
                peer.corruptOnCommand(scenario, commands);
            }
            else
            {
                peer.attack(scenario, ids);
            }
            System.out.println("ATTACKED " + scenario);
            System.out.flush();
            while (commands.readLine() != null)
            {
                // run until the test closes our stdin
            }
        }
        catch (final IOException e)
        {
            // the test is gone
        }
        backend.close();
    }

    private static void awaitPeers(final IvshmemBackend backend, final int... vms)
    {
        final long deadline = System.nanoTime() + WAIT_NS;
        while (!backend.peers().stream().map(PeerInfo::vm).toList().containsAll(
            java.util.Arrays.stream(vms).boxed().toList()))
        {
            if (System.nanoTime() - deadline > 0)
            {
                throw new IllegalStateException("peers " + java.util.Arrays.toString(vms) + " not up: " +
                    backend.peers());
            }
            LockSupport.parkNanos(10_000_000L);
        }
    }

    /**
     * Corrupts our ring to one victim per {@code CORRUPT <vm>} command, until {@code DONE}. A victim that finds
     * our ring corrupt declares our session down, and our backend then rejoins as a new session, renewing (and so
     * repairing) our rings: attacking both victims at once would race the second victim's read against that
     * rejoin. So each command waits for a session not yet used for an attack and prints {@code SESSION <hex>};
     * the test waits until the victim has that session up and answers {@code GO}; we corrupt the ring and print
     * {@code CORRUPTED <vm> <hex>}.
     */
    private void corruptOnCommand(final Scenario scenario, final BufferedReader commands) throws Exception
    {
        long used = 0;
        for (String line = commands.readLine(); line != null && !line.equals("DONE"); line = commands.readLine())
        {
            final int vm = Integer.parseInt(line.substring("CORRUPT ".length()));
            final long deadline = System.nanoTime() + WAIT_NS;
            while (backend.sessionId() == used)
            {
                if (System.nanoTime() - deadline > 0)
                {
                    throw new IllegalStateException("no new session after the attack by " + Long.toHexString(used));
                }
                LockSupport.parkNanos(1_000_000L);
            }
            used = backend.sessionId();
            System.out.println("SESSION " + Long.toHexString(used));
            final String go = commands.readLine();
            if (!"GO".equals(go))
            {
                throw new IllegalStateException("expected GO, got " + go);
            }
            corrupt(scenario, vm);
            System.out.println("CORRUPTED " + vm + " " + Long.toHexString(used));
        }
    }

    private void corrupt(final Scenario scenario, final int vm) throws Exception
    {
        switch (scenario)
        {
            case TAIL_BEYOND_CAPACITY -> publishTail(vm, tail(vm) + 2L * layout.ringCapacity());
            case TAIL_MISALIGNED -> publishTail(vm, tail(vm) + 3);
            case TAIL_BACKWARDS -> publishTail(vm, tail(vm) - 64);
            case RECORD_LENGTH_ZERO -> rawRecord(vm, 0, RecordDescriptor.PEER_MESSAGE_TYPE, 16);
            case RECORD_LENGTH_HUGE -> rawRecord(vm, layout.ringCapacity(), 1, 16);
            case RECORD_LENGTH_NEGATIVE -> rawRecord(vm, 0x8000_0008, 1, 16);
            case RECORD_PAST_TAIL -> rawRecord(vm, 4000, 1, 16);
            case RECORD_TYPE_ZERO -> rawRecord(vm, 16, 0, 16);
            case RECORD_TYPE_NEGATIVE -> rawRecord(vm, 16, -7, 16);
            case PADDING_WRONG_LENGTH -> rawRecord(vm, 64, RecordDescriptor.PADDING_TYPE, 64);
            case SESSION_START_SHORT -> rawRecord(vm, 16, RecordDescriptor.SESSION_START_TYPE, 16);
            default -> throw new IllegalArgumentException(scenario.toString());
        }
    }

    private void attack(final Scenario scenario, final List<BufferId> ids) throws Exception
    {
        switch (scenario)
        {
            case HEAD_GARBAGE -> headGarbage();
            case MALFORMED_RECORDS -> malformedRecords();
            case UNKNOWN_RECORD_TYPE -> unknownRecordType();
            case FORGED_EXPORTER -> send(source, forgedExport());
            case RANGE_ATTACKS -> rangeAttacks();
            case FOREIGN_PAGES -> foreignPages();
            case FENCE_ATTACKS -> fenceAttacks();
            case DUPLICATE_EXPORT -> duplicateExport();
            case FORGED_NOTICES -> forgedNotices(ids);
            case REJECT_FLOOD -> rejectFlood();
            case SCRIBBLE_FENCES -> scribbleFences();
            case SCRIBBLE_PAGE_TABLE -> scribblePageTable();
            case SCRIBBLE_HEADER -> scribbleHeader();
            case SCRIBBLE_PEER_SLOT -> scribblePeerSlot();
            case SCRIBBLE_CROSS_RING -> scribbleCrossRing();
            default -> throw new IllegalArgumentException(scenario.toString());
        }
    }

    // ---- our own rings, raw ----

    private int ringBase(final int from, final int to)
    {
        return (int)layout.ringOffset(from, to);
    }

    private int tailIndex(final int from, final int to)
    {
        return ringBase(from, to) + layout.ringCapacity() + RingDescriptor.TAIL_OFFSET;
    }

    private int headIndex(final int from, final int to)
    {
        return ringBase(from, to) + layout.ringCapacity() + RingDescriptor.HEAD_OFFSET;
    }

    private long tail(final int vm)
    {
        return region.getLongAcquire(tailIndex(me, vm));
    }

    private void publishTail(final int vm, final long tail) throws Exception
    {
        region.putLongRelease(tailIndex(me, vm), tail);
        backend.connection().ring(vm, FenceAbi.MESSAGE_VECTOR);
    }

    /** Writes a record header at our tail and publishes {@code advance} bytes, whatever the header claims. */
    private void rawRecord(final int vm, final int length, final int type, final int advance) throws Exception
    {
        final long tail = tail(vm);
        final int index = (int)(tail & (layout.ringCapacity() - 1));
        final int at = ringBase(me, vm) + index;
        if (index + advance > layout.ringCapacity())
        {
            throw new IllegalStateException("record would wrap; tail=" + tail);
        }
        region.putInt(at + RecordDescriptor.LENGTH_OFFSET, length);
        region.putInt(at + RecordDescriptor.TYPE_OFFSET, type);
        publishTail(vm, tail + advance);
    }

    private void headGarbage() throws Exception
    {
        // Our backend publishes the head of the source's ring to us when it consumes; wait until it is idle.
        final long deadline = System.nanoTime() + WAIT_NS;
        while (region.getLongAcquire(tailIndex(source, me)) != region.getLongAcquire(headIndex(source, me)))
        {
            if (System.nanoTime() - deadline > 0)
            {
                throw new IllegalStateException("ring from the source never drained");
            }
            LockSupport.parkNanos(1_000_000L);
        }
        region.putLongRelease(headIndex(source, me), 0x7FFF_FFFF_FFFF_FFF3L);
        // Provoke an answer: the source's reject must be written to the ring whose head we broke.
        send(source, forgedExport());
    }

    // ---- well-formed records on our own rings ----

    /** Our own writer, continuing after what our backend wrote (its SESSION_START); the backend sends no more. */
    private RingWriter writer(final int vm)
    {
        return writers.computeIfAbsent(vm, v -> new RingWriter(region.slice(ringBase(me, v),
            (int)layout.ringStride()), layout.ringCapacity()));
    }

    private void send(final int vm, final PeerMessage message) throws Exception
    {
        record(vm, RecordDescriptor.PEER_MESSAGE_TYPE, message.toByteArray());
    }

    private void record(final int vm, final int type, final byte[] bytes) throws Exception
    {
        final ByteBuffer b = ByteBuffer.wrap(bytes);
        final long deadline = System.nanoTime() + WAIT_NS;
        while (!writer(vm).offer(type, b, 0, bytes.length))
        {
            if (System.nanoTime() - deadline > 0)
            {
                throw new IllegalStateException("ring to " + vm + " stays full");
            }
            backend.connection().ring(vm, FenceAbi.MESSAGE_VECTOR);
            LockSupport.parkNanos(1_000_000L);
        }
        backend.connection().ring(vm, FenceAbi.MESSAGE_VECTOR);
    }

    private void malformedRecords() throws Exception
    {
        final byte[] garbage = new byte[64];
        for (int i = 0; i < 300; i++)
        {
            random.nextBytes(garbage);
            garbage[0] = 0x07; // field 0, wire type 7: never a valid protobuf tag
            record(sink, RecordDescriptor.PEER_MESSAGE_TYPE, garbage);
            record(source, RecordDescriptor.PEER_MESSAGE_TYPE, garbage);
        }
        // The channel must still be open: the source answers this forgery.
        send(source, forgedExport());
    }

    private void unknownRecordType() throws Exception
    {
        for (int i = 0; i < 100; i++)
        {
            record(sink, 77, new byte[24]);
            record(source, 1000 + i, new byte[8 * i]);
        }
        send(source, forgedExport());
    }

    // ---- forged messages ----

    private BufferId id(final int exporter, final int number)
    {
        return BufferId.newBuilder().setExporterVm(exporter).setExportNumber(number).setNonce(random.nextLong()).build();
    }

    private static PeerMessage announce(final BufferId id, final long offset, final long length, final int fenceSlot,
        final int revision)
    {
        return PeerMessage.newBuilder().setExport(ExportAnnounce.newBuilder().setId(id).setOffset(offset)
            .setLength(length).setAccess(Access.ACCESS_READ_WRITE).setMetadata(Metadata.newBuilder()
                .setContentType("hostile/test")).setRevision(revision).setFenceSlot(fenceSlot)).build();
    }

    /** An export naming the sink as exporter, of memory and a fence slot that really are ours. */
    private PeerMessage forgedExport() throws Exception
    {
        final BackendBuffer own = backend.allocate(4096);
        final FenceRef fence = backend.allocateFence();
        return announce(id(sink, 1), own.offset(), own.length(), fence.index(), 1);
    }

    private void rangeAttacks() throws Exception
    {
        final BackendBuffer own = backend.allocate(4096);
        final int fence = backend.allocateFence().index();
        final long poolEnd = layout.poolOffset() + layout.poolBytes();
        final long[][] ranges = {
            {0, 4096}, // the header
            {layout.pageTableOffset(), 4096}, // the page table
            {poolEnd, 4096}, // just past the pool
            {own.offset() + 1, 4096}, // not page aligned
            {own.offset(), layout.poolBytes() + 4096}, // longer than the pool
            {own.offset(), -1L}, // 2^64 - 1 bytes
            {Long.MAX_VALUE & ~4095L, 4096}, // beyond any region
            {-4096L, 8192}, // wraps around 2^64
            {own.offset(), 0}, // empty
        };
        for (int i = 0; i < ranges.length; i++)
        {
            send(source, announce(id(me, 100 + i), ranges[i][0], ranges[i][1], fence, 1));
        }
    }

    private void foreignPages() throws Exception
    {
        final int fence = backend.allocateFence().index();
        final int page = firstPageOf(sink);
        send(source, announce(id(me, 200), layout.poolOffset() + (long)page * layout.pageSize(), layout.pageSize(),
            fence, 1));
        System.out.println("FOREIGN page " + page);
    }

    private int firstPageOf(final int vm)
    {
        for (int p = 0; p < layout.poolPages(); p++)
        {
            if (PageTableDescriptor.ownerPeer(region.getLongAcquire(pageEntry(p))) == vm)
            {
                return p;
            }
        }
        throw new IllegalStateException("VM " + vm + " owns no page");
    }

    private int pageEntry(final long page)
    {
        return (int)(layout.pageTableOffset() + page * PageTableDescriptor.ENTRY_LENGTH);
    }

    private int fenceBase(final int slot)
    {
        return (int)(layout.fenceTableOffset() + FenceSlotDescriptor.slotOffset(slot));
    }

    private void fenceAttacks() throws Exception
    {
        final BackendBuffer own = backend.allocate(4096);
        int sinkSlot = -1;
        int freeSlot = -1;
        for (int s = 0; s < layout.fenceSlots() && (sinkSlot < 0 || freeSlot < 0); s++)
        {
            final long owner = region.getLongAcquire(fenceBase(s) + FenceSlotDescriptor.OWNER_OFFSET);
            if (sinkSlot < 0 && PageTableDescriptor.ownerPeer(owner) == sink)
            {
                sinkSlot = s;
            }
            if (freeSlot < 0 && owner == PageTableDescriptor.FREE)
            {
                freeSlot = s;
            }
        }
        final int[] slots = {-1, layout.fenceSlots(), sinkSlot, freeSlot};
        for (int i = 0; i < slots.length; i++)
        {
            send(source, announce(id(me, 300 + i), own.offset(), own.length(), slots[i], 1));
        }
    }

    private void duplicateExport() throws Exception
    {
        final BackendBuffer own = backend.allocate(8192);
        final int fence = backend.allocateFence().index();
        final BufferId id = id(me, 400);
        send(source, announce(id, own.offset(), own.length(), fence, 1));
        send(source, announce(id, own.offset(), own.length(), fence, 1));
        send(source, announce(id, own.offset(), own.length(), fence, 0));
        send(source, announce(id, own.offset(), own.length(), fence, 1));
        // A "re-export" that moves the buffer: refused, the known one stays as it was.
        send(source, announce(id, own.offset() + 4096, 4096, fence, 2));
    }

    private void forgedNotices(final List<BufferId> ids) throws Exception
    {
        final List<BufferId> all = new ArrayList<>(ids);
        for (int i = 0; i < 50; i++)
        {
            all.add(id(sink, 1 + i)); // ids never received: the nonce is guessed
        }
        for (final BufferId id : all)
        {
            send(sink, PeerMessage.newBuilder().setImport(ImportNotice.newBuilder().setId(id)).build());
            send(sink, PeerMessage.newBuilder().setRelease(ReleaseNotice.newBuilder().setId(id)).build());
            send(sink, PeerMessage.newBuilder().setRelease(ReleaseNotice.newBuilder().setId(id).setDropped(true))
                .build());
            send(sink, PeerMessage.newBuilder().setReject(ExportReject.newBuilder().setId(id)
                .setError(ErrorCode.EACCES).setMessage("forged")).build());
            send(source, PeerMessage.newBuilder().setUnexport(UnexportNotice.newBuilder().setId(id)
                .setReason("peer-lost")).build());
        }
    }

    private void rejectFlood() throws Exception
    {
        final PeerMessage forged = forgedExport();
        for (int i = 0; i < FLOOD_MESSAGES; i++)
        {
            send(source, forged);
        }
    }

    // ---- scribbles over what other peers own (not isolatable on a shared region) ----

    private void scribbleFences()
    {
        int n = 0;
        for (int s = 0; s < layout.fenceSlots(); s++)
        {
            final int base = fenceBase(s);
            final long owner = region.getLongAcquire(base + FenceSlotDescriptor.OWNER_OFFSET);
            if (owner == PageTableDescriptor.FREE || PageTableDescriptor.ownerPeer(owner) == me)
            {
                continue;
            }
            region.putInt(base + FenceSlotDescriptor.ACQUIRE_WAITERS_OFFSET, -1);
            region.putInt(base + FenceSlotDescriptor.RELEASE_WAITERS_OFFSET, Integer.MAX_VALUE);
            region.putInt(base + FenceSlotDescriptor.ACQUIRE_ERROR_OFFSET, 0x7777);
            region.putInt(base + FenceSlotDescriptor.RELEASE_ERROR_OFFSET, -5);
            region.putLongVolatile(base + FenceSlotDescriptor.ACQUIRE_VALUE_OFFSET, Long.MIN_VALUE + 1);
            region.putLongVolatile(base + FenceSlotDescriptor.RELEASE_VALUE_OFFSET, Long.MAX_VALUE - 1);
            n++;
        }
        System.out.println("SCRIBBLED fences " + n);
    }

    private void scribblePageTable()
    {
        final long ours = PageTableDescriptor.ownerWord(me, backend.sessionId());
        int stolen = 0;
        int garbage = 0;
        for (long p = 0; p < layout.poolPages(); p++)
        {
            final long word = region.getLongAcquire(pageEntry(p));
            if (word == PageTableDescriptor.FREE)
            {
                // Unowned pages now name a peer id that does not exist: nobody can allocate them.
                region.putLongVolatile(pageEntry(p), 0xDEAD_BEEF_0000_0000L | 200);
                garbage++;
            }
            else if (word != ours)
            {
                region.putLongVolatile(pageEntry(p), ours);
                stolen++;
            }
        }
        System.out.println("SCRIBBLED pages stolen=" + stolen + " garbage=" + garbage);
    }

    private void scribbleHeader()
    {
        final int[] fields = {RegionHeaderDescriptor.LAYOUT_VERSION_OFFSET, RegionHeaderDescriptor.PAGE_SIZE_OFFSET,
            RegionHeaderDescriptor.MAX_PEERS_OFFSET, RegionHeaderDescriptor.RING_CAPACITY_OFFSET,
            RegionHeaderDescriptor.FENCE_SLOTS_OFFSET};
        for (final int f : fields)
        {
            region.putInt(f, region.getInt(f) * 2 + 1);
        }
        region.putLongVolatile(RegionHeaderDescriptor.POOL_OFFSET_OFFSET, 8);
        region.putLongVolatile(RegionHeaderDescriptor.POOL_PAGES_OFFSET, Long.MAX_VALUE);
        System.out.println("SCRIBBLED header");
    }

    private void scribblePeerSlot()
    {
        final int slot = (int)(layout.peerTableOffset() + PeerSlotDescriptor.slotOffset(sink));
        region.putInt(slot + PeerSlotDescriptor.PEER_ID_OFFSET, me);
        region.putInt(slot + PeerSlotDescriptor.ROLES_OFFSET, -1);
        region.putLongVolatile(slot + PeerSlotDescriptor.HEARTBEAT_OFFSET, Long.MIN_VALUE);
        System.out.println("SCRIBBLED slot " + sink);
    }

    private void scribbleCrossRing()
    {
        // The ring the sink writes to the source: neither end is us.
        region.putLongRelease(tailIndex(sink, source), region.getLongAcquire(tailIndex(sink, source)) + 5);
        System.out.println("SCRIBBLED ring " + sink + "->" + source);
    }

    /** Prints what the daemons send us, so the test can see their answers. */
    private static final class Printer implements BackendListener
    {
        @Override
        public void onPeerUp(final PeerInfo peer)
        {
        }

        @Override
        public void onPeerDown(final int vm, final long sessionId, final String reason)
        {
            System.out.println("DOWN " + vm + " " + reason);
        }

        @Override
        public void onMessage(final int vm, final ByteBuffer payload, final int length)
        {
            try
            {
                final PeerMessage m = PeerMessage.parseFrom(payload.duplicate().order(ByteOrder.LITTLE_ENDIAN)
                    .position(0).limit(length));
                final String detail = m.hasReject() ? m.getReject().getError() + " " +
                    m.getReject().getId().getExportNumber() : "";
                System.out.println("GOT " + m.getKindCase() + " from " + vm + " " + detail);
            }
            catch (final InvalidProtocolBufferException e)
            {
                System.out.println("GOT garbage from " + vm);
            }
        }
    }
}
