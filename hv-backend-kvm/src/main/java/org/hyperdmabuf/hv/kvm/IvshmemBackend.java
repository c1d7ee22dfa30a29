package org.hyperdmabuf.hv.kvm;

import org.hyperdmabuf.abi.FenceAbi;
import org.hyperdmabuf.hv.nativeio.MappedMemory;
import org.hyperdmabuf.hv.nativeio.Native;
import org.hyperdmabuf.hv.pci.IvshmemDeviceSelector;
import org.hyperdmabuf.hv.pci.IvshmemPciScanner;
import org.hyperdmabuf.hv.nativeio.NativeIoException;
import org.hyperdmabuf.hv.shm.FencePool;
import org.hyperdmabuf.hv.shm.FenceSlotDescriptor;
import org.hyperdmabuf.hv.shm.MemoryWindow;
import org.hyperdmabuf.hv.shm.PagePool;
import org.hyperdmabuf.hv.shm.PeerSlotDescriptor;
import org.hyperdmabuf.hv.shm.RecordDescriptor;
import org.hyperdmabuf.hv.shm.RegionLayout;
import org.hyperdmabuf.hv.shm.RingDescriptor;
import org.hyperdmabuf.hv.shm.RingReader;
import org.hyperdmabuf.hv.shm.RingWriter;
import org.hyperdmabuf.hv.shm.SharedRegion;
import org.hyperdmabuf.hv.shm.ShmCorruptionException;
import org.hyperdmabuf.hv.pci.PciDeviceException;
import org.hyperdmabuf.hv.spi.BackendBuffer;
import org.hyperdmabuf.hv.spi.BackendException;
import org.hyperdmabuf.hv.spi.BackendListener;
import org.hyperdmabuf.hv.spi.Capabilities;
import org.hyperdmabuf.hv.spi.ClientMapping;
import org.hyperdmabuf.hv.spi.FenceRef;
import org.hyperdmabuf.hv.spi.HypervisorBackend;
import org.hyperdmabuf.hv.spi.LoopDrivenReceiver;
import org.hyperdmabuf.hv.spi.ObserverStall;
import org.hyperdmabuf.hv.spi.PeerInfo;
import org.hyperdmabuf.hv.spi.ShareRef;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * KVM ivshmem, in two modes that share everything above the transport ({@link IvshmemTransport}):
 * <ul>
 *   <li><b>host mode</b> ({@code mode=host}, the default): this daemon is one peer of an ivshmem server (ours or
 *   any speaking QEMU's protocol) and shares its region with the other daemons and QEMU guests attached to the
 *   same server; doorbells are the server's eventfds.</li>
 *   <li><b>guest mode</b> ({@code mode=guest}): this daemon runs inside a VM and uses the VM's ivshmem PCI
 *   device through sysfs ({@code resource2} is the region, IVPosition our id, the Doorbell register rings
 *   peers). Without an IOMMU/vfio, doorbell interrupts cannot reach userspace, so the receive loop polls the
 *   rings and its fence bell with an adaptive back-off (spin, yield, park up to {@code poll-max-park-us}), and
 *   peers are found from the region's peer table and heartbeats alone (no server announces them).</li>
 * </ul>
 * <p>
 * The region is formatted by the first daemon (see {@link SharedRegion}); each daemon publishes a peer slot
 * (session id, heartbeat) and talks to peer {@code j} through the SPSC ring {@code (me, j)}, ringing j's
 * vector-0 eventfd after each record. A peer is up when the server has announced it and its slot is active
 * with a session id. Vector 1 is the fence doorbell.
 * <p>
 * <b>Who receives.</b> By default our receive thread waits on the transport and calls the listener. A daemon
 * may instead drive the receive work from its own event loop ({@link LoopDrivenReceiver}, host mode only): the
 * vector eventfds then sit in the loop's epoll set, so a doorbell wakes the thread that runs the roles
 * directly, and our thread only advances the heartbeat.
 * <p>
 * <b>Sessions on the rings.</b> A joining daemon continues its outgoing rings at the tail it finds (a live
 * consumer may still be reading the bytes before it) and skips its incoming rings to their tail. The first
 * record it writes to peer {@code j}, and the first after it sees a new session of {@code j}, is a
 * {@code SESSION_START} naming both sessions; incoming records are delivered only while the last
 * {@code SESSION_START} on that ring names the producer's current session and ours, so nothing written by an
 * earlier incarnation of either side is taken for the current one (ABI.md "Sessions on a ring").
 * <p>
 * <b>Liveness.</b> The receive thread advances our heartbeat every {@code heartbeat-ms} and watches the
 * others' on its own clock: a peer whose heartbeat has not moved for {@code liveness-timeout-ms} is declared
 * down with reason {@code timeout}, whether or not the ivshmem server is alive. Detection takes at most
 * {@code liveness-timeout-ms + heartbeat-ms + }{@link #POLL_INTERVAL_MS} after the peer stopped. A session
 * declared down (timeout or corrupt) stays down even if its heartbeat resumes (SIGSTOP, SIGCONT): the daemons
 * have already cleaned up after it; the peer comes back only with a new session id. We tell it so in
 * {@code dropped_session} of our ring to it, and a daemon that finds its own session there starts a new one by
 * itself and rejoins ({@link #resyncIfDropped}, ABI.md "Resync"). Because the heartbeat
 * is driven by our thread, listener callbacks (on the receive thread) that block for longer than the peers'
 * liveness timeout get this daemon declared dead; a busy driving loop does not.
 * <p>
 * Every peer of the region can reach all of it: isolation is by convention ({@code shared-region}) and
 * read-only imports are enforced by the daemon handing out an O_RDONLY fd ({@code daemon}).
 * <p>
 * Host-mode options: {@code socket} (server path, required), {@code connect-timeout-ms} (default 5000).
 * Guest-mode options: {@code device} (PCI address), {@code region-size} (bytes, K/M/G suffix) and
 * {@code subsystem-id} (hex, the ACRN region id) pick the device when the VM has several (exactly one must
 * match); {@code peer-id} overrides IVPosition (required on {@code ivshmem-plain}, whose IVPosition is 0 in every
 * VM); {@code sysfs} (default {@code /sys/bus/pci/devices}); {@code enable} (write 1 to the device's
 * {@code enable} attribute, default true); {@code poll-max-park-us} (longest back-off park, default 1000).
 * {@code connect-timeout-ms} also bounds the wait for another peer to finish formatting the region.
 * Common options: {@code max-peers} (default 8), {@code ring-capacity}
 * (bytes, power of two, default 65536), {@code connect-timeout-ms} (default 5000), {@code roles}
 * ({@code sink}, {@code source} or {@code sink,source}, the default), {@code heartbeat-ms} (default 100, at
 * least 10), {@code liveness-timeout-ms} (default 1500, more than twice {@code heartbeat-ms}; every peer's
 * heartbeat interval must be below half of every other peer's timeout), {@code fence-slots} (exports live at
 * once in the region, default 8192). {@code max-peers}, {@code ring-capacity} and {@code fence-slots} apply
 * only if this daemon formats the region; otherwise the region's header wins.
 * A peer whose server id is beyond max-peers claims a free slot (ABI.md "Peer table", Claiming; {@link SlotClaims}).
 */
public final class IvshmemBackend implements HypervisorBackend, LoopDrivenReceiver
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
     * {@link BackendListener#onFenceTick()} is called this often (the tick is never more frequent).
     */
    public static final int POLL_INTERVAL_MS = 10;

    private static final Logger LOG = LoggerFactory.getLogger(IvshmemBackend.class);
    private static final int PAGE_SIZE = 4096;
    private static final int BATCH = 256;
    private static final long JOIN_TIMEOUT_MS = 5000;
    private static final long TICK_NS = POLL_INTERVAL_MS * 1_000_000L;
    private static final SecureRandom RANDOM = new SecureRandom();
    /** A new session id replaced the one we knew: nobody is left to tell that it was dropped. */
    private static final String REASON_RESTARTED = "restarted";

    /** {@link #NAME}, or the name of a backend that runs this protocol over its own transport (ACRN). */
    private final String name;
    private final TransportFactory transportFactory;
    /** Guards {@link #wakeLeases}, a bit per own wake vector leased to a local client. */
    private final Object wakeLock = new Object();
    private int wakeLeases;
    /** What the transport attaches to, for messages before it exists. */
    private String attachment;
    private final int maxPeersOption;
    private final int ringCapacityOption;
    private final int fenceSlotsOption;
    private final long connectTimeoutMs;
    private final int roles;
    private final long heartbeatNs;
    private final long livenessTimeoutNs;
    /** Ours; a new one after a resync (changed by the pass thread, under the pools' and rings' locks). */
    private volatile long sessionId;
    /** How our slot says we learn of fence doorbells ({@code PeerSlotDescriptor.NOTIFY_*}), for rejoining. */
    private int notify;
    /** When we last started a new session after being declared down (pass thread only), to bound the rate. */
    private long lastResyncNs;
    private final ReentrantReadWriteLock lifecycle = new ReentrantReadWriteLock();
    private final List<MappedMemory> mappings = new ArrayList<>();

    private IvshmemTransport transport;
    private SharedRegion region;
    private RegionLayout layout;
    private PagePool pool;
    private FencePool fences;
    private MemoryWindow fenceTable;
    private MemoryWindow ownSlot;
    private MemoryWindow[] slots;
    private AtomicReferenceArray<PeerChannel> channels;
    private Inbound[] inbound;
    private Outbound[] outbound;
    private Liveness[] liveness;
    private BackendListener listener;
    private Thread receiver;
    /** The thread that runs receive passes: the receive thread, or the daemon's loop when driven. */
    private volatile Thread passThread;
    /** The daemon asked to drive the receive work ({@link LoopDrivenReceiver}); {@link #driven}: it does. */
    private volatile boolean driveFromLoop;
    private volatile boolean driven;
    private volatile int localVm = -1;
    private volatile boolean running;
    private volatile boolean started;
    private boolean closed;
    private boolean joined;
    private volatile boolean releaseOnExit;
    private long heartbeat = 1;
    /** The last value of our fence bell the receive thread saw. */
    private long fenceBell;
    private long nextBeat;
    /** Discounts our own stalls between {@link #trackPeers} runs (receive work only). */
    private final ObserverStall stall;
    /** Server disconnect notices awaiting confirmation by a still heartbeat. */
    private final DisconnectNotices notices;
    private long nextTick;

    public IvshmemBackend(final Map<String, String> options) throws BackendException
    {
        this(NAME, options, null, null);
    }

    /**
     * This protocol over another backend's transport: {@code options} holds only the common options (those
     * that are not mode-specific), {@code attachment} names what {@code transport} attaches to, for messages.
     */
    public IvshmemBackend(final String name, final Map<String, String> options, final String attachment,
        final TransportFactory transport) throws BackendException
    {
        this.name = name;
        final String mode = transport != null ? "embedded" : options.getOrDefault(OPTION_MODE, MODE_HOST);
        final List<String> modeOptions;
        if (transport != null)
        {
            modeOptions = List.of();
        }
        else if (MODE_HOST.equals(mode))
        {
            modeOptions = List.of(OPTION_SOCKET);
        }
        else if (MODE_GUEST.equals(mode))
        {
            modeOptions = List.of(OPTION_DEVICE, OPTION_REGION_SIZE, OPTION_SUBSYSTEM_ID, OPTION_PEER_ID, OPTION_SYSFS,
                OPTION_ENABLE, OPTION_POLL_MAX_PARK_US);
        }
        else
        {
            throw new BackendException("EINVAL", name + ": " + OPTION_MODE + "='" + mode + "': expected " + MODE_HOST +
                " or " + MODE_GUEST);
        }
        for (final String key : options.keySet())
        {
            if (!modeOptions.contains(key) && !COMMON_OPTIONS.contains(key) &&
                (transport != null || !OPTION_MODE.equals(key)))
            {
                throw new BackendException("EINVAL", name + ": unknown option '" + key + "'" +
                    (transport != null ? "" : " in " + mode + " mode"));
            }
        }
        this.maxPeersOption = (int)longOption(name, options, OPTION_MAX_PEERS, RegionLayout.DEFAULT_MAX_PEERS, 2,
            RegionLayout.MAX_PEERS_LIMIT);
        this.ringCapacityOption = (int)longOption(name, options, OPTION_RING_CAPACITY,
            RegionLayout.DEFAULT_RING_CAPACITY,
            RingDescriptor.MIN_CAPACITY, RingDescriptor.MAX_CAPACITY);
        if (Integer.bitCount(ringCapacityOption) != 1)
        {
            throw new BackendException("EINVAL", name + ": " + OPTION_RING_CAPACITY + "=" + ringCapacityOption +
                " must be a power of two");
        }
        this.fenceSlotsOption = (int)longOption(name, options, OPTION_FENCE_SLOTS, RegionLayout.DEFAULT_FENCE_SLOTS, 1,
            RegionLayout.MAX_FENCE_SLOTS);
        this.connectTimeoutMs = longOption(name, options, OPTION_CONNECT_TIMEOUT_MS, 5000, 1, 3_600_000);
        if (transport != null)
        {
            this.attachment = attachment;
            this.transportFactory = transport;
        }
        else
        {
            this.transportFactory = MODE_HOST.equals(mode) ? hostTransport(options) : guestTransport(options);
        }
        this.roles = parseRoles(name, options.getOrDefault(OPTION_ROLES, "sink,source"));
        final long heartbeatMs = longOption(name, options, OPTION_HEARTBEAT_MS, DEFAULT_HEARTBEAT_MS, POLL_INTERVAL_MS,
            60_000);
        final long livenessMs = longOption(name, options, OPTION_LIVENESS_TIMEOUT_MS, DEFAULT_LIVENESS_TIMEOUT_MS, 1,
            3_600_000);
        if (livenessMs <= 2 * heartbeatMs)
        {
            throw new BackendException("EINVAL", name + ": " + OPTION_LIVENESS_TIMEOUT_MS + "=" + livenessMs +
                " must be more than twice " + OPTION_HEARTBEAT_MS + "=" + heartbeatMs);
        }
        this.heartbeatNs = heartbeatMs * 1_000_000L;
        this.livenessTimeoutNs = livenessMs * 1_000_000L;
        this.stall = new ObserverStall(livenessTimeoutNs);
        this.notices = new DisconnectNotices(RegionLayout.MAX_PEERS_LIMIT, livenessTimeoutNs, TICK_NS);
        this.sessionId = newSessionId();
    }

    private static long newSessionId()
    {
        long session;
        do
        {
            session = RANDOM.nextLong();
        }
        while (session == 0);
        return session;
    }

    /** Opens the transport when the backend starts. */
    @FunctionalInterface
    public interface TransportFactory
    {
        IvshmemTransport open(IvshmemTransport.Events events) throws IOException, BackendException;
    }

    private TransportFactory hostTransport(final Map<String, String> options) throws BackendException
    {
        final String socket = options.get(OPTION_SOCKET);
        if (socket == null || socket.isEmpty())
        {
            throw new BackendException("EINVAL", name + ": option '" + OPTION_SOCKET + "' (server socket) is required");
        }
        attachment = "ivshmem server " + socket;
        return events -> IvshmemServerTransport.connect(socket, connectTimeoutMs, events);
    }

    private TransportFactory guestTransport(final Map<String, String> options) throws BackendException
    {
        final IvshmemDeviceSelector selector;
        try
        {
            final String subsystem = options.get(OPTION_SUBSYSTEM_ID);
            selector = new IvshmemDeviceSelector(options.get(OPTION_DEVICE),
                sizeOption(name, options, OPTION_REGION_SIZE), subsystem == null ? -1 :
                Integer.parseInt(subsystem.trim().replaceFirst("^0[xX]", ""), 16));
        }
        catch (final IllegalArgumentException e)
        {
            throw new BackendException("EINVAL", name + ": " + e.getMessage());
        }
        final int peerId = (int)longOption(name, options, OPTION_PEER_ID, -1, 0, IvshmemPeerConnection.MAX_PEER_ID);
        final long maxParkNs = longOption(name, options, OPTION_POLL_MAX_PARK_US, 1000, 1,
            POLL_INTERVAL_MS * 1000L) * 1000L;
        final String enable = options.getOrDefault(OPTION_ENABLE, "true");
        if (!enable.equals("true") && !enable.equals("false"))
        {
            throw new BackendException("EINVAL", name + ": " + OPTION_ENABLE + "='" + enable + "': expected true or false");
        }
        final IvshmemPciScanner scanner = new IvshmemPciScanner(Path.of(options.getOrDefault(OPTION_SYSFS,
            IvshmemPciScanner.SYSFS_PCI_DEVICES.toString())));
        attachment = "the ivshmem PCI device " + selector + " in " + scanner.devicesDir();
        return events -> IvshmemPciTransport.open(scanner, selector, peerId, Boolean.parseBoolean(enable), maxParkNs);
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
        return new Capabilities(name, localVm, layout.pageSize(), Math.min(layout.poolBytes(), MAX_BUFFER_SIZE),
            "daemon", "shared-region", true, transport.hasDoorbell(), transport.notification());
    }

    @Override
    public int localVm()
    {
        return localVm;
    }

    @Override
    public long sessionId()
    {
        return sessionId;
    }

    @Override
    public synchronized void start(final BackendListener listener) throws BackendException
    {
        if (started || closed)
        {
            throw new IllegalStateException(name + " backend already started or closed");
        }
        this.listener = listener;
        try
        {
            transport = transportFactory.open(new TransportEvents());
            region = SharedRegion.formatOrAttach(transport.regionSize(), this::map,
                new SharedRegion.FormatParams(PAGE_SIZE, maxPeersOption, ringCapacityOption, fenceSlotsOption),
                sessionId, connectTimeoutMs);
            layout = region.layout();
            // Our peer id is our slot: the transport's id, or a free slot a peer with an id beyond them claims.
            final int id = transport.claimSlot(region, sessionId, livenessTimeoutNs);
            if (id < 0)
            {
                throw new BackendException("EINVAL", name + ": " + transport.describe() + ": " +
                    transport.noSlot(layout.maxPeers()));
            }
            final int capacity = layout.ringCapacity();
            slots = new MemoryWindow[layout.maxPeers()];
            inbound = new Inbound[layout.maxPeers()];
            outbound = new Outbound[layout.maxPeers()];
            liveness = new Liveness[layout.maxPeers()];
            for (int j = 0; j < layout.maxPeers(); j++)
            {
                slots[j] = region.peerSlot(j);
                liveness[j] = new Liveness();
                if (j != id)
                {
                    // Whatever a previous holder of our id left in its incoming rings is not for us.
                    final RingReader reader = new RingReader(region.ring(j, id), capacity);
                    reader.skipToTail(sessionId);
                    inbound[j] = new Inbound(reader);
                    // A live consumer may still be reading what precedes the tail: continue after it.
                    final RingWriter writer = new RingWriter(region.ring(id, j), capacity);
                    if (!writer.attach(sessionId))
                    {
                        LOG.warn("{} peer {}: ring to peer {} failed validation; reset it", name, id, j);
                    }
                    outbound[j] = new Outbound(writer);
                }
            }
            channels = new AtomicReferenceArray<>(layout.maxPeers());
            pool = new PagePool(region.pageTable(), layout, id, sessionId);
            fenceTable = region.fenceTable();
            fences = new FencePool(fenceTable, layout, id, sessionId);
            // A transport with eventfds waits on the fence vector: a doorbell alone wakes us (clients of our
            // peers may ring it directly), and a daemon loop can watch them; one without polls the fence bell.
            final boolean eventfds = transport.notificationFds().length > 0;
            notify = eventfds ? PeerSlotDescriptor.NOTIFY_DOORBELL : PeerSlotDescriptor.NOTIFY_POLLS;
            region.join(id, sessionId, roles, Native.libc().getpid(), notify);
            joined = true;
            ownSlot = slots[id];
            fenceBell = ownSlot.getLongVolatile(PeerSlotDescriptor.FENCE_BELL_OFFSET);
            localVm = id;
            running = true;
            started = true;
            nextBeat = System.nanoTime() + heartbeatNs;
            nextTick = System.nanoTime() + TICK_NS;
            driven = driveFromLoop && eventfds;
            // Driven or not, a thread of ours beats: the heartbeat says the daemon lives, and must not stop
            // while its loop is busy (a stalled loop is slow, not dead: its peers must not close its timelines).
            receiver = new Thread(driven ? this::heartbeatLoop : this::receiveLoop, (driven ?
                "ivshmem-heartbeat-" : "ivshmem-backend-") + id);
            receiver.setDaemon(true);
            receiver.start();
            LOG.info("{} peer {} session {} on {}: {} bytes, {} pool bytes, {} peer slots, {} fence slots, " +
                "heartbeat {} ms, liveness timeout {} ms, notification {} ({}), {}formatted by us", name, id,
                Long.toHexString(sessionId), transport.describe(), layout.regionSize(), layout.poolBytes(), layout.maxPeers(), layout.fenceSlots(),
                heartbeatNs / 1_000_000L, livenessTimeoutNs / 1_000_000L, transport.notification(),
                driven ? "received on the daemon's loop" : "receive thread",
                region.formattedByUs() ? "" : "not ");
        }
        catch (final BackendException e)
        {
            releaseResources();
            throw e;
        }
        catch (final PciDeviceException e)
        {
            releaseResources();
            throw new BackendException(e.error(), name + ": " + e.getMessage(), e);
        }
        catch (final IvshmemProtocolException | ShmCorruptionException e)
        {
            releaseResources();
            throw new BackendException("EPROTO", name + ": " + e.getMessage(), e);
        }
        catch (final IllegalArgumentException e)
        {
            releaseResources();
            throw new BackendException("EINVAL", name + ": " + e.getMessage(), e);
        }
        catch (final IOException e)
        {
            releaseResources();
            throw new BackendException("EIO", name + ": cannot join " + attachment + ": " + e.getMessage(), e);
        }
    }

    @Override
    public List<PeerInfo> peers()
    {
        final List<PeerInfo> result = new ArrayList<>();
        final AtomicReferenceArray<PeerChannel> chs = channels;
        if (chs != null)
        {
            for (int j = 0; j < chs.length(); j++)
            {
                final PeerChannel ch = chs.get(j);
                if (ch != null && ch.up)
                {
                    result.add(new PeerInfo(ch.vm, ch.session, ch.roles));
                }
            }
        }
        return result;
    }

    @Override
    public BackendBuffer allocate(final long size) throws BackendException
    {
        if (size <= 0)
        {
            throw new BackendException("EINVAL", "allocation size must be positive: " + size);
        }
        enter();
        try
        {
            final long max = Math.min(layout.poolBytes(), MAX_BUFFER_SIZE);
            if (size > max)
            {
                throw new BackendException("ENOSPC", "allocation of " + size + " bytes exceeds the maximum buffer size " +
                    max);
            }
            final long offset = pool.allocate(size);
            if (offset < 0)
            {
                throw new BackendException("ENOSPC", "no free run of " + pool.roundUp(size) + " bytes in the region (" +
                    pool.freeBytes() + " of " + layout.poolBytes() + " bytes free)");
            }
            return new BackendBuffer(offset, pool.roundUp(size));
        }
        finally
        {
            exit();
        }
    }

    @Override
    public void free(final BackendBuffer buffer) throws BackendException
    {
        enter();
        try
        {
            // Our private record decides, not the page table another peer can scribble on.
            if (!pool.isAllocation(buffer.offset(), buffer.length()))
            {
                throw new BackendException("EINVAL", "not an allocation of peer " + localVm + ": " + buffer);
            }
            final long foreign = pool.free(buffer.offset(), this::zero);
            if (foreign > 0)
            {
                LOG.warn("freeing {}: {} of its page-table entries were overwritten by another peer; those pages " +
                    "are left alone (a misbehaving peer shares this region)", buffer, foreign);
            }
        }
        finally
        {
            exit();
        }
    }

    /** Freed pages must not carry one client's data to the next client or VM (ABI.md "Page table"). */
    private void zero(final long offset, final long length)
    {
        try
        {
            transport.zero(offset, length);
        }
        catch (final IOException e)
        {
            if (!punchHoleWarned)
            {
                punchHoleWarned = true;
                LOG.warn("cannot zero freed pages ({}); freed buffers keep their old bytes", e.getMessage());
            }
        }
    }

    private boolean punchHoleWarned;

    @Override
    public ShareRef share(final BackendBuffer buffer, final int targetVm, final boolean readOnly)
        throws BackendException
    {
        enter();
        try
        {
            checkOwn(buffer);
            if (channel(targetVm) == null)
            {
                throw new BackendException("ENOPEER", "peer " + targetVm + " is not reachable");
            }
            return new ShareRef(buffer.offset(), buffer.length());
        }
        finally
        {
            exit();
        }
    }

    @Override
    public void unshare(final BackendBuffer buffer, final ShareRef ref)
    {
        // One shared region: there is nothing to revoke; the importer's mapping stays valid.
    }

    @Override
    public ClientMapping mapAllocation(final BackendBuffer buffer) throws BackendException
    {
        enter();
        try
        {
            checkOwn(buffer);
            return new ClientMapping(dupRegionFd(false), buffer.offset(), buffer.length(), false);
        }
        finally
        {
            exit();
        }
    }

    @Override
    public ClientMapping mapImport(final int exporterVm, final ShareRef ref, final boolean readOnly)
        throws BackendException
    {
        enter();
        try
        {
            checkOwnedBy(exporterVm, ref);
            return new ClientMapping(dupRegionFd(readOnly), ref.offset(), ref.length(), readOnly);
        }
        finally
        {
            exit();
        }
    }

    @Override
    public void checkImport(final int exporterVm, final ShareRef ref, final boolean readOnly)
        throws BackendException
    {
        enter();
        try
        {
            checkOwnedBy(exporterVm, ref); // no fd: opening a read-only one costs a path walk in /proc
        }
        finally
        {
            exit();
        }
    }

    private void checkOwnedBy(final int exporterVm, final ShareRef ref) throws BackendException
    {
        if (!pool.isOwnedBy(ref.offset(), ref.length(), exporterVm))
        {
            throw new BackendException("EINVAL", "reference " + ref + " is not memory of peer " + exporterVm);
        }
    }

    @Override
    public boolean send(final int peerVm, final ByteBuffer message, final int offset, final int length)
        throws BackendException
    {
        if (offset < 0 || length < 0 || offset > message.limit() - length)
        {
            throw new BackendException("EINVAL", "message range [" + offset + ", +" + length + ") outside the buffer");
        }
        enter();
        try
        {
            final int max = maxMessageLength();
            if (length > max)
            {
                throw new BackendException("EMSGSIZE", "message of " + length + " bytes exceeds " + max);
            }
            final PeerChannel ch = channel(peerVm);
            if (ch == null)
            {
                throw new BackendException("ENOPEER", "peer " + peerVm + " is not reachable");
            }
            final Outbound out = outbound[peerVm];
            final boolean sent;
            synchronized (out)
            {
                if (!ch.up || ch.writerFault != null)
                {
                    throw new BackendException("ENOPEER", "peer " + peerVm + " is not reachable");
                }
                try
                {
                    sent = writeSessionStart(out, ch) &&
                        out.writer.offer(RecordDescriptor.PEER_MESSAGE_TYPE, message, offset, length);
                }
                catch (final ShmCorruptionException e)
                {
                    ch.writerFault = e.getMessage();
                    throw new BackendException("EPEERLOST", "ring to peer " + peerVm + " is corrupt: " + e.getMessage());
                }
            }
            if (sent)
            {
                ring(peerVm, FenceAbi.MESSAGE_VECTOR);
            }
            return sent;
        }
        finally
        {
            exit();
        }
    }

    @Override
    public int maxMessageLength()
    {
        final int capacity = layout != null ? layout.ringCapacity() : ringCapacityOption;
        return RingDescriptor.maxRecordLength(capacity) - RecordDescriptor.HEADER_LENGTH;
    }

    @Override
    public long freeBytes()
    {
        try
        {
            enter();
        }
        catch (final BackendException e)
        {
            return 0;
        }
        try
        {
            return pool.freeBytes();
        }
        finally
        {
            exit();
        }
    }

    @Override
    public long totalBytes()
    {
        checkStarted();
        return layout.poolBytes();
    }

    @Override
    public FenceRef allocateFence() throws BackendException
    {
        enter();
        try
        {
            final int index = fences.allocate();
            if (index < 0)
            {
                throw new BackendException("ENOSPC", "all " + layout.fenceSlots() + " fence slots of the region are " +
                    "in use");
            }
            return new FenceRef(index, fences.slotOffset(index));
        }
        finally
        {
            exit();
        }
    }

    @Override
    public void freeFence(final FenceRef fence) throws BackendException
    {
        enter();
        try
        {
            if (!fences.isInRange(fence.index()) || fences.slotOffset(fence.index()) != fence.regionOffset() ||
                !fences.free(fence.index()))
            {
                throw new BackendException("EINVAL", "not a fence slot of peer " + localVm + ": " + fence);
            }
        }
        finally
        {
            exit();
        }
    }

    @Override
    public MemoryWindow fenceWindow(final int index)
    {
        checkStarted();
        if (!fences.isInRange(index))
        {
            throw new IllegalArgumentException("fence slot " + index + " outside [0, " + layout.fenceSlots() + ")");
        }
        return fenceTable.slice(FenceSlotDescriptor.slotOffset(index), FenceSlotDescriptor.SLOT_LENGTH);
    }

    @Override
    public boolean validateFence(final int exporterVm, final int index)
    {
        if (fences == null || !fences.isInRange(index))
        {
            return false;
        }
        if (exporterVm == localVm)
        {
            return fences.isOwnedBy(index, localVm, sessionId);
        }
        final PeerChannel ch = channel(exporterVm);
        return ch != null && fences.isOwnedBy(index, exporterVm, ch.session);
    }

    @Override
    public boolean ringFence(final int peerVm)
    {
        final IvshmemTransport t = transport;
        if (t == null || !started || peerVm < 0 || peerVm >= slots.length || peerVm == localVm)
        {
            return false;
        }
        // The bell word reaches a peer that polls (guest mode, ivshmem-plain); the doorbell one that sleeps.
        slots[peerVm].getAndAddLong(PeerSlotDescriptor.FENCE_BELL_OFFSET, 1);
        boolean rung = false;
        try
        {
            rung = t.ring(peerVm, FenceAbi.FENCE_VECTOR);
        }
        catch (final IOException | IllegalArgumentException e)
        {
            LOG.debug("fence doorbell to peer {} failed: {}", peerVm, e.getMessage());
        }
        return rung || channel(peerVm) != null;
    }

    @Override
    public int openFenceDoorbell(final int peerVm) throws BackendException
    {
        return openFenceDoorbell(peerVm, FenceAbi.FENCE_VECTOR);
    }

    /** Vector 0 or 1: the peer's fence doorbell; 2 and up: one of its wake vectors (ABI.md "Direct fence wake-ups"). */
    @Override
    public int openFenceDoorbell(final int peerVm, final int vector) throws BackendException
    {
        final boolean wakeVector = vector > FenceAbi.FENCE_VECTOR;
        checkStarted();
        if (peerVm < 0 || peerVm >= slots.length || peerVm == localVm || vector >= VECTORS)
        {
            throw new BackendException("EINVAL", "peer " + peerVm + (wakeVector ? " vector " + vector + " is not a " +
                "wake vector of another peer" : " is not another peer") + " of this region");
        }
        if (channel(peerVm) == null)
        {
            throw new BackendException("ENOPEER", "peer " + peerVm + " is not reachable");
        }
        if (!wakeVector &&
            slots[peerVm].getIntVolatile(PeerSlotDescriptor.NOTIFY_OFFSET) != PeerSlotDescriptor.NOTIFY_DOORBELL)
        {
            throw new BackendException("ENOTSUP", "peer " + peerVm + " polls its fence bell (guest mode): its " +
                "fences are rung through the daemon (FENCE_SIGNAL)");
        }
        final int fd;
        try
        {
            fd = transport.openDoorbell(peerVm, wakeVector ? vector : FenceAbi.FENCE_VECTOR);
        }
        catch (final IOException e)
        {
            throw new BackendException("EIO", (wakeVector ? "wake vector " + vector : "fence doorbell") +
                " of peer " + peerVm + ": " + e.getMessage(), e);
        }
        if (fd >= 0)
        {
            return fd;
        }
        throw wakeVector ? new BackendException("EINVAL", "peer " + peerVm + " has no vector " + vector + " here") :
            new BackendException("ENOTSUP", transport.describe() + " rings peers by register write, not by an fd a " +
                "client could hold: use FENCE_SIGNAL");
    }

    @Override
    public boolean ringFence(final int peerVm, final int wakeMask)
    {
        final boolean rung = ringFence(peerVm);
        final IvshmemTransport t = transport;
        if (t == null || !started || peerVm < 0 || peerVm >= slots.length || peerVm == localVm)
        {
            return rung;
        }
        return ringWakeVectors(t, peerVm, wakeMask) | rung;
    }

    /**
     * Rings the wake vectors of {@code vm} named in {@code wakeMask}. The mask comes from shared memory another
     * VM may write: only bits that can name a wake vector are rung, and a failure only skips that vector.
     */
    private static boolean ringWakeVectors(final IvshmemTransport t, final int vm, final int wakeMask)
    {
        boolean rung = false;
        for (int m = wakeMask & WAKE_VECTORS_MASK; m != 0; m &= m - 1)
        {
            try
            {
                rung |= t.ring(vm, Integer.numberOfTrailingZeros(m));
            }
            catch (final IOException | IllegalArgumentException e)
            {
                LOG.debug("wake vector doorbell to peer {} failed: {}", vm, e.getMessage());
            }
        }
        return rung;
    }

    @Override
    public FenceWake leaseFenceWake() throws BackendException
    {
        checkStarted();
        synchronized (wakeLock)
        {
            return leaseFreeWakeVector();
        }
    }

    private FenceWake leaseFreeWakeVector() throws BackendException
    {
        final int own = Math.min(VECTORS, transport.ownVectorCount());
        if (own <= FenceAbi.FIRST_WAKE_VECTOR)
        {
            throw new BackendException("ENOTSUP", transport.describe() + " gives this VM no wake vectors (" + own +
                " vectors): use FENCE_WAIT");
        }
        for (int v = FenceAbi.FIRST_WAKE_VECTOR; v < own; v++)
        {
            if ((wakeLeases & (1 << v)) == 0)
            {
                final int fd;
                try
                {
                    transport.drainOwn(v); // a stale count from the previous lease would be a spurious wake-up
                    fd = transport.openOwnVector(v);
                }
                catch (final IOException e)
                {
                    throw new BackendException("EIO", "wake vector " + v + ": " + e.getMessage(), e);
                }
                if (fd < 0)
                {
                    throw new BackendException("ENOTSUP", transport.describe() + " has no fd for vector " + v);
                }
                wakeLeases |= 1 << v;
                return new FenceWake(v, fd);
            }
        }
        throw new BackendException("EBUSY", "all " + (own - FenceAbi.FIRST_WAKE_VECTOR) + " wake " +
            "vectors of this VM are leased: use FENCE_WAIT");
    }

    @Override
    public void returnFenceWake(final int vector)
    {
        if (vector >= FenceAbi.FIRST_WAKE_VECTOR && vector < VECTORS)
        {
            synchronized (wakeLock)
            {
                wakeLeases &= ~(1 << vector);
            }
        }
    }

    @Override
    public void wakeLocal(final int wakeMask)
    {
        final IvshmemTransport t = transport;
        if (t != null && started)
        {
            ringWakeVectors(t, localVm, wakeMask);
        }
    }

    @Override
    public long fenceRegionOffset(final int index)
    {
        checkStarted();
        return fences.slotOffset(index);
    }

    @Override
    public long reclaimPeerMemory(final int vm, final long session) throws BackendException
    {
        enter();
        try
        {
            if (!region.isPeerInRange(vm))
            {
                throw new BackendException("EINVAL", "peer " + vm + " outside [0, " + layout.maxPeers() + ")");
            }
            if (vm == localVm && session == sessionId)
            {
                throw new BackendException("EINVAL", "refusing to reclaim our own live session");
            }
            final PeerChannel ch = channel(vm);
            if (ch != null && ch.session == session)
            {
                throw new BackendException("EBUSY", "peer " + vm + " session " + Long.toHexString(session) +
                    " is up");
            }
            final long pages = pool.reclaimSession(vm, session, this::zero);
            final long slots = fences.reclaimSession(vm, session);
            LOG.info("peer {} session {}: reclaimed {} pages and {} fence slots", vm, Long.toHexString(session), pages,
                slots);
            return pages + slots;
        }
        finally
        {
            exit();
        }
    }

    /** Records from {@code vm} discarded because they belonged to another session of it or of ours. */
    public long discardedRecords(final int vm)
    {
        final Inbound[] in = inbound;
        return in == null || vm < 0 || vm >= in.length || in[vm] == null ? 0 : in[vm].discarded;
    }

    /** The ivshmem server connection in host mode, null in guest mode (for tests and diagnostics). */
    public IvshmemPeerConnection connection()
    {
        return transport instanceof IvshmemServerTransport ? ((IvshmemServerTransport)transport).connection() : null;
    }

    @Override
    public void close()
    {
        final Thread t;
        synchronized (this)
        {
            if (closed)
            {
                return;
            }
            closed = true;
            running = false;
            t = receiver;
            if (joined)
            {
                region.leave(localVm);
            }
        }
        if ((t != null && t == Thread.currentThread()) || lifecycle.getReadHoldCount() > 0)
        {
            releaseOnExit = true; // called from a listener callback: release when the receive loop unwinds
            return;
        }
        stopThenRelease(t);
    }

    /** Waits for our thread {@code t} (if any) to end, then unmaps: it must never touch unmapped memory. */
    private void stopThenRelease(final Thread t)
    {
        if (t != null)
        {
            transport.wakeUp();
            LockSupport.unpark(t);
            try
            {
                t.join(JOIN_TIMEOUT_MS);
            }
            catch (final InterruptedException e)
            {
                Thread.currentThread().interrupt();
            }
            if (t.isAlive())
            {
                LOG.error("{} receive thread did not stop within {} ms; leaking the mapping", name, JOIN_TIMEOUT_MS);
                return;
            }
        }
        releaseResources();
    }

    private void releaseResources()
    {
        lifecycle.writeLock().lock();
        try
        {
            if (transport != null)
            {
                transport.close();
            }
            for (final MappedMemory m : mappings)
            {
                m.close();
            }
            mappings.clear();
            closed = true;
            started = false;
        }
        finally
        {
            lifecycle.writeLock().unlock();
        }
    }

    private void receiveLoop()
    {
        passThread = Thread.currentThread();
        boolean busy = false;
        while (running)
        {
            try
            {
                final long before = System.nanoTime();
                final long waitNs = Math.min(Math.min(nextBeat - before, nextTick - before), TICK_NS);
                final int rung = transport.await(busy, busy ? 0 : waitNs);
                if (!running)
                {
                    break;
                }
                busy = receivePass(rung);
            }
            catch (final IOException | RuntimeException e)
            {
                LOG.error("{} receive loop error", name, e);
                LockSupport.parkNanos(TICK_NS);
            }
        }
        if (releaseOnExit)
        {
            releaseResources();
        }
    }

    /** The only work of our thread when the daemon's loop drives the receive work: the heartbeat. */
    private void heartbeatLoop()
    {
        while (running)
        {
            LockSupport.parkNanos(heartbeatNs);
            if (running)
            {
                ownSlot.putLongRelease(PeerSlotDescriptor.HEARTBEAT_OFFSET, ++heartbeat);
            }
        }
    }

    /**
     * One pass of the receive work after the transport reported {@code rung}: heartbeat, peers, the rings, the
     * fence bell and the fence tick. Returns true if it found work (look again before sleeping).
     */
    private boolean receivePass(final int rung) throws IOException
    {
        final long bell = ownSlot.getLongVolatile(PeerSlotDescriptor.FENCE_BELL_OFFSET);
        final boolean fenceDoorbell = (rung & IvshmemTransport.FENCE_RUNG) != 0 || bell != fenceBell;
        fenceBell = bell;
        final long now = System.nanoTime();
        if (!driven && now - nextBeat >= 0)
        {
            ownSlot.putLongRelease(PeerSlotDescriptor.HEARTBEAT_OFFSET, ++heartbeat);
            nextBeat = now + heartbeatNs;
        }
        trackPeers(now);
        final boolean busy = drainRings() | fenceDoorbell;
        if (fenceDoorbell)
        {
            notifyFenceDoorbell();
        }
        if (now - nextTick >= 0)
        {
            nextTick = now + TICK_NS;
            notifyFenceTick();
        }
        return busy;
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
        return driven ? transport.notificationFds() : new int[0];
    }

    @Override
    public boolean onNotification(final int index)
    {
        return drivenPass(index);
    }

    @Override
    public boolean pass()
    {
        return drivenPass(-1);
    }

    @Override
    public long passIntervalNanos()
    {
        return Math.min(TICK_NS, heartbeatNs);
    }

    /** A pass on the driving thread; {@code index} < 0: poll the transport first (server messages too). */
    private boolean drivenPass(final int index)
    {
        boolean more = false;
        lifecycle.readLock().lock(); // close() unmaps under the write lock: never while a pass reads the rings
        try
        {
            if (driven && running && !closed)
            {
                passThread = Thread.currentThread();
                more = receivePass(index < 0 ? transport.await(true, 0) : transport.consume(index));
            }
        }
        catch (final IOException | RuntimeException e)
        {
            LOG.error("{} receive pass error", name, e);
        }
        finally
        {
            lifecycle.readLock().unlock();
        }
        if (releaseOnExit)
        {
            releaseOnExit = false; // closed by a listener callback during this pass
            stopThenRelease(receiver);
        }
        return more;
    }

    /**
     * Brings peers up and down from what the server announced, what their slots say and whether their
     * heartbeats move (judged on our clock, {@code now}).
     */
    private void trackPeers(final long now)
    {
        // Time in which we did not run (the host stalled, a GC pause, a long task on the driving loop) is time
        // in which we could not watch heartbeats: it does not count against the peers, which may have been
        // stalled with us. A peer that stops while we run is still declared down within the bound.
        final long gap = stall.unwatched(now);
        if (gap > 0)
        {
            if (gap > livenessTimeoutNs)
            {
                // Alone this proves nothing (the whole host may have stalled): a peer that did declare us down
                // says so on its ring to us, and that is what makes us rejoin, just below.
                LOG.warn("{} peer {}: not run for {} ms, longer than the liveness timeout; peers that declared " +
                    "this session down meanwhile will be rejoined with a new session", name, localVm, gap / 1_000_000L);
            }
            else
            {
                LOG.info("{} peer {}: not run for {} ms; that time is not counted against the peers' heartbeats",
                    name, localVm, gap / 1_000_000L);
            }
            for (final Liveness l : liveness)
            {
                l.movedAt += gap;
            }
            notices.discount(gap);
        }
        resyncIfDropped(now);
        for (int j = 0; j < slots.length; j++)
        {
            if (j == localVm)
            {
                continue;
            }
            final MemoryWindow slot = slots[j];
            final int state = slot.getIntAcquire(PeerSlotDescriptor.STATE_OFFSET);
            final long session = slot.getLongVolatile(PeerSlotDescriptor.SESSION_ID_OFFSET);
            final long beat = slot.getLongVolatile(PeerSlotDescriptor.HEARTBEAT_OFFSET);
            final int slotPeer = slot.getInt(PeerSlotDescriptor.PEER_ID_OFFSET);
            final int slotRoles = slot.getInt(PeerSlotDescriptor.ROLES_OFFSET);
            final boolean active = state == PeerSlotDescriptor.STATE_ACTIVE && session != 0 && slotPeer == j &&
                slot.getIntAcquire(PeerSlotDescriptor.STATE_OFFSET) == PeerSlotDescriptor.STATE_ACTIVE;
            final boolean announced = transport.isPeerAttached(j);
            final Liveness live = liveness[j];
            live.observe(j, session, beat, now);
            if (inbound[j].faulted && session == inbound[j].faultedSession)
            {
                discardFaulted(j, slot, session);
            }
            final boolean stale = now - live.movedAt > livenessTimeoutNs;
            PeerChannel ch = channels.get(j);
            if (ch != null)
            {
                // A server's disconnect notice counts only once the heartbeat confirms it: a server that shuts
                // down announces every peer as gone (QEMU's does), and must not split the live ones.
                if (!active || notices.confirmed(j, ch.session, beat, now))
                {
                    down(ch, "gone");
                    continue;
                }
                if (ch.writerFault != null)
                {
                    LOG.warn("peer {} session {}: ring to it is corrupt ({}); closing its channel", j,
                        Long.toHexString(ch.session), ch.writerFault);
                    down(ch, "corrupt");
                    continue;
                }
                if (session == ch.session)
                {
                    if (stale)
                    {
                        LOG.warn("peer {} session {}: heartbeat stuck at {} for {} ms; declaring it down", j,
                            Long.toHexString(session), beat, (now - live.movedAt) / 1_000_000L);
                        live.timedOut = true;
                        down(ch, "timeout");
                    }
                    continue;
                }
                down(ch, REASON_RESTARTED);
                ch = null;
            }
            if (announced && active && !stale && live.deadSession != session)
            {
                up(j, session, slotRoles);
            }
        }
    }

    /**
     * Starts a new session of ours when a peer says, on its ring to us, that it declared our current one down
     * (we were stopped, paused or starved for longer than its liveness timeout, or it took a false notice for
     * our death). It has dropped everything of ours; we do the same with everything of every peer's (each will
     * see our new session as a restart and do likewise), then rejoin. At most once per liveness timeout, so a
     * peer that keeps writing our session there cannot keep us resyncing.
     */
    private void resyncIfDropped(final long now)
    {
        if (lastResyncNs != 0 && now - lastResyncNs < livenessTimeoutNs)
        {
            return;
        }
        for (int j = 0; j < slots.length; j++)
        {
            if (j != localVm && inbound[j].reader.droppedSession() == sessionId)
            {
                lastResyncNs = now;
                resync(j);
                return;
            }
        }
    }

    private void resync(final int by)
    {
        final long old = sessionId;
        final long fresh = newSessionId();
        LOG.warn("{} peer {} session {}: peer {} declared this session down; dropping everything of every peer and " +
            "rejoining as session {}", name, localVm, Long.toHexString(old), by, Long.toHexString(fresh));
        for (int j = 0; j < slots.length; j++)
        {
            final PeerChannel ch = channels.get(j);
            if (ch != null)
            {
                down(ch, BackendListener.REASON_RESYNC);
            }
        }
        // Our allocations stay ours under the new session (local clients still map them).
        pool.rebind(localVm, fresh);
        fences.rebind(localVm, fresh);
        for (int j = 0; j < slots.length; j++)
        {
            if (j == localVm)
            {
                continue;
            }
            final Inbound in = inbound[j];
            in.reader.skipToTail(fresh); // whatever was queued for the old session is not for the new one
            in.startProducer = 0;
            in.startConsumer = 0;
            final Outbound out = outbound[j];
            synchronized (out)
            {
                if (!out.writer.renew(fresh))
                {
                    LOG.warn("{} peer {}: ring to peer {} failed validation; reset it", name, localVm, j);
                }
                out.addressed = 0;
            }
        }
        sessionId = fresh;
        region.join(localVm, fresh, roles, Native.libc().getpid(), notify);
    }

    /**
     * Drops whatever the session that broke ring {@code j -> us} has published, while that session still owns the
     * slot. Its successor continues the ring at the tail it finds (ABI.md "Joining"), so garbage left between
     * our head and that tail would otherwise be read, and refused, as the successor's first records. The
     * successor publishes its slot before it writes its SESSION_START: if the slot still names the broken session
     * after we loaded the tail, nothing up to that tail is the successor's.
     */
    private void discardFaulted(final int j, final MemoryWindow slot, final long brokenSession)
    {
        final Inbound in = inbound[j];
        final long tail = in.reader.publishedTail();
        if (slot.getLongVolatile(PeerSlotDescriptor.SESSION_ID_OFFSET) == brokenSession && !in.reader.discardTo(tail) &&
            !in.discardRefusedLogged)
        {
            in.discardRefusedLogged = true;
            LOG.debug("peer {} session {}: ring to us has inconsistent counters; its next session resets it", j,
                Long.toHexString(brokenSession));
        }
    }

    private void up(final int vm, final long session, final int peerRoles)
    {
        final Inbound in = inbound[vm];
        if (in.faulted)
        {
            // The previous session broke the ring; a new one gets a fresh reader from the shared head.
            in.reader = new RingReader(region.ring(vm, localVm), layout.ringCapacity());
            in.faulted = false;
            in.faultedSession = 0;
            in.discardRefusedLogged = false;
            in.startProducer = 0;
            in.startConsumer = 0;
        }
        final PeerChannel ch = new PeerChannel(vm, session, peerRoles, in);
        final Outbound out = outbound[vm];
        boolean started = false;
        synchronized (out)
        {
            try
            {
                started = writeSessionStart(out, ch);
            }
            catch (final ShmCorruptionException e)
            {
                ch.writerFault = e.getMessage();
            }
        }
        if (started)
        {
            ring(vm, FenceAbi.MESSAGE_VECTOR);
        }
        channels.set(vm, ch);
        LOG.info("peer {} up, session {}", vm, Long.toHexString(session));
        try
        {
            listener.onPeerUp(new PeerInfo(vm, session, peerRoles));
        }
        catch (final RuntimeException e)
        {
            LOG.error("listener failed in onPeerUp({})", vm, e);
        }
    }

    /**
     * Makes sure the ring to {@code ch.vm} has a SESSION_START addressed to {@code ch}'s session before any other
     * record of ours; false if the ring is full (try again later). Caller holds {@code out}'s lock.
     */
    private boolean writeSessionStart(final Outbound out, final PeerChannel ch) throws ShmCorruptionException
    {
        if (out.addressed == ch.session)
        {
            return true;
        }
        out.scratch.putLong(RecordDescriptor.SESSION_START_PRODUCER_OFFSET, sessionId);
        out.scratch.putLong(RecordDescriptor.SESSION_START_CONSUMER_OFFSET, ch.session);
        if (!out.writer.offer(RecordDescriptor.SESSION_START_TYPE, out.scratch, 0,
            RecordDescriptor.SESSION_START_LENGTH))
        {
            return false;
        }
        out.addressed = ch.session;
        return true;
    }

    private void down(final PeerChannel ch, final String reason)
    {
        final boolean dead = !BackendListener.REASON_RESYNC.equals(reason);
        synchronized (outbound[ch.vm])
        {
            ch.up = false;
            if (dead && !REASON_RESTARTED.equals(reason))
            {
                // If that session is still running (stopped and resumed, or a false notice), this is how it learns
                // that it must rejoin with a new one (ABI.md "Resync").
                outbound[ch.vm].writer.markDropped(ch.session);
            }
        }
        channels.compareAndSet(ch.vm, ch, null);
        if (dead)
        {
            // A session reported down never comes back: not when a new connection reuses the id before the new
            // daemon has published its slot, not when a stopped process resumes.
            liveness[ch.vm].deadSession = ch.session;
        }
        LOG.info("peer {} down ({}), session {}", ch.vm, reason, Long.toHexString(ch.session));
        try
        {
            listener.onPeerDown(ch.vm, ch.session, reason);
        }
        catch (final RuntimeException e)
        {
            LOG.error("listener failed in onPeerDown({})", ch.vm, e);
        }
    }

    /** Delivers what every up peer has written to us; true if any record was consumed. */
    private boolean drainRings()
    {
        boolean consumed = false;
        for (int j = 0; j < slots.length; j++)
        {
            final PeerChannel ch = channels.get(j);
            if (ch == null)
            {
                continue;
            }
            final Inbound in = ch.inbound;
            try
            {
                consumed |= in.reader.controlledPoll(ch.handler, BATCH) > 0;
                if (in.violation != null)
                {
                    throw new ShmCorruptionException(in.violation);
                }
            }
            catch (final ShmCorruptionException e)
            {
                LOG.warn("peer {} session {}: ring to us is corrupt ({}); no longer reading it", j,
                    Long.toHexString(ch.session), e.getMessage());
                in.faulted = true;
                in.faultedSession = ch.session;
                in.violation = null;
                discardFaulted(j, slots[j], ch.session);
                down(ch, "corrupt");
            }
        }
        return consumed;
    }

    /**
     * One record from {@code ch}'s ring. Returns false to end the batch at a SESSION_START of another session
     * of the producer, so that its records wait until that session is brought up instead of being discarded.
     */
    private boolean onRecord(final PeerChannel ch, final int type, final ByteBuffer payload, final int length)
    {
        final Inbound in = ch.inbound;
        if (type == RecordDescriptor.SESSION_START_TYPE)
        {
            if (length < RecordDescriptor.SESSION_START_LENGTH)
            {
                in.violation = "SESSION_START record with a payload of " + length + " bytes";
                return false;
            }
            in.startProducer = payload.getLong(RecordDescriptor.SESSION_START_PRODUCER_OFFSET);
            in.startConsumer = payload.getLong(RecordDescriptor.SESSION_START_CONSUMER_OFFSET);
            LOG.debug("peer {}: session start of {} addressed to {}", ch.vm, Long.toHexString(in.startProducer),
                Long.toHexString(in.startConsumer));
            return in.startProducer == ch.session;
        }
        if (type != RecordDescriptor.PEER_MESSAGE_TYPE)
        {
            LOG.debug("peer {}: skipping record of unknown type {}", ch.vm, type);
            return true;
        }
        if (in.startProducer != ch.session || in.startConsumer != sessionId)
        {
            in.discarded++;
            LOG.debug("peer {} session {}: discarding a record of session {} addressed to {} ({} so far)", ch.vm,
                Long.toHexString(ch.session), Long.toHexString(in.startProducer), Long.toHexString(in.startConsumer),
                in.discarded);
            return true;
        }
        try
        {
            listener.onMessage(ch.vm, payload, length);
        }
        catch (final RuntimeException e)
        {
            LOG.error("listener failed in onMessage({})", ch.vm, e);
        }
        return true;
    }

    private void notifyFenceDoorbell()
    {
        try
        {
            listener.onFenceDoorbell();
        }
        catch (final RuntimeException e)
        {
            LOG.error("listener failed in onFenceDoorbell()", e);
        }
    }

    private void notifyFenceTick()
    {
        try
        {
            listener.onFenceTick();
        }
        catch (final RuntimeException e)
        {
            LOG.error("listener failed in onFenceTick()", e);
        }
    }

    private PeerChannel channel(final int vm)
    {
        if (vm < 0 || vm >= channels.length() || vm == localVm)
        {
            return null;
        }
        final PeerChannel ch = channels.get(vm);
        return ch != null && ch.up ? ch : null;
    }

    private void ring(final int vm, final int vector)
    {
        try
        {
            transport.ring(vm, vector);
        }
        catch (final IOException | IllegalArgumentException e)
        {
            LOG.debug("doorbell to peer {} vector {} failed: {}", vm, vector, e.getMessage());
        }
    }

    private void checkOwn(final BackendBuffer buffer) throws BackendException
    {
        if (!pool.isOwnedBy(buffer.offset(), buffer.length(), localVm))
        {
            throw new BackendException("EINVAL", "not an allocation of peer " + localVm + ": " + buffer);
        }
    }

    private int dupRegionFd(final boolean readOnly) throws BackendException
    {
        try
        {
            return transport.openRegionFd(readOnly);
        }
        catch (final NativeIoException e)
        {
            throw new BackendException("ENOMEM".equals(e.errnoName()) ? "ENOMEM" : "EIO", e.getMessage(), e);
        }
        catch (final IOException e)
        {
            throw new BackendException("EIO", e.getMessage(), e);
        }
    }

    private MemoryWindow map(final long offset, final long length) throws IOException
    {
        final MappedMemory m = transport.map(offset, length);
        mappings.add(m);
        return new MemoryWindow(m.buffer());
    }

    private void enter() throws BackendException
    {
        lifecycle.readLock().lock();
        if (!started || closed)
        {
            lifecycle.readLock().unlock();
            throw new BackendException("EIO", name + " backend is " + (closed ? "closed" : "not started"));
        }
    }

    private void exit()
    {
        lifecycle.readLock().unlock();
    }

    private void checkStarted()
    {
        if (layout == null)
        {
            throw new IllegalStateException(name + " backend not started");
        }
    }

    /** Option {@code key} as a number in {@code [min, max]}, {@code defaultValue} if absent. */
    public static long longOption(final String backend, final Map<String, String> options, final String key,
        final long defaultValue, final long min, final long max) throws BackendException
    {
        final String value = options.get(key);
        if (value == null)
        {
            return defaultValue;
        }
        final long parsed;
        try
        {
            parsed = Long.parseLong(value.trim());
        }
        catch (final NumberFormatException e)
        {
            throw new BackendException("EINVAL", backend + ": " + key + "='" + value + "' is not a number");
        }
        if (parsed < min || parsed > max)
        {
            throw new BackendException("EINVAL", backend + ": " + key + "=" + parsed + " outside [" + min + ", " + max +
                "]");
        }
        return parsed;
    }

    /** Option {@code key} as a byte count with an optional K, M or G suffix; 0 when absent. */
    public static long sizeOption(final String backend, final Map<String, String> options, final String key)
        throws BackendException
    {
        final String value = options.get(key);
        if (value == null)
        {
            return 0;
        }
        final String v = value.trim().toUpperCase(Locale.ROOT);
        final int shift = v.endsWith("K") ? 10 : v.endsWith("M") ? 20 : v.endsWith("G") ? 30 : 0;
        try
        {
            final long n = Long.parseLong(shift == 0 ? v : v.substring(0, v.length() - 1));
            if (n <= 0 || n > (Long.MAX_VALUE >> shift))
            {
                throw new NumberFormatException();
            }
            return n << shift;
        }
        catch (final NumberFormatException e)
        {
            throw new BackendException("EINVAL", backend + ": " + key + "='" + value + "' is not a positive size");
        }
    }

    private static int parseRoles(final String backend, final String value) throws BackendException
    {
        int parsed = 0;
        for (final String role : value.split(","))
        {
            switch (role.trim().toLowerCase(Locale.ROOT))
            {
                case "sink":
                    parsed |= PeerSlotDescriptor.ROLE_SINK;
                    break;
                case "source":
                    parsed |= PeerSlotDescriptor.ROLE_SOURCE;
                    break;
                default:
                    throw new BackendException("EINVAL", backend + ": " + OPTION_ROLES + "='" + value +
                        "': expected sink, source or sink,source");
            }
        }
        return parsed;
    }

    /** Server announcements arrive on the receive thread (or the starting thread, before any channel exists). */
    private final class TransportEvents implements IvshmemTransport.Events
    {
        @Override
        public void onPeerGone(final int peerId)
        {
            final AtomicReferenceArray<PeerChannel> chs = channels;
            if (chs != null && peerId < chs.length() && Thread.currentThread() == passThread)
            {
                final PeerChannel ch = chs.get(peerId);
                if (ch != null)
                {
                    notices.notice(peerId, ch.session,
                        slots[peerId].getLongVolatile(PeerSlotDescriptor.HEARTBEAT_OFFSET), System.nanoTime());
                }
            }
        }

        @Override
        public void onTransportLost(final String reason)
        {
            LOG.warn("{} peer {}: {}; existing peers keep working", name, localVm, reason);
        }
    }

    /** Our channel to one up peer session: its session, roles and the handler of the ring it writes to us. */
    private final class PeerChannel
    {
        final int vm;
        final long session;
        final int roles;
        final Inbound inbound;
        final RingReader.ControlledRecordHandler handler;
        /** Changed under the lock of {@code outbound[vm]}, which also orders sends. */
        volatile boolean up = true;
        volatile String writerFault;

        PeerChannel(final int vm, final long session, final int roles, final Inbound inbound)
        {
            this.vm = vm;
            this.session = session;
            this.roles = roles;
            this.inbound = inbound;
            this.handler = (type, payload, length) -> onRecord(this, type, payload, length);
        }
    }

    /** The ring a peer writes to us, across that peer's sessions (receive thread only). */
    private static final class Inbound
    {
        RingReader reader;
        /** Sessions named by the last SESSION_START read: producer's, and ours as the producer addressed it. */
        long startProducer;
        long startConsumer;
        boolean faulted;
        /** The session that broke the ring: what it publishes is discarded while it owns the slot. */
        long faultedSession;
        boolean discardRefusedLogged;
        String violation;
        volatile long discarded;

        Inbound(final RingReader reader)
        {
            this.reader = reader;
        }
    }

    /** The ring we write to a peer, across its sessions; its lock orders every write. */
    private static final class Outbound
    {
        final RingWriter writer;
        final ByteBuffer scratch = ByteBuffer.allocate(RecordDescriptor.SESSION_START_LENGTH)
            .order(ByteOrder.LITTLE_ENDIAN);
        /** The consumer session our last SESSION_START on this ring addressed (0: none yet). */
        long addressed;

        Outbound(final RingWriter writer)
        {
            this.writer = writer;
        }
    }

    /** A peer slot's heartbeat as we watch it (receive thread only). */
    private static final class Liveness
    {
        long session;
        long beat;
        long movedAt;
        /** The last session reported down: never brought up again. */
        long deadSession;
        boolean timedOut;
        boolean resumeLogged;

        void observe(final int vm, final long slotSession, final long slotBeat, final long now)
        {
            if (slotSession != session)
            {
                session = slotSession;
                beat = slotBeat;
                movedAt = now;
                timedOut = false;
                resumeLogged = false;
            }
            else if (slotBeat != beat)
            {
                beat = slotBeat;
                movedAt = now;
                if (timedOut && session == deadSession && !resumeLogged)
                {
                    resumeLogged = true;
                    LOG.warn("peer {} session {}: heartbeat moves again after it was declared down; it is told so " +
                        "on our ring to it and comes back when it rejoins with a new session", vm,
                        Long.toHexString(session));
                }
            }
        }
    }
}
