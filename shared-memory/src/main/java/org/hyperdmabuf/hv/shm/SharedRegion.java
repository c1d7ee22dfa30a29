package org.hyperdmabuf.hv.shm;

import edu.umd.cs.findbugs.annotations.SuppressFBWarnings;

import java.io.IOException;

import static org.hyperdmabuf.hv.shm.RegionHeaderDescriptor.*;

/**
 * Formats a blank region or attaches to a formatted one, and gives access to its areas.
 * The control area (everything before the pool) is mapped by the daemon; buffer pages in the pool are
 * mapped only by the clients that use them.
 */
public final class SharedRegion
{
    /** Maps {@code length} bytes of the region at {@code offset} (both page-aligned). */
    @FunctionalInterface
    public interface Mapper
    {
        MemoryWindow map(long offset, long length) throws IOException;
    }

    /** Parameters a formatter uses when it finds the region blank. */
    public record FormatParams(int pageSize, int maxPeers, int ringCapacity, int fenceSlots)
    {
        public static FormatParams defaults()
        {
            return new FormatParams(4096, RegionLayout.DEFAULT_MAX_PEERS, RegionLayout.DEFAULT_RING_CAPACITY,
                RegionLayout.DEFAULT_FENCE_SLOTS);
        }
    }

    private final RegionLayout layout;
    private final MemoryWindow control;
    private final boolean formattedByUs;

    private SharedRegion(final RegionLayout layout, final MemoryWindow control, final boolean formattedByUs)
    {
        this.layout = layout;
        this.control = control;
        this.formattedByUs = formattedByUs;
    }

    /**
     * Formats the region if it is blank (we win the format CAS), otherwise waits up to {@code timeoutMillis}
     * for the formatter's ready flag and validates the header against the layout its parameters imply. A
     * formatter that fails gives the region back blank (format_state 0), and a waiter that sees it blank again
     * tries the CAS itself. A fault on the region's memory (SIGBUS: a file that cannot be backed, such as a
     * sparse file on a full tmpfs) is an {@link IOException}, never an {@link InternalError}.
     */
    public static SharedRegion formatOrAttach(final long regionSize, final Mapper mapper, final FormatParams params,
        final long sessionId, final long timeoutMillis) throws IOException, ShmCorruptionException
    {
        if (regionSize < HEADER_LENGTH * 4L)
        {
            throw new ShmCorruptionException("region_size=" + regionSize + " too small");
        }
        try
        {
            final MemoryWindow header = mapper.map(0, HEADER_LENGTH);
            final long deadline = System.nanoTime() + timeoutMillis * 1_000_000L;
            while (header.getLongAcquire(MAGIC_OFFSET) != MAGIC)
            {
                if (header.getIntVolatile(FORMAT_STATE_OFFSET) == FORMAT_STATE_BLANK &&
                    header.compareAndSetInt(FORMAT_STATE_OFFSET, FORMAT_STATE_BLANK, FORMAT_STATE_FORMATTING))
                {
                    return format(regionSize, mapper, params, sessionId, header);
                }
                if (System.nanoTime() - deadline > 0)
                {
                    throw new ShmCorruptionException("region not formatted within " + timeoutMillis +
                        " ms (format_state=" + header.getIntVolatile(FORMAT_STATE_OFFSET) + "): a formatter " +
                        "started and neither finished nor gave up; if it died, the region must be recreated");
                }
                Thread.onSpinWait();
                Thread.yield();
            }
            final RegionLayout layout = validate(header, regionSize);
            return new SharedRegion(layout, mapper.map(0, layout.controlLength()), false);
        }
        catch (final InternalError e)
        {
            throw fault(regionSize, e);
        }
    }

    /** Steps 3 to 5 of formatting, once our CAS set format_state 1; on any failure format_state is 0 again. */
    private static SharedRegion format(final long regionSize, final Mapper mapper, final FormatParams params,
        final long sessionId, final MemoryWindow header) throws IOException
    {
        try
        {
            final RegionLayout layout = RegionLayout.compute(regionSize, params.pageSize(), params.maxPeers(),
                params.ringCapacity(), params.fenceSlots());
            final MemoryWindow control = mapper.map(0, layout.controlLength());
            control.setMemory(HEADER_LENGTH, (int)(layout.controlLength() - HEADER_LENGTH), (byte)0);
            header.setMemory(DEFINED_LENGTH, HEADER_LENGTH - DEFINED_LENGTH, (byte)0);
            header.putInt(LAYOUT_VERSION_OFFSET, LAYOUT_VERSION);
            header.putInt(HEADER_LENGTH_OFFSET, HEADER_LENGTH);
            header.putLong(REGION_SIZE_OFFSET, regionSize);
            header.putInt(PAGE_SIZE_OFFSET, layout.pageSize());
            header.putInt(MAX_PEERS_OFFSET, layout.maxPeers());
            header.putInt(RING_CAPACITY_OFFSET, layout.ringCapacity());
            header.putLong(PEER_TABLE_OFFSET_OFFSET, layout.peerTableOffset());
            header.putLong(RING_AREA_OFFSET_OFFSET, layout.ringAreaOffset());
            header.putLong(RING_STRIDE_OFFSET, layout.ringStride());
            header.putLong(PAGE_TABLE_OFFSET_OFFSET, layout.pageTableOffset());
            header.putLong(FENCE_TABLE_OFFSET_OFFSET, layout.fenceTableOffset());
            header.putInt(FENCE_SLOTS_OFFSET, layout.fenceSlots());
            header.putLong(POOL_OFFSET_OFFSET, layout.poolOffset());
            header.putLong(POOL_PAGES_OFFSET, layout.poolPages());
            header.putLong(FORMATTER_SESSION_OFFSET, sessionId);
            // A fault in compiled code is raised late, at the thread's next safepoint or native call: this native
            // call raises it here, while the region is not yet published.
            Thread.yield();
            header.putIntRelease(FORMAT_STATE_OFFSET, FORMAT_STATE_READY);
            header.putLongRelease(MAGIC_OFFSET, MAGIC);
            return new SharedRegion(layout, control, true);
        }
        catch (final IOException | RuntimeException | Error e)
        {
            giveBack(header);
            if (e instanceof InternalError)
            {
                throw fault(regionSize, (InternalError)e);
            }
            throw e;
        }
    }

    /** Blank again, for the next formatter (the header page itself may be what faulted: then nobody can format). */
    private static void giveBack(final MemoryWindow header)
    {
        try
        {
            header.putIntRelease(FORMAT_STATE_OFFSET, FORMAT_STATE_BLANK);
            Thread.yield();
        }
        catch (final InternalError e)
        {
            // the region is unusable for everyone; the fault that brought us here is reported
        }
    }

    private static IOException fault(final long regionSize, final InternalError e)
    {
        return new IOException("a fault (SIGBUS) on the memory of the region of " + regionSize + " bytes: what " +
            "backs it cannot provide its pages (e.g. a sparse file on a full tmpfs)", e);
    }

    /** Recomputes the layout from the header's parameters and checks every stored offset against it. */
    public static RegionLayout validate(final MemoryWindow header, final long regionSize) throws ShmCorruptionException
    {
        final int version = header.getInt(LAYOUT_VERSION_OFFSET);
        if (version != LAYOUT_VERSION)
        {
            throw new ShmCorruptionException("layout_version=" + version + ", expected " + LAYOUT_VERSION);
        }
        if (header.getInt(HEADER_LENGTH_OFFSET) != HEADER_LENGTH || header.getLong(REGION_SIZE_OFFSET) != regionSize)
        {
            throw new ShmCorruptionException("header_length=" + header.getInt(HEADER_LENGTH_OFFSET) + " region_size=" +
                header.getLong(REGION_SIZE_OFFSET) + " do not match the mapped region of " + regionSize + " bytes");
        }
        final RegionLayout layout;
        try
        {
            layout = RegionLayout.compute(regionSize, header.getInt(PAGE_SIZE_OFFSET), header.getInt(MAX_PEERS_OFFSET),
                header.getInt(RING_CAPACITY_OFFSET), header.getInt(FENCE_SLOTS_OFFSET));
        }
        catch (final IllegalArgumentException e)
        {
            throw new ShmCorruptionException("header parameters invalid: " + e.getMessage());
        }
        if (header.getLong(PEER_TABLE_OFFSET_OFFSET) != layout.peerTableOffset() ||
            header.getLong(RING_AREA_OFFSET_OFFSET) != layout.ringAreaOffset() ||
            header.getLong(RING_STRIDE_OFFSET) != layout.ringStride() ||
            header.getLong(PAGE_TABLE_OFFSET_OFFSET) != layout.pageTableOffset() ||
            header.getLong(FENCE_TABLE_OFFSET_OFFSET) != layout.fenceTableOffset() ||
            header.getLong(POOL_OFFSET_OFFSET) != layout.poolOffset() ||
            header.getLong(POOL_PAGES_OFFSET) != layout.poolPages())
        {
            throw new ShmCorruptionException("header offsets do not match the layout implied by its parameters " +
                layout);
        }
        return layout;
    }

    public RegionLayout layout()
    {
        return layout;
    }

    public boolean formattedByUs()
    {
        return formattedByUs;
    }

    @SuppressFBWarnings(value = "EI_EXPOSE_REP",
        justification = "the control area of the mapped region, which the daemon works on in place")
    public MemoryWindow control()
    {
        return control;
    }

    public MemoryWindow peerSlot(final int peerId)
    {
        checkPeer(peerId);
        return control.slice(layout.peerTableOffset() + PeerSlotDescriptor.slotOffset(peerId),
            PeerSlotDescriptor.SLOT_LENGTH);
    }

    public MemoryWindow ring(final int from, final int to)
    {
        checkPeer(from);
        checkPeer(to);
        return control.slice(layout.ringOffset(from, to), (int)layout.ringStride());
    }

    public MemoryWindow pageTable()
    {
        return control.slice(layout.pageTableOffset(), (int)(layout.poolPages() * PageTableDescriptor.ENTRY_LENGTH));
    }

    public MemoryWindow fenceTable()
    {
        return control.slice(layout.fenceTableOffset(), layout.fenceSlots() * FenceSlotDescriptor.SLOT_LENGTH);
    }

    /** Publishes this peer's slot: fields first, {@code state} last with release. */
    public void join(final int peerId, final long sessionId, final int roles, final int pid)
    {
        join(peerId, sessionId, roles, pid, PeerSlotDescriptor.NOTIFY_POLLS);
    }

    /** Publishes our slot; {@code notify} is a {@code PeerSlotDescriptor.NOTIFY_*} value. */
    public void join(final int peerId, final long sessionId, final int roles, final int pid, final int notify)
    {
        final MemoryWindow slot = peerSlot(peerId);
        slot.putIntRelease(PeerSlotDescriptor.STATE_OFFSET, PeerSlotDescriptor.STATE_FREE);
        slot.putInt(PeerSlotDescriptor.PEER_ID_OFFSET, peerId);
        slot.putLong(PeerSlotDescriptor.SESSION_ID_OFFSET, sessionId);
        slot.putLong(PeerSlotDescriptor.HEARTBEAT_OFFSET, 1);
        slot.putInt(PeerSlotDescriptor.ABI_VERSION_OFFSET, LAYOUT_VERSION);
        slot.putInt(PeerSlotDescriptor.ROLES_OFFSET, roles);
        slot.putInt(PeerSlotDescriptor.PID_OFFSET, pid);
        slot.putInt(PeerSlotDescriptor.NOTIFY_OFFSET, notify);
        slot.putIntRelease(PeerSlotDescriptor.STATE_OFFSET, PeerSlotDescriptor.STATE_ACTIVE);
    }

    public void leave(final int peerId)
    {
        peerSlot(peerId).putIntRelease(PeerSlotDescriptor.STATE_OFFSET, PeerSlotDescriptor.STATE_GONE);
    }

    public boolean isPeerInRange(final int peerId)
    {
        return peerId >= 0 && peerId < layout.maxPeers();
    }

    private void checkPeer(final int peerId)
    {
        if (!isPeerInRange(peerId))
        {
            throw new IllegalArgumentException("peer id " + peerId + " outside [0, " + layout.maxPeers() + ")");
        }
    }
}
