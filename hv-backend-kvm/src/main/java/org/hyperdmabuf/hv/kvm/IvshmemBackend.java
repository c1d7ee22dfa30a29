package org.hyperdmabuf.hv.kvm;

import org.hyperdmabuf.abi.FenceAbi;
import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.hv.shm.MemoryWindow;
import org.hyperdmabuf.hv.shm.RecordDescriptor;
import org.hyperdmabuf.hv.shm.RingDescriptor;
import org.hyperdmabuf.hv.shm.SharedRegion;
import org.hyperdmabuf.hv.spi.BackendBuffer;
import org.hyperdmabuf.hv.spi.BackendException;
import org.hyperdmabuf.hv.spi.BackendListener;
import org.hyperdmabuf.hv.spi.Capabilities;
import org.hyperdmabuf.hv.spi.ClientMapping;
import org.hyperdmabuf.hv.spi.DirectFenceWakeups;
import org.hyperdmabuf.hv.spi.DmaBufExports;
import org.hyperdmabuf.hv.spi.FenceRef;
import org.hyperdmabuf.hv.spi.FenceSlots;
import org.hyperdmabuf.hv.spi.HypervisorBackend;
import org.hyperdmabuf.hv.spi.LoopDrivenReceiver;
import org.hyperdmabuf.hv.spi.PeerFenceDoorbells;
import org.hyperdmabuf.hv.spi.PeerInfo;
import org.hyperdmabuf.hv.spi.PeerMemoryReclaim;
import org.hyperdmabuf.hv.spi.ShareRef;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * KVM ivshmem, in two modes that share everything above the transport ({@link IvshmemTransport}):
 * <ul>
 *   <li><b>host mode</b> ({@code mode=host}, the default): this daemon is one peer of an ivshmem server (ours or
 *   any speaking QEMU's protocol) and shares its region with the other daemons and QEMU guests attached to the
 *   same server; doorbells are the server's eventfds.</li>
 *   <li><b>guest mode</b> ({@code mode=guest}): this daemon runs inside a VM and uses the VM's ivshmem PCI
 *   device through sysfs ({@code resource2} is the region, IVPosition our id, the Doorbell register rings
 *   peers). Peers are found from the region's peer table and heartbeats alone (no server announces them).
 *   With vfio, doorbells are MSI-X eventfds: the region is scanned on each and otherwise only every quarter of
 *   the liveness timeout ({@link IvshmemTransport#scanIntervalNs}), so an idle daemon sleeps. Without an
 *   IOMMU/vfio, doorbell interrupts cannot reach userspace, so the receive loop polls the rings and its fence
 *   bell with an adaptive back-off (spin, yield, park up to {@code poll-max-park-us}).</li>
 * </ul>
 * <p>
 * The region is formatted by the first daemon (see {@link SharedRegion}); each daemon publishes a peer slot
 * (session id, heartbeat) and talks to peer {@code j} through the SPSC ring {@code (me, j)}, ringing j's
 * vector-0 eventfd after each record. A peer is up when the server has announced it and its slot is active
 * with a session id. Vector 1 is the fence doorbell.
 * <p>
 * <b>Who receives.</b> By default our receive thread waits on the transport and calls the listener. A daemon
 * may instead drive the receive work from its own event loop ({@link LoopDrivenReceiver}: wherever doorbells are
 * eventfds, i.e. host mode and guest mode with interrupts): the vector eventfds then sit in the loop's epoll
 * set, so a doorbell wakes the thread that runs the roles directly, and our thread only advances the heartbeat.
 * <p>
 * Every peer of the region can reach all of it: isolation is by convention ({@code shared-region}) and
 * read-only imports are enforced by the daemon handing out an O_RDONLY fd ({@code daemon}).
 * <p>
 * Options: see {@link IvshmemConfig}.
 * A peer whose server id is beyond max-peers claims a free slot (ABI.md "Peer table", Claiming; {@link SlotClaims}).
 * <p>
 * The parts: {@link IvshmemConfig} (options), {@link RingChannels} (messages over the rings),
 * {@link PeerTracker} with {@link org.hyperdmabuf.hv.spi.PeerLiveness} (peers up and down, resync),
 * {@link RegionMemory} (pages and fence slots), {@link FenceDoorbells} (fence doorbells and wake leases); this class
 * joins the region, runs the receive passes and guards the lifecycle. It has every optional part of the SPI: fence
 * slots, fence doorbells, direct wake-ups (doorbell fds, wake vectors), reclaim, and a loop-driven receiver.
 */
public final class IvshmemBackend implements HypervisorBackend, LoopDrivenReceiver, FenceSlots, PeerFenceDoorbells,
    DirectFenceWakeups, PeerMemoryReclaim, DmaBufExports
{
    public static final String NAME = "kvm-ivshmem";
    /** {@code host} (ivshmem server client, the default) or {@code guest} (PCI device through sysfs). */
    public static final String OPTION_MODE = "mode";
    public static final String MODE_HOST = "host";
    public static final String MODE_GUEST = "guest";
    public static final String OPTION_SOCKET = "socket";
    public static final String OPTION_DEVICE = "device";
    public static final String OPTION_REGION_SIZE = "region-size";
    public static final String OPTION_SUBSYSTEM_ID = "subsystem-id";
    public static final String OPTION_PEER_ID = "peer-id";
    public static final String OPTION_SYSFS = "sysfs";
    public static final String OPTION_ENABLE = "enable";
    public static final String OPTION_POLL_MAX_PARK_US = "poll-max-park-us";
    /** Guest mode: {@code auto}, {@code interrupt} (MSI-X through vfio-pci) or {@code polling}. */
    public static final String OPTION_NOTIFICATION = "notification";
    public static final String OPTION_MAX_PEERS = "max-peers";
    public static final String OPTION_RING_CAPACITY = "ring-capacity";
    /** Fence slots in the region: the number of exports live at once across all peers. */
    public static final String OPTION_FENCE_SLOTS = "fence-slots";
    public static final String OPTION_CONNECT_TIMEOUT_MS = "connect-timeout-ms";
    public static final String OPTION_ROLES = "roles";
    public static final String OPTION_HEARTBEAT_MS = "heartbeat-ms";
    public static final String OPTION_LIVENESS_TIMEOUT_MS = "liveness-timeout-ms";
    /** Options of the region protocol itself, whatever the transport. */
    public static final List<String> COMMON_OPTIONS = List.of(OPTION_MAX_PEERS, OPTION_RING_CAPACITY,
        OPTION_FENCE_SLOTS, OPTION_CONNECT_TIMEOUT_MS, OPTION_ROLES, OPTION_HEARTBEAT_MS, OPTION_LIVENESS_TIMEOUT_MS);
    public static final long DEFAULT_HEARTBEAT_MS = 100;
    public static final long DEFAULT_LIVENESS_TIMEOUT_MS = 1500;
    /**
     * Vectors this backend asks for: 0 carries message doorbells, 1 fence doorbells, 2 and up are wake vectors
     * leased to local fence waiters (FENCE_WAKE). A server giving fewer only means fewer (or no) leases.
     */
    public static final int VECTORS = 16;
    /** Bits of a wake mask that can name one of our wake vectors. */
    static final int WAKE_VECTORS_MASK = (1 << VECTORS) - (1 << FenceAbi.FIRST_WAKE_VECTOR);
    public static final long MAX_BUFFER_SIZE = 1L << 30;
    /**
     * Receive-thread wake-up bound: rings are drained, peers' heartbeats are checked and
     * {@link BackendListener#onFenceTick()} is called this often (the tick is never more frequent); in guest mode
     * with interrupts every quarter of the liveness timeout instead ({@link IvshmemTransport#scanIntervalNs}).
     */
    public static final int POLL_INTERVAL_MS = 10;

    private final IvshmemConfig config;
    /** {@link #NAME}, or the name of a backend that runs this protocol over its own transport (ACRN). */
    private final String name;
    private final IvshmemAttachment at;
    /** The daemon asked to drive the receive work ({@link LoopDrivenReceiver}). */
    private volatile boolean driveFromLoop;

    public IvshmemBackend(final Map<String, String> options) throws BackendException
    {
        this(IvshmemConfig.parse(NAME, options));
    }

    /**
     * This protocol over another backend's transport: {@code options} holds only the common options (those
     * that are not mode-specific), {@code attachment} names what {@code transport} attaches to, for messages.
     */
    public IvshmemBackend(final String name, final Map<String, String> options, final String attachment,
        final TransportFactory transport) throws BackendException
    {
        this(IvshmemConfig.embedded(name, options, attachment, transport));
    }

    public IvshmemBackend(final IvshmemConfig config)
    {
        this.config = config;
        this.name = config.name;
        this.at = new IvshmemAttachment(config);
    }

    /** Opens the transport when the backend starts. */
    @FunctionalInterface
    public interface TransportFactory
    {
        IvshmemTransport open(IvshmemTransport.Events events) throws IOException, BackendException;
    }

    @Override
    public String name()
    {
        return name;
    }

    @Override
    public Capabilities capabilities()
    {
        checkStarted();
        return new Capabilities(name, at.localVm, at.layout.pageSize(), at.memory.maxBufferSize(), "daemon", "shared-region",
            true, at.transport.hasDoorbell(), at.transport.notification());
    }

    @Override
    public int localVm()
    {
        return at.localVm;
    }

    @Override
    public long sessionId()
    {
        return at.session();
    }

    @Override
    public void start(final BackendListener listener) throws BackendException
    {
        at.start(listener, driveFromLoop);
    }

    @Override
    public List<PeerInfo> peers()
    {
        final RingChannels r = at.rings;
        return r == null ? new ArrayList<>() : r.peers();
    }

    @Override
    public BackendBuffer allocate(final long size) throws BackendException
    {
        if (size <= 0)
        {
            throw new BackendException(ErrorCode.EINVAL, "allocation size must be positive: " + size);
        }
        return at.guard.guarded(() -> at.memory.allocate(size));
    }

    @Override
    public void free(final BackendBuffer buffer) throws BackendException
    {
        at.guard.guardedRun(() -> at.memory.free(buffer));
    }

    @Override
    public ShareRef share(final BackendBuffer buffer, final int targetVm, final boolean readOnly)
        throws BackendException
    {
        return at.guard.guarded(() ->
        {
            at.memory.checkOwn(buffer);
            if (at.rings.channel(targetVm) == null)
            {
                throw new BackendException(ErrorCode.ENOPEER, "peer " + targetVm + " is not reachable");
            }
            return new ShareRef(buffer.offset(), buffer.length());
        });
    }

    @Override
    public void unshare(final BackendBuffer buffer, final ShareRef ref)
    {
        // One shared region: there is nothing to revoke; the importer's mapping stays valid.
    }

    @Override
    public ClientMapping mapAllocation(final BackendBuffer buffer) throws BackendException
    {
        return at.guard.guarded(() ->
        {
            at.memory.checkOwn(buffer);
            return new ClientMapping(at.memory.dupRegionFd(false), buffer.offset(), buffer.length(), false);
        });
    }

    @Override
    public ClientMapping mapImport(final int exporterVm, final ShareRef ref, final boolean readOnly)
        throws BackendException
    {
        return at.guard.guarded(() ->
        {
            at.memory.checkOwnedBy(exporterVm, ref);
            return new ClientMapping(at.memory.dupRegionFd(readOnly), ref.offset(), ref.length(), readOnly);
        });
    }

    @Override
    public String dmaBufUnavailable()
    {
        checkStarted();
        return at.transport.dmaBufUnavailable();
    }

    @Override
    public int exportDmaBuf(final long offset, final long length, final String name) throws BackendException
    {
        return at.guard.guarded(() -> at.memory.exportDmaBuf(offset, length, name));
    }

    @Override
    public void checkImport(final int exporterVm, final ShareRef ref, final boolean readOnly)
        throws BackendException
    {
        // No fd: opening a read-only one costs a path walk in /proc.
        at.guard.guardedRun(() -> at.memory.checkOwnedBy(exporterVm, ref));
    }

    @Override
    public boolean send(final int peerVm, final ByteBuffer message, final int offset, final int length)
        throws BackendException
    {
        if (offset < 0 || length < 0 || offset > message.limit() - length)
        {
            throw new BackendException(ErrorCode.EINVAL, "message range [" + offset + ", +" + length + ") outside " +
                "the buffer");
        }
        return at.guard.guarded(() ->
        {
            final int max = maxMessageLength();
            if (length > max)
            {
                throw new BackendException(ErrorCode.EMSGSIZE, "message of " + length + " bytes exceeds " + max);
            }
            return at.rings.send(peerVm, message, offset, length);
        });
    }

    @Override
    public int maxMessageLength()
    {
        final int capacity = at.layout != null ? at.layout.ringCapacity() : config.ringCapacity;
        return RingDescriptor.maxRecordLength(capacity) - RecordDescriptor.HEADER_LENGTH;
    }

    @Override
    public long freeBytes()
    {
        try
        {
            return at.guard.guarded(at.memory::freeBytes);
        }
        catch (final BackendException e)
        {
            return 0;
        }
    }

    @Override
    public long totalBytes()
    {
        checkStarted();
        return at.layout.poolBytes();
    }

    @Override
    public FenceRef allocateFence() throws BackendException
    {
        return at.guard.guarded(() -> at.memory.allocateFence());
    }

    @Override
    public void freeFence(final FenceRef fence) throws BackendException
    {
        at.guard.guardedRun(() -> at.memory.freeFence(fence));
    }

    @Override
    public MemoryWindow fenceWindow(final int index)
    {
        checkStarted();
        return at.memory.fenceWindow(index);
    }

    @Override
    public boolean validateFence(final int exporterVm, final int index)
    {
        final RegionMemory m = at.memory;
        if (m == null)
        {
            return false;
        }
        if (exporterVm == at.localVm)
        {
            return m.fenceOwnedBy(index, at.localVm, sessionId());
        }
        final RingChannels.PeerChannel ch = at.rings.channel(exporterVm);
        return ch != null && m.fenceOwnedBy(index, exporterVm, ch.session);
    }

    @Override
    public boolean ringFence(final int peerVm)
    {
        return at.guard.started() && at.doorbells.ring(peerVm);
    }

    @Override
    public boolean ringFence(final int peerVm, final int wakeMask)
    {
        return at.guard.started() && at.doorbells.ring(peerVm, wakeMask);
    }

    /** Vector 0 or 1: the peer's fence doorbell; 2 and up: one of its wake vectors (ABI.md "Direct fence wake-ups"). */
    @Override
    public int openFenceDoorbell(final int peerVm, final int vector) throws BackendException
    {
        checkStarted();
        return at.doorbells.open(peerVm, vector);
    }

    @Override
    public FenceWake leaseFenceWake() throws BackendException
    {
        checkStarted();
        return at.doorbells.lease();
    }

    @Override
    public void returnFenceWake(final int vector)
    {
        final FenceDoorbells d = at.doorbells;
        if (d != null)
        {
            d.returnLease(vector);
        }
    }

    @Override
    public void wakeLocal(final int wakeMask)
    {
        if (at.guard.started())
        {
            at.doorbells.wakeLocal(wakeMask);
        }
    }

    @Override
    public long fenceRegionOffset(final int index)
    {
        checkStarted();
        return at.memory.fenceOffset(index);
    }

    @Override
    public long reclaimPeerMemory(final int vm, final long session) throws BackendException
    {
        return at.guard.guarded(() ->
        {
            if (!at.region.isPeerInRange(vm))
            {
                throw new BackendException(ErrorCode.EINVAL, "peer " + vm + " outside [0, " + at.layout.maxPeers() + ")");
            }
            if (vm == at.localVm && session == sessionId())
            {
                throw new BackendException(ErrorCode.EINVAL, "refusing to reclaim our own live session");
            }
            final RingChannels.PeerChannel ch = at.rings.channel(vm);
            if (ch != null && ch.session == session)
            {
                throw new BackendException(ErrorCode.EBUSY, "peer " + vm + " session " + Long.toHexString(session) +
                    " is up");
            }
            return at.memory.reclaim(vm, session);
        });
    }

    /** Records from {@code vm} discarded because they belonged to another session of it or of ours. */
    public long discardedRecords(final int vm)
    {
        final RingChannels r = at.rings;
        return r == null ? 0 : r.discarded(vm);
    }

    /** The ivshmem server connection in host mode, null in guest mode (for tests and diagnostics). */
    public IvshmemPeerConnection connection()
    {
        return at.transport instanceof IvshmemServerTransport ? ((IvshmemServerTransport)at.transport).connection() : null;
    }

    @Override
    public void close()
    {
        at.close();
    }

    // ---- driven by the daemon's loop (LoopDrivenReceiver) ----

    @Override
    public void driveFromLoop()
    {
        driveFromLoop = true;
    }

    @Override
    public int[] notificationFds()
    {
        return at.driven ? at.transport.notificationFds() : new int[0];
    }

    @Override
    public boolean onNotification(final int index)
    {
        return at.drivenPass(index);
    }

    @Override
    public boolean pass()
    {
        return at.drivenPass(-1);
    }

    /** The scan interval: heartbeats never need it shorter (our own thread beats; heartbeat-ms is at least 10). */
    @Override
    public long passIntervalNanos()
    {
        return at.scanNs;
    }

    private void checkStarted()
    {
        if (at.layout == null)
        {
            throw new IllegalStateException(name + " backend not started");
        }
    }
}
