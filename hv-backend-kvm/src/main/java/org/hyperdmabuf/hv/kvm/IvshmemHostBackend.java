package org.hyperdmabuf.hv.kvm;

import org.hyperdmabuf.hv.nativeio.MappedMemory;
import org.hyperdmabuf.hv.nativeio.MemFd;
import org.hyperdmabuf.hv.nativeio.Native;
import org.hyperdmabuf.hv.nativeio.NativeIoException;
import org.hyperdmabuf.hv.nativeio.Poller;
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
import org.hyperdmabuf.hv.spi.BackendBuffer;
import org.hyperdmabuf.hv.spi.BackendException;
import org.hyperdmabuf.hv.spi.BackendListener;
import org.hyperdmabuf.hv.spi.Capabilities;
import org.hyperdmabuf.hv.spi.ClientMapping;
import org.hyperdmabuf.hv.spi.HypervisorBackend;
import org.hyperdmabuf.hv.spi.PeerInfo;
import org.hyperdmabuf.hv.spi.ShareRef;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * KVM ivshmem host mode: this daemon is one peer of an ivshmem server (ours or any speaking QEMU's protocol)
 * and shares its region with the other daemons and QEMU guests attached to the same server.
 * <p>
 * The region is formatted by the first daemon (see {@link SharedRegion}); each daemon publishes a peer slot
 * (session id, heartbeat) and talks to peer {@code j} through the SPSC ring {@code (me, j)}, ringing j's
 * vector-0 eventfd after each record. A peer is up when the server has announced it and its slot is active
 * with a session id. Vector 1 is reserved for fences.
 * <p>
 * Every peer of the region can reach all of it: isolation is by convention ({@code shared-region}) and
 * read-only imports are enforced by the daemon handing out an O_RDONLY fd ({@code daemon}).
 * <p>
 * Options: {@code socket} (server path, required), {@code max-peers} (default 8), {@code ring-capacity}
 * (bytes, power of two, default 65536), {@code connect-timeout-ms} (default 5000), {@code roles}
 * ({@code sink}, {@code source} or {@code sink,source}, the default). {@code max-peers} and
 * {@code ring-capacity} apply only if this daemon formats the region; otherwise the region's header wins.
 * The server must hand out ids below max-peers (e.g. {@code IvshmemServer.Options.maxId(maxPeers - 1)}).
 */
public final class IvshmemHostBackend implements HypervisorBackend
{
    public static final String NAME = "kvm-ivshmem";
    public static final String OPTION_SOCKET = "socket";
    public static final String OPTION_MAX_PEERS = "max-peers";
    public static final String OPTION_RING_CAPACITY = "ring-capacity";
    public static final String OPTION_CONNECT_TIMEOUT_MS = "connect-timeout-ms";
    public static final String OPTION_ROLES = "roles";
    /** Vectors this backend asks for: 0 carries message doorbells, 1 is reserved for fences. */
    public static final int VECTORS = 2;
    public static final int MESSAGE_VECTOR = 0;
    public static final int FENCE_VECTOR = 1;
    public static final long MAX_BUFFER_SIZE = 1L << 30;
    /** Receive-thread wake-up bound: rings are drained and the heartbeat advances at least this often. */
    public static final int POLL_INTERVAL_MS = 50;

    private static final Logger LOG = LoggerFactory.getLogger(IvshmemHostBackend.class);
    private static final int PAGE_SIZE = 4096;
    private static final int BATCH = 256;
    private static final long JOIN_TIMEOUT_MS = 5000;
    private static final SecureRandom RANDOM = new SecureRandom();

    private final String socketPath;
    private final int maxPeersOption;
    private final int ringCapacityOption;
    private final long connectTimeoutMs;
    private final int roles;
    private final long sessionId;
    private final ReentrantReadWriteLock lifecycle = new ReentrantReadWriteLock();
    private final List<MappedMemory> mappings = new ArrayList<>();

    private IvshmemPeerConnection connection;
    private SharedRegion region;
    private RegionLayout layout;
    private PagePool pool;
    private MemoryWindow ownSlot;
    private MemoryWindow[] slots;
    private AtomicReferenceArray<PeerChannel> channels;
    private long[] corruptSessions;
    private BackendListener listener;
    private Thread receiver;
    private volatile int localVm = -1;
    private volatile boolean running;
    private volatile boolean started;
    private boolean closed;
    private boolean joined;
    private volatile boolean releaseOnExit;
    private long heartbeat = 1;

    public IvshmemHostBackend(final Map<String, String> options) throws BackendException
    {
        final String socket = options.get(OPTION_SOCKET);
        if (socket == null || socket.isEmpty())
        {
            throw new BackendException("EINVAL", NAME + ": option '" + OPTION_SOCKET + "' (server socket) is required");
        }
        for (final String key : options.keySet())
        {
            if (!List.of(OPTION_SOCKET, OPTION_MAX_PEERS, OPTION_RING_CAPACITY, OPTION_CONNECT_TIMEOUT_MS,
                OPTION_ROLES).contains(key))
            {
                throw new BackendException("EINVAL", NAME + ": unknown option '" + key + "'");
            }
        }
        this.socketPath = socket;
        this.maxPeersOption = (int)longOption(options, OPTION_MAX_PEERS, RegionLayout.DEFAULT_MAX_PEERS, 2,
            RegionLayout.MAX_PEERS_LIMIT);
        this.ringCapacityOption = (int)longOption(options, OPTION_RING_CAPACITY, RegionLayout.DEFAULT_RING_CAPACITY,
            RingDescriptor.MIN_CAPACITY, RingDescriptor.MAX_CAPACITY);
        if (Integer.bitCount(ringCapacityOption) != 1)
        {
            throw new BackendException("EINVAL", NAME + ": " + OPTION_RING_CAPACITY + "=" + ringCapacityOption +
                " must be a power of two");
        }
        this.connectTimeoutMs = longOption(options, OPTION_CONNECT_TIMEOUT_MS, 5000, 1, 3_600_000);
        this.roles = parseRoles(options.getOrDefault(OPTION_ROLES, "sink,source"));
        long session;
        do
        {
            session = RANDOM.nextLong();
        }
        while (session == 0);
        this.sessionId = session;
    }

    @Override
    public String name()
    {
        return NAME;
    }

    @Override
    public Capabilities capabilities()
    {
        checkStarted();
        return new Capabilities(NAME, localVm, layout.pageSize(), Math.min(layout.poolBytes(), MAX_BUFFER_SIZE),
            "daemon", "shared-region", true, true);
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
            throw new IllegalStateException(NAME + " backend already started or closed");
        }
        this.listener = listener;
        try
        {
            connection = IvshmemPeerConnection.connect(socketPath, VECTORS, connectTimeoutMs, new ServerEvents());
            final int id = connection.ownId();
            region = SharedRegion.formatOrAttach(connection.shmSize(), this::map,
                new SharedRegion.FormatParams(PAGE_SIZE, maxPeersOption, ringCapacityOption,
                RegionLayout.DEFAULT_FENCE_SLOTS), sessionId, connectTimeoutMs);
            layout = region.layout();
            if (!region.isPeerInRange(id))
            {
                throw new BackendException("EINVAL", NAME + ": the server gave us id " + id + " but the region has " +
                    layout.maxPeers() + " peer slots; limit the server's ids to [0, " + (layout.maxPeers() - 1) + "]");
            }
            final int capacity = layout.ringCapacity();
            slots = new MemoryWindow[layout.maxPeers()];
            for (int j = 0; j < layout.maxPeers(); j++)
            {
                slots[j] = region.peerSlot(j);
                if (j != id)
                {
                    // Whatever a previous holder of our id left in its rings is not for us.
                    new RingReader(region.ring(j, id), capacity).skipToTail(sessionId);
                    new RingWriter(region.ring(id, j), capacity).reset(sessionId);
                }
            }
            channels = new AtomicReferenceArray<>(layout.maxPeers());
            corruptSessions = new long[layout.maxPeers()];
            pool = new PagePool(region.pageTable(), layout, id, sessionId);
            region.join(id, sessionId, roles, Native.libc().getpid());
            joined = true;
            ownSlot = slots[id];
            localVm = id;
            running = true;
            started = true;
            receiver = new Thread(this::receiveLoop, "ivshmem-backend-" + id);
            receiver.setDaemon(true);
            receiver.start();
            LOG.info("{} peer {} session {} on {}: {} bytes, {} pool bytes, {} peer slots, {}formatted by us", NAME,
                id, Long.toHexString(sessionId), socketPath, layout.regionSize(), layout.poolBytes(),
                layout.maxPeers(), region.formattedByUs() ? "" : "not ");
        }
        catch (final BackendException e)
        {
            releaseResources();
            throw e;
        }
        catch (final IvshmemProtocolException | ShmCorruptionException e)
        {
            releaseResources();
            throw new BackendException("EPROTO", NAME + ": " + e.getMessage(), e);
        }
        catch (final IllegalArgumentException e)
        {
            releaseResources();
            throw new BackendException("EINVAL", NAME + ": " + e.getMessage(), e);
        }
        catch (final IOException e)
        {
            releaseResources();
            throw new BackendException("EIO", NAME + ": cannot join ivshmem server " + socketPath + ": " +
                e.getMessage(), e);
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
            if (!pool.isOwnedBy(buffer.offset(), buffer.length(), localVm))
            {
                throw new BackendException("EINVAL", "not an allocation of peer " + localVm + ": " + buffer);
            }
            zero(buffer);
            if (!pool.free(buffer.offset()))
            {
                throw new BackendException("EINVAL", "not an allocation of peer " + localVm + ": " + buffer);
            }
        }
        finally
        {
            exit();
        }
    }

    /** Freed pages must not carry one client's data to the next client or VM (ABI.md "Page table"). */
    private void zero(final BackendBuffer buffer)
    {
        try
        {
            MemFd.punchHole(connection.shmFd(), buffer.offset(), buffer.length());
        }
        catch (final NativeIoException e)
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
            if (!pool.isOwnedBy(ref.offset(), ref.length(), exporterVm))
            {
                throw new BackendException("EINVAL", "reference " + ref + " is not memory of peer " + exporterVm);
            }
            return new ClientMapping(dupRegionFd(readOnly), ref.offset(), ref.length(), readOnly);
        }
        finally
        {
            exit();
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
            final boolean sent;
            synchronized (ch)
            {
                if (!ch.up || ch.writerFault != null)
                {
                    throw new BackendException("ENOPEER", "peer " + peerVm + " is not reachable");
                }
                try
                {
                    sent = ch.writer.offer(RecordDescriptor.PEER_MESSAGE_TYPE, message, offset, length);
                }
                catch (final ShmCorruptionException e)
                {
                    ch.writerFault = e.getMessage();
                    throw new BackendException("EPEERLOST", "ring to peer " + peerVm + " is corrupt: " + e.getMessage());
                }
            }
            if (sent)
            {
                ring(peerVm, MESSAGE_VECTOR);
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

    /** The ivshmem connection (for tests and diagnostics). */
    public IvshmemPeerConnection connection()
    {
        return connection;
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
        if (t != null && t == Thread.currentThread())
        {
            releaseOnExit = true; // called from a listener callback: release when the receive loop unwinds
            return;
        }
        if (t != null)
        {
            ring(localVm, MESSAGE_VECTOR);
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
                LOG.error("{} receive thread did not stop within {} ms; leaking the mapping", NAME, JOIN_TIMEOUT_MS);
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
            if (connection != null)
            {
                connection.close();
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
        final Poller poller = new Poller();
        boolean busy = false;
        while (running)
        {
            try
            {
                poller.clear();
                final int v0 = addIfOpen(poller, connection.ownVectorFd(MESSAGE_VECTOR));
                final int v1 = addIfOpen(poller, connection.ownVectorFd(FENCE_VECTOR));
                final int srv = addIfOpen(poller, connection.serverFd());
                poller.poll(busy ? 0 : POLL_INTERVAL_MS);
                if (!running)
                {
                    break;
                }
                if (srv >= 0 && poller.readable(srv))
                {
                    connection.processServerMessages(0);
                }
                if (v0 >= 0 && poller.readable(v0))
                {
                    connection.drain(MESSAGE_VECTOR);
                }
                if (v1 >= 0 && poller.readable(v1))
                {
                    connection.drain(FENCE_VECTOR); // reserved for fences: nothing to do yet
                }
                ownSlot.putLongRelease(PeerSlotDescriptor.HEARTBEAT_OFFSET, ++heartbeat);
                trackPeers();
                busy = drainRings();
            }
            catch (final NativeIoException | RuntimeException e)
            {
                LOG.error("{} receive loop error", NAME, e);
                LockSupport.parkNanos(POLL_INTERVAL_MS * 1_000_000L);
            }
        }
        if (releaseOnExit)
        {
            releaseResources();
        }
    }

    private static int addIfOpen(final Poller poller, final int fd)
    {
        return fd >= 0 ? poller.add(fd) : -1;
    }

    /** Brings peers up and down from what the server announced and what their slots say. */
    private void trackPeers()
    {
        for (int j = 0; j < slots.length; j++)
        {
            if (j == localVm)
            {
                continue;
            }
            final MemoryWindow slot = slots[j];
            final int state = slot.getIntAcquire(PeerSlotDescriptor.STATE_OFFSET);
            final long session = slot.getLongVolatile(PeerSlotDescriptor.SESSION_ID_OFFSET);
            final int slotPeer = slot.getInt(PeerSlotDescriptor.PEER_ID_OFFSET);
            final int slotRoles = slot.getInt(PeerSlotDescriptor.ROLES_OFFSET);
            final boolean active = state == PeerSlotDescriptor.STATE_ACTIVE && session != 0 && slotPeer == j &&
                slot.getIntAcquire(PeerSlotDescriptor.STATE_OFFSET) == PeerSlotDescriptor.STATE_ACTIVE;
            final boolean announced = connection.isPeerConnected(j);
            PeerChannel ch = channels.get(j);
            if (ch != null)
            {
                if (!announced || !active)
                {
                    down(ch, "gone");
                    continue;
                }
                if (ch.writerFault != null)
                {
                    LOG.warn("peer {} session {}: ring to it is corrupt ({}); closing its channel", j,
                        Long.toHexString(ch.session), ch.writerFault);
                    corruptSessions[j] = ch.session;
                    down(ch, "corrupt");
                    continue;
                }
                if (session == ch.session)
                {
                    continue;
                }
                down(ch, "restarted");
                ch = null;
            }
            if (announced && active && corruptSessions[j] != session)
            {
                up(j, session, slotRoles);
            }
        }
    }

    private void up(final int vm, final long session, final int peerRoles)
    {
        final int capacity = layout.ringCapacity();
        final PeerChannel ch = new PeerChannel(vm, session, peerRoles,
            new RingReader(region.ring(vm, localVm), capacity), new RingWriter(region.ring(localVm, vm), capacity));
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

    private void down(final PeerChannel ch, final String reason)
    {
        synchronized (ch)
        {
            ch.up = false;
        }
        channels.compareAndSet(ch.vm, ch, null);
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

    /** Delivers what every up peer has written to us; true if anything was delivered. */
    private boolean drainRings()
    {
        boolean delivered = false;
        for (int j = 0; j < slots.length; j++)
        {
            final PeerChannel ch = channels.get(j);
            if (ch == null)
            {
                continue;
            }
            try
            {
                delivered |= ch.reader.poll(ch.handler, BATCH) > 0;
            }
            catch (final ShmCorruptionException e)
            {
                LOG.warn("peer {} session {}: ring to us is corrupt ({}); no longer reading it", j,
                    Long.toHexString(ch.session), e.getMessage());
                corruptSessions[j] = ch.session;
                down(ch, "corrupt");
            }
        }
        return delivered;
    }

    private void deliver(final int vm, final int type, final ByteBuffer payload, final int length)
    {
        if (type != RecordDescriptor.PEER_MESSAGE_TYPE)
        {
            LOG.debug("peer {}: skipping record of unknown type {}", vm, type);
            return;
        }
        try
        {
            listener.onMessage(vm, payload, length);
        }
        catch (final RuntimeException e)
        {
            LOG.error("listener failed in onMessage({})", vm, e);
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
            connection.ring(vm, vector);
        }
        catch (final NativeIoException e)
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
        final int regionFd = connection.shmFd();
        try
        {
            return readOnly ? MemFd.reopenReadOnly(regionFd) :
                Native.check(Native.libc().dup(regionFd), "dup(" + regionFd + ")");
        }
        catch (final NativeIoException e)
        {
            throw new BackendException("ENOMEM".equals(e.errnoName()) ? "ENOMEM" : "EIO", e.getMessage(), e);
        }
    }

    private MemoryWindow map(final long offset, final long length) throws IOException
    {
        final MappedMemory m = MappedMemory.map(connection.shmFd(), offset, length, false);
        mappings.add(m);
        return new MemoryWindow(m.buffer());
    }

    private void enter() throws BackendException
    {
        lifecycle.readLock().lock();
        if (!started || closed)
        {
            lifecycle.readLock().unlock();
            throw new BackendException("EIO", NAME + " backend is " + (closed ? "closed" : "not started"));
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
            throw new IllegalStateException(NAME + " backend not started");
        }
    }

    private static long longOption(final Map<String, String> options, final String key, final long defaultValue,
        final long min, final long max) throws BackendException
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
            throw new BackendException("EINVAL", NAME + ": " + key + "='" + value + "' is not a number");
        }
        if (parsed < min || parsed > max)
        {
            throw new BackendException("EINVAL", NAME + ": " + key + "=" + parsed + " outside [" + min + ", " + max +
                "]");
        }
        return parsed;
    }

    private static int parseRoles(final String value) throws BackendException
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
                    throw new BackendException("EINVAL", NAME + ": " + OPTION_ROLES + "='" + value +
                        "': expected sink, source or sink,source");
            }
        }
        return parsed;
    }

    /** Server announcements arrive on the receive thread (or the starting thread, before any channel exists). */
    private final class ServerEvents implements IvshmemPeerConnection.Listener
    {
        @Override
        public void onPeerDisconnected(final int peerId)
        {
            final AtomicReferenceArray<PeerChannel> chs = channels;
            if (chs != null && peerId < chs.length() && Thread.currentThread() == receiver)
            {
                final PeerChannel ch = chs.get(peerId);
                if (ch != null)
                {
                    down(ch, "gone");
                }
            }
        }

        @Override
        public void onServerLost(final String reason)
        {
            LOG.warn("{} peer {}: ivshmem server lost ({}); existing peers keep working", NAME, localVm, reason);
        }
    }

    /** Our channel to one up peer: its session, the ring it writes to us and the ring we write to it. */
    private final class PeerChannel
    {
        final int vm;
        final long session;
        final int roles;
        final RingReader reader;
        final RingWriter writer;
        final RingReader.RecordHandler handler;
        volatile boolean up = true;
        volatile String writerFault;

        PeerChannel(final int vm, final long session, final int roles, final RingReader reader,
            final RingWriter writer)
        {
            this.vm = vm;
            this.session = session;
            this.roles = roles;
            this.reader = reader;
            this.writer = writer;
            this.handler = (type, payload, length) -> deliver(vm, type, payload, length);
        }
    }
}
