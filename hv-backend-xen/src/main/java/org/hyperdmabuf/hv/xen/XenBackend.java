package org.hyperdmabuf.hv.xen;

import org.hyperdmabuf.hv.nativeio.EventFd;
import org.hyperdmabuf.hv.nativeio.MappedMemory;
import org.hyperdmabuf.hv.nativeio.Native;
import org.hyperdmabuf.hv.nativeio.NativeIoException;
import org.hyperdmabuf.hv.nativeio.Poller;
import org.hyperdmabuf.hv.shm.ShmCorruptionException;
import org.hyperdmabuf.hv.spi.AllocIntent;
import org.hyperdmabuf.hv.spi.BackendBuffer;
import org.hyperdmabuf.hv.spi.BackendException;
import org.hyperdmabuf.hv.spi.BackendListener;
import org.hyperdmabuf.hv.spi.Capabilities;
import org.hyperdmabuf.hv.spi.ClientMapping;
import org.hyperdmabuf.hv.spi.HypervisorBackend;
import org.hyperdmabuf.hv.spi.ObserverStall;
import org.hyperdmabuf.hv.spi.PeerInfo;
import org.hyperdmabuf.hv.spi.ShareRef;
import org.hyperdmabuf.hv.shm.MemoryWindow;
import org.hyperdmabuf.hv.spi.FenceRef;
import org.hyperdmabuf.hv.xen.abi.ChannelDescriptor;
import org.hyperdmabuf.hv.xen.abi.FencePageDescriptor;
import org.hyperdmabuf.hv.xen.abi.PageDirectoryDescriptor;
import org.hyperdmabuf.hv.xen.abi.XenLimits;
import org.hyperdmabuf.hv.xen.dev.EventChannelDevice;
import org.hyperdmabuf.hv.xen.dev.GrantMapDevice;
import org.hyperdmabuf.hv.xen.dev.XenDevices;
import org.hyperdmabuf.hv.xen.grant.GrantedBuffer;
import org.hyperdmabuf.hv.xen.grant.ImportedBuffer;
import org.hyperdmabuf.hv.xen.store.XenStoreClient;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The Xen backend: buffers are grant-table pages (one gntalloc file per buffer, a read-only page directory, the
 * hypervisor enforcing read-only grants), peers meet through xenstore, and each peer pair talks over a control
 * channel of granted pages with one event channel (ABI.md "Xen specifics").
 * <p>
 * <b>Grantee fixed at grant time.</b> gntalloc grants fresh pages to one domain with fixed access, so a buffer
 * is granted once: at {@link #share} when that comes first, else at {@link #mapAllocation} to the target and
 * with the access the client declared at ALLOC ({@link AllocIntent}); undeclared, to the only source peer (option
 * {@code grantee} to name it) with access {@code alloc-access} (rw, the default, or ro). A later share to another
 * domain is ENOTSUP, one with another access EINVAL.
 * <p>
 * <b>Liveness.</b> Each side advances its heartbeat in the channel header; a peer whose heartbeat stalls for
 * {@code liveness-timeout-ms} is down ("timeout"). A xenstore watch on the peers' nodes and on
 * {@code @releaseDomain} reports a removed session ("gone") or a new one ("restarted"). A side that declares the
 * other down writes that session into {@code dropped_session} of its ring in the channel; a stalled side that
 * finds its own session there publishes a new one and pairs again ({@link #resyncIfDropped}, ABI.md "Resync").
 * <p>
 * Options: {@code domid} (required), {@code peers} (comma-separated domids to meet, required), {@code emulator}
 * (socket of the EMULATED hypervisor; without it the real /dev/xen devices), {@code xenstore} (xenstored socket;
 * default as libxenstore: $XENSTORED_PATH, the default socket, then /dev/xen/xenbus), {@code roles},
 * {@code heartbeat-ms} (100), {@code liveness-timeout-ms} (1500), {@code ring-capacity} (65536),
 * {@code gntalloc-limit} (pages this domain's gntalloc may hold, 1024 as the driver), {@code grantee},
 * {@code alloc-access}. Fences: one slot per buffer in the fence page of its grant file
 * ({@link #allocateFence(BackendBuffer)}).
 */
public final class XenBackend implements HypervisorBackend
{
    public static final String NAME = "xen";
    private static final Logger LOG = LoggerFactory.getLogger(XenBackend.class);
    private static final int MESSAGE_TYPE = 1;
    private static final int POLL_MS = 10;

    private final int domid;
    private final int[] peerIds;
    private final int roles;
    private final long heartbeatNs;
    private final long livenessNs;
    private final int ringCapacity;
    private final long limitPages;
    private final Integer grantee;
    private final boolean allocWritable;
    private final String xenstorePath;
    private final XenDevices devices;
    /** Ours; a new one after a resync (receive thread). */
    private volatile long sessionId;
    /** When we last started a new session after being declared down (receive thread), to bound the rate. */
    private long lastResyncNs;
    private final EventFd wake = new EventFd();
    private final int wakeFd;
    private final AtomicBoolean rescan = new AtomicBoolean(true);
    private final Map<Integer, XenChannel> channels = new ConcurrentHashMap<>();
    private final Map<Integer, PeerInfo> up = new ConcurrentHashMap<>();
    private final Map<Integer, Long> deadSessions = new HashMap<>();
    private final Map<Long, Buffer> buffers = new ConcurrentHashMap<>();
    private final Object sendLock = new Object();
    /**
     * Fence pages of other domains' exports, by (vm << 32 | ref): mapped at {@link #validateFence}, unmapped when
     * the last {@link #fenceWindow(int, int)} user releases it (ABI.md "Xen specifics").
     */
    private final Map<Long, ImportedFence> importedFences = new ConcurrentHashMap<>();
    /** Replaced mappings of a ref whose page was re-granted, still read by a timeline of the old export. */
    private final List<ImportedFence> staleFences = new ArrayList<>();
    private long nextBufferId = 1;
    private long usedPages;
    private XenStoreClient xs;
    private EventChannelDevice evtchn;
    private BackendListener listener;
    private Thread receiver;
    private volatile boolean closed;

    /** One allocation: its pages are granted when first shared or mapped. */
    private static final class Buffer
    {
        final BackendBuffer spi;
        final long reservedPages;
        final AllocIntent intent;
        GrantedBuffer granted;
        boolean writable;
        boolean fenceLive;

        Buffer(final BackendBuffer spi, final long reservedPages, final AllocIntent intent)
        {
            this.spi = spi;
            this.reservedPages = reservedPages;
            this.intent = intent;
        }
    }

    /** An importer's own mapping of an exporter's fence page, with the number of timelines reading it. */
    private static final class ImportedFence implements AutoCloseable
    {
        final GrantMapDevice device;
        final MappedMemory memory;
        final MemoryWindow window;
        int users;

        ImportedFence(final GrantMapDevice device, final MappedMemory memory)
        {
            this.device = device;
            this.memory = memory;
            this.window = new MemoryWindow(memory.buffer());
        }

        boolean live()
        {
            return window.getIntVolatile(FencePageDescriptor.MAGIC_OFFSET) == FencePageDescriptor.MAGIC;
        }

        @Override
        public void close()
        {
            memory.close();
            device.close();
        }
    }

    public XenBackend(final Map<String, String> options, final XenDevices devices) throws BackendException
    {
        this.devices = devices;
        this.domid = devices.localDomid();
        this.peerIds = parsePeers(options.get("peers"));
        this.roles = parseRoles(options.getOrDefault("roles", "sink,source"));
        final long hb = longOption(options, "heartbeat-ms", 100);
        final long live = longOption(options, "liveness-timeout-ms", 1500);
        if (hb < POLL_MS || live <= 2 * hb)
        {
            throw new BackendException("EINVAL", "heartbeat-ms=" + hb + " (>= " + POLL_MS +
                ") must be under half of liveness-timeout-ms=" + live);
        }
        this.heartbeatNs = hb * 1_000_000L;
        this.livenessNs = live * 1_000_000L;
        this.ringCapacity = (int)longOption(options, "ring-capacity", 65536);
        try
        {
            org.hyperdmabuf.hv.shm.RingDescriptor.checkCapacity(ringCapacity);
        }
        catch (final IllegalArgumentException e)
        {
            throw new BackendException("EINVAL", e.getMessage());
        }
        this.limitPages = longOption(options, "gntalloc-limit", XenLimits.GNTALLOC_DEFAULT_PAGE_LIMIT);
        this.grantee = options.containsKey("grantee") ? (int)longOption(options, "grantee", 0) : null;
        final String access = options.getOrDefault("alloc-access", "rw");
        if (!access.equals("rw") && !access.equals("ro"))
        {
            throw new BackendException("EINVAL", "alloc-access=" + access + " (rw or ro)");
        }
        this.allocWritable = access.equals("rw");
        this.xenstorePath = options.get("xenstore");
        this.sessionId = newSessionId();
        try
        {
            this.wakeFd = EventFd.create();
        }
        catch (final NativeIoException e)
        {
            throw new BackendException("EIO", e.getMessage(), e);
        }
    }

    private static final SecureRandom RANDOM = new SecureRandom();

    private static long newSessionId()
    {
        long s = 0;
        while (s == 0)
        {
            s = RANDOM.nextLong();
        }
        return s;
    }

    @Override
    public String name()
    {
        return NAME;
    }

    @Override
    public Capabilities capabilities()
    {
        return new Capabilities(NAME, domid, XenLimits.PAGE_SIZE, maxBufferPages() * XenLimits.PAGE_SIZE, "hypervisor",
            "per-buffer", true, true);
    }

    /** The largest buffer whose data and directory pages fit the gntalloc limit and one gntdev map. */
    private long maxBufferPages()
    {
        long n = Math.min(limitPages, XenLimits.GNTDEV_MAX_GRANTS_PER_MAP);
        while (n > 0 && n + PageDirectoryDescriptor.directoryPages(n) + 1 > limitPages)
        {
            n--;
        }
        return n;
    }

    @Override
    public int localVm()
    {
        return domid;
    }

    @Override
    public long sessionId()
    {
        return sessionId;
    }

    @Override
    public void start(final BackendListener listener) throws BackendException
    {
        this.listener = listener;
        try
        {
            xs = devices.openXenStore(xenstorePath, (path, token) ->
            {
                rescan.set(true);
                wakeUp();
            });
            evtchn = devices.openEventChannel();
            xs.rmIfPresent(0, XenStorePaths.base(domid));
            final String[] perms = new String[peerIds.length + 1];
            perms[0] = "n" + domid;
            for (int i = 0; i < peerIds.length; i++)
            {
                perms[i + 1] = "r" + peerIds[i];
            }
            xs.inTransaction(tx ->
            {
                // Permissions first: xenstored copies a parent's list into each new node, so the children written
                // next are readable by the peers too (a later SET_PERMS of the parent would not reach them).
                xs.mkdir(tx, XenStorePaths.base(domid));
                xs.setPermissions(tx, XenStorePaths.base(domid), perms);
                xs.write(tx, XenStorePaths.roles(domid), Integer.toString(roles));
                xs.write(tx, XenStorePaths.session(domid), String.format("%016x", sessionId));
            });
            for (final int p : peerIds)
            {
                xs.watch(XenStorePaths.base(p), "peer-" + p);
            }
            xs.watch("@releaseDomain", "release");
        }
        catch (final IOException e)
        {
            close();
            throw new BackendException("EIO", "xen backend start: " + e.getMessage(), e);
        }
        LOG.info("{} backend: dom{} session {} peers {} ring {} B, heartbeat {} ms, liveness {} ms", NAME, domid,
            Long.toHexString(sessionId), java.util.Arrays.toString(peerIds), ringCapacity, heartbeatNs / 1_000_000,
            livenessNs / 1_000_000);
        receiver = new Thread(this::receiveLoop, "xen-receive-dom" + domid);
        receiver.setDaemon(true);
        receiver.start();
    }

    private void wakeUp()
    {
        try
        {
            wake.signal(wakeFd);
        }
        catch (final NativeIoException e)
        {
            LOG.warn("wake-up failed", e);
        }
    }

    // ---- receive thread: rendezvous, messages, heartbeats ----

    private void receiveLoop()
    {
        final Poller poller = new Poller();
        final int[] ports = new int[256];
        long nextBeat = System.nanoTime();
        long heartbeat = 1;
        long nextRescan = 0;
        long nextTick = System.nanoTime();
        final ObserverStall stall = new ObserverStall(livenessNs);
        while (!closed)
        {
            try
            {
                poller.clear();
                poller.add(evtchn.fd());
                poller.add(wakeFd);
                poller.poll(POLL_MS);
                if (closed)
                {
                    return;
                }
                wake.drain(wakeFd);
                final int n = evtchn.readPending(ports);
                for (int i = 0; i < n; i++)
                {
                    evtchn.unmask(ports[i]);
                }
                final long now = System.nanoTime();
                boolean doorbell = false;
                if (rescan.getAndSet(false) || now - nextRescan > 0)
                {
                    nextRescan = now + livenessNs / 2;
                    for (final int p : peerIds)
                    {
                        rendezvous(p);
                    }
                }
                if (now - nextBeat >= 0)
                {
                    heartbeat++;
                    for (final XenChannel ch : channels.values())
                    {
                        ch.header.putLongRelease(ch.ownHeartbeatOffset(), heartbeat);
                    }
                    nextBeat = now + heartbeatNs;
                }
                // Time in which this loop did not run is not counted against the peers (ABI.md "Liveness"): a
                // stall of the whole host stalled them too.
                final long gap = stall.unwatched(now);
                if (gap > 0)
                {
                    LOG.info("dom{}: not run for {} ms; that time is not counted against the peers' heartbeats",
                        domid, gap / 1_000_000);
                    for (final XenChannel ch : channels.values())
                    {
                        ch.lastPeerBeatChangeNs += gap;
                    }
                }
                resyncIfDropped(now);
                for (final XenChannel ch : channels.values())
                {
                    if (!up.containsKey(ch.peer))
                    {
                        continue;
                    }
                    final long beat = ch.header.getLongAcquire(ch.peerHeartbeatOffset());
                    if (beat != ch.lastPeerBeat)
                    {
                        ch.lastPeerBeat = beat;
                        ch.lastPeerBeatChangeNs = now;
                    }
                    else if (now - ch.lastPeerBeatChangeNs > livenessNs)
                    {
                        LOG.warn("dom{} session {}: heartbeat stuck for {} ms; declaring it down", ch.peer,
                            Long.toHexString(ch.peerSession), (now - ch.lastPeerBeatChangeNs) / 1_000_000);
                        down(ch.peer, "timeout", true);
                        continue;
                    }
                    if (ch.header.getIntVolatile(ch.ownDoorbellOffset()) != 0)
                    {
                        ch.header.putIntVolatile(ch.ownDoorbellOffset(), 0);
                        doorbell = true;
                    }
                    try
                    {
                        ch.reader.poll((type, payload, length) ->
                        {
                            if (type == MESSAGE_TYPE)
                            {
                                listener.onMessage(ch.peer, payload, length);
                            }
                        }, 1024);
                    }
                    catch (final ShmCorruptionException e)
                    {
                        LOG.error("dom{} broke the channel protocol: {}", ch.peer, e.getMessage());
                        down(ch.peer, "corrupt", true);
                    }
                }
                if (doorbell)
                {
                    listener.onFenceDoorbell();
                }
                if (now - nextTick >= 0)
                {
                    nextTick = now + POLL_MS * 1_000_000L;
                    listener.onFenceTick();
                }
            }
            catch (final NativeIoException e)
            {
                if (!closed)
                {
                    // The event channel device failed: without it nothing arrives. Every peer is lost.
                    LOG.error("dom{}: event channel device failed ({}); all peers are down", domid, e.getMessage());
                    for (final Integer peer : new ArrayList<>(channels.keySet()))
                    {
                        down(peer, "gone", true);
                    }
                }
                return;
            }
            catch (final RuntimeException e)
            {
                if (!closed)
                {
                    LOG.error("xen receive loop", e);
                }
            }
        }
    }

    /**
     * Starts a new session of ours when a peer says, in the trailer of its ring to us, that it declared our current
     * one down (we were stalled for longer than its liveness timeout). As on kvm-ivshmem (ABI.md "Resync"): we drop
     * everything of every peer, publish the new session in xenstore, and the peers see a restart and pair again.
     * At most once per liveness timeout.
     */
    private void resyncIfDropped(final long now)
    {
        if (lastResyncNs != 0 && now - lastResyncNs < livenessNs)
        {
            return;
        }
        for (final XenChannel ch : channels.values())
        {
            if (ch.reader.droppedSession() == sessionId)
            {
                lastResyncNs = now;
                resync(ch.peer);
                return;
            }
        }
    }

    private void resync(final int by)
    {
        final long fresh = newSessionId();
        LOG.warn("dom{} session {}: dom{} declared this session down; dropping everything of every peer and " +
            "rejoining as session {}", domid, Long.toHexString(sessionId), by, Long.toHexString(fresh));
        for (final Integer peer : new ArrayList<>(channels.keySet()))
        {
            down(peer, BackendListener.REASON_RESYNC, false);
        }
        sessionId = fresh;
        try
        {
            xs.inTransaction(tx -> xs.write(tx, XenStorePaths.session(domid), String.format("%016x", fresh)));
        }
        catch (final IOException e)
        {
            LOG.error("dom{}: publishing session {} failed: {}", domid, Long.toHexString(fresh), e.getMessage());
        }
        rescan.set(true);
    }

    /** Moves the channel to {@code peer} one step towards up, or down if its session went away. */
    private void rendezvous(final int peer)
    {
        try
        {
            final String s = xs.readOrNull(0, XenStorePaths.session(peer));
            final long peerSession = s == null ? 0 : Long.parseUnsignedLong(s, 16);
            final XenChannel current = channels.get(peer);
            if (current != null && current.peerSession != peerSession)
            {
                down(peer, peerSession == 0 ? "gone" : "restarted", false);
            }
            if (peerSession == 0 || deadSessions.getOrDefault(peer, 0L) == peerSession)
            {
                return;
            }
            final String r = xs.readOrNull(0, XenStorePaths.roles(peer));
            final int peerRoles = r == null ? 0 : Integer.parseInt(r);
            if (domid < peer)
            {
                serve(peer, peerSession, peerRoles);
            }
            else
            {
                connect(peer, peerSession, peerRoles);
            }
        }
        catch (final IOException | NumberFormatException e)
        {
            LOG.warn("rendezvous with dom{}: {}", peer, e.getMessage());
        }
    }

    /** Server side: grant the channel, publish it, and come up when the client says it attached. */
    private void serve(final int peer, final long peerSession, final int peerRoles) throws IOException
    {
        XenChannel ch = channels.get(peer);
        if (ch == null)
        {
            final GrantedBuffer pages = GrantedBuffer.grant(devices, peer, ChannelDescriptor.channelLength(ringCapacity),
                true);
            final MappedMemory memory;
            final int port;
            try
            {
                memory = MappedMemory.map(pages.dataFd(), pages.dataIndex(), pages.length(), false);
                port = evtchn.bindUnboundPort(peer);
            }
            catch (final NativeIoException e)
            {
                pages.close();
                throw e;
            }
            ch = new XenChannel(peer, peerSession, true, port, memory, pages, ringCapacity);
            ch.header.putInt(ChannelDescriptor.VERSION_OFFSET, ChannelDescriptor.VERSION);
            ch.header.putInt(ChannelDescriptor.RING_CAPACITY_OFFSET, ringCapacity);
            ch.header.putLong(ChannelDescriptor.SERVER_SESSION_OFFSET, sessionId);
            ch.header.putLongRelease(ChannelDescriptor.MAGIC_OFFSET, ChannelDescriptor.MAGIC);
            channels.put(peer, ch);
            final String path = XenStorePaths.channel(domid, peer);
            xs.inTransaction(tx ->
            {
                pairNode(tx, peer);
                xs.write(tx, path + "/dir-ref", Integer.toString(pages.directoryRef()));
                xs.write(tx, path + "/length", Long.toString(pages.length()));
                xs.write(tx, path + "/event-channel", Integer.toString(port));
                xs.write(tx, path + "/session", String.format("%016x", sessionId));
                xs.write(tx, path + "/peer-session", String.format("%016x", peerSession));
            });
        }
        if (!up.containsKey(peer))
        {
            final String connected = xs.readOrNull(0, XenStorePaths.channel(peer, domid) + "/connected");
            if (String.format("%016x", sessionId).equals(connected) &&
                ch.header.getLongAcquire(ChannelDescriptor.CLIENT_SESSION_OFFSET) == peerSession)
            {
                comeUp(ch, peerRoles);
            }
        }
    }

    /** Client side: map the server's channel made for our session, bind its port, say we attached. */
    private void connect(final int peer, final long peerSession, final int peerRoles) throws IOException
    {
        if (channels.containsKey(peer))
        {
            return;
        }
        final String path = XenStorePaths.channel(peer, domid);
        final String forSession = xs.readOrNull(0, path + "/peer-session");
        final String serverSession = xs.readOrNull(0, path + "/session");
        if (!String.format("%016x", sessionId).equals(forSession) ||
            !String.format("%016x", peerSession).equals(serverSession))
        {
            return; // not (yet) made for this pair of sessions
        }
        final int dirRef = Integer.parseInt(xs.read(0, path + "/dir-ref"));
        final long length = Long.parseLong(xs.read(0, path + "/length"));
        final int remotePort = Integer.parseInt(xs.read(0, path + "/event-channel"));
        if (length != ChannelDescriptor.channelLength(ringCapacity))
        {
            LOG.error("dom{} offers a {} B channel; ours is {} B (ring-capacity must match)", peer, length,
                ChannelDescriptor.channelLength(ringCapacity));
            deadSessions.put(peer, peerSession);
            return;
        }
        final ImportedBuffer pages = ImportedBuffer.map(devices, peer, dirRef, length);
        final MappedMemory memory;
        final int port;
        try
        {
            memory = MappedMemory.map(pages.fd(), pages.index(), pages.length(), false);
            port = evtchn.bindInterdomain(peer, remotePort);
        }
        catch (final NativeIoException e)
        {
            pages.close();
            throw e;
        }
        final XenChannel ch = new XenChannel(peer, peerSession, false, port, memory, pages, ringCapacity);
        if (ch.header.getLongAcquire(ChannelDescriptor.MAGIC_OFFSET) != ChannelDescriptor.MAGIC ||
            ch.header.getLong(ChannelDescriptor.SERVER_SESSION_OFFSET) != peerSession ||
            ch.header.getInt(ChannelDescriptor.RING_CAPACITY_OFFSET) != ringCapacity)
        {
            LOG.error("dom{}'s channel header is not a hyperdmabuf channel of its session", peer);
            ch.close();
            evtchn.unbind(port);
            deadSessions.put(peer, peerSession);
            return;
        }
        ch.header.putLongRelease(ChannelDescriptor.CLIENT_SESSION_OFFSET, sessionId);
        channels.put(peer, ch);
        xs.inTransaction(tx ->
        {
            pairNode(tx, peer);
            xs.write(tx, XenStorePaths.channel(domid, peer) + "/connected", String.format("%016x", peerSession));
        });
        comeUp(ch, peerRoles);
        evtchn.notify(port);
    }

    /** Our {@code channel/<peer>} node, readable by that peer only (its children inherit this list). */
    private void pairNode(final int tx, final int peer) throws IOException
    {
        final String path = XenStorePaths.channel(domid, peer);
        xs.mkdir(tx, path);
        xs.setPermissions(tx, path, "n" + domid, "r" + peer);
    }

    private void comeUp(final XenChannel ch, final int peerRoles)
    {
        ch.writer.reset(sessionId);
        ch.lastPeerBeatChangeNs = System.nanoTime();
        final PeerInfo info = new PeerInfo(ch.peer, ch.peerSession, peerRoles);
        up.put(ch.peer, info);
        LOG.info("dom{} session {} up ({})", ch.peer, Long.toHexString(ch.peerSession), ch.server ? "server" : "client");
        listener.onPeerUp(info);
    }

    /** Tears the channel to {@code peer} down; {@code forever}: this session never comes back. */
    private void down(final int peer, final String reason, final boolean forever)
    {
        final XenChannel ch = channels.remove(peer);
        if (ch == null)
        {
            return;
        }
        final PeerInfo was = up.remove(peer);
        synchronized (sendLock)
        {
            if (forever)
            {
                deadSessions.put(peer, ch.peerSession);
                // If that session still runs (stopped and resumed), this is how it learns to rejoin (ABI.md "Resync").
                ch.writer.markDropped(ch.peerSession);
            }
            ch.close();
        }
        try
        {
            evtchn.unbind(ch.port);
            xs.rmIfPresent(0, XenStorePaths.channel(domid, peer)); // our side's nodes of this pair
        }
        catch (final IOException e)
        {
            LOG.debug("cleanup after dom{}: {}", peer, e.getMessage());
        }
        forgetFencesOf(peer);
        if (was != null)
        {
            LOG.info("dom{} session {} down: {}", peer, Long.toHexString(ch.peerSession), reason);
            listener.onPeerDown(peer, ch.peerSession, reason);
        }
    }

    @Override
    public List<PeerInfo> peers()
    {
        return new ArrayList<>(up.values());
    }

    // ---- buffers ----

    @Override
    public BackendBuffer allocate(final long size) throws BackendException
    {
        return allocate(size, AllocIntent.NONE);
    }

    @Override
    public synchronized BackendBuffer allocate(final long size, final AllocIntent intent) throws BackendException
    {
        if (size <= 0)
        {
            throw new BackendException("EINVAL", "allocation of " + size + " bytes");
        }
        if (intent.declaresTarget() && java.util.Arrays.stream(peerIds).noneMatch(p -> p == intent.targetVm()))
        {
            throw new BackendException("ENOPEER", "dom" + intent.targetVm() + " is not among this daemon's peers " +
                java.util.Arrays.toString(peerIds));
        }
        final long pages = PageDirectoryDescriptor.dataPages(size);
        final long withDirectory = pages + PageDirectoryDescriptor.directoryPages(pages) + 1; // + the fence page
        if (pages > XenLimits.GNTDEV_MAX_GRANTS_PER_MAP || usedPages + withDirectory > limitPages)
        {
            throw new BackendException("ENOSPC", "gntalloc: " + withDirectory + " pages (data + directory + fence) requested, " +
                (limitPages - usedPages) + " of " + limitPages + " free; raise " +
                "/sys/module/xen_gntalloc/parameters/limit and the gntalloc-limit option");
        }
        usedPages += withDirectory;
        final BackendBuffer b = new BackendBuffer(nextBufferId++ << 32, pages * XenLimits.PAGE_SIZE);
        buffers.put(b.offset(), new Buffer(b, withDirectory, intent));
        return b;
    }

    @Override
    public synchronized void free(final BackendBuffer buffer) throws BackendException
    {
        final Buffer b = buffers.get(buffer.offset());
        if (b == null || !b.spi.equals(buffer))
        {
            throw new BackendException("EINVAL", "not an allocation of this backend: " + buffer);
        }
        buffers.remove(buffer.offset());
        usedPages -= b.reservedPages;
        if (b.granted != null)
        {
            b.granted.close(); // ends access; Xen defers it for pages the grantee still maps
        }
    }

    private synchronized Buffer grantIfNeeded(final BackendBuffer buffer, final int target, final boolean writable)
        throws BackendException
    {
        final Buffer b = buffers.get(buffer.offset());
        if (b == null || !b.spi.equals(buffer))
        {
            throw new BackendException("EINVAL", "not an allocation of this backend: " + buffer);
        }
        if (b.granted == null)
        {
            try
            {
                b.granted = GrantedBuffer.grant(devices, target, b.spi.length(), writable);
                b.writable = writable;
            }
            catch (final NativeIoException e)
            {
                throw new BackendException(e.errnoName(), e.getMessage(), e);
            }
        }
        return b;
    }

    @Override
    public ShareRef share(final BackendBuffer buffer, final int targetVm, final boolean readOnly)
        throws BackendException
    {
        if (!up.containsKey(targetVm))
        {
            throw new BackendException("ENOPEER", "dom" + targetVm + " is not reachable");
        }
        final Buffer b = grantIfNeeded(buffer, targetVm, !readOnly);
        if (b.granted.grantee() != targetVm)
        {
            throw new BackendException("ENOTSUP", "this buffer's pages are granted to dom" + b.granted.grantee() +
                "; gntalloc grants a page to one domain, fixed when it is first shared or mapped (declare the " +
                "target at ALLOC)");
        }
        if (b.writable == readOnly)
        {
            throw new BackendException("EINVAL", "this buffer is granted " + (b.writable ? "writable" : "read-only") +
                " (fixed when first shared or mapped; declare the access at ALLOC); export it " +
                (b.writable ? "read-write" : "read-only"));
        }
        return new ShareRef(b.granted.directoryRef(), b.granted.length());
    }

    @Override
    public void unshare(final BackendBuffer buffer, final ShareRef ref) throws BackendException
    {
        final Buffer b = buffers.get(buffer.offset());
        if (b == null || b.granted == null || b.granted.directoryRef() != ref.offset())
        {
            throw new BackendException("EINVAL", "not a share of this backend: " + ref);
        }
        // The grant lives as long as the allocation: Xen cannot revoke a mapped grant anyway.
    }

    @Override
    public ClientMapping mapAllocation(final BackendBuffer buffer) throws BackendException
    {
        Buffer b = buffers.get(buffer.offset());
        if (b != null && b.granted == null)
        {
            // gntalloc fixes grantee and access now, before any export: the client's declaration, else the defaults
            final int target = b.intent.declaresTarget() ? b.intent.targetVm() : defaultGrantee();
            final boolean writable = switch (b.intent.access())
            {
                case UNDECLARED -> allocWritable;
                case READ_WRITE -> true;
                case READ_ONLY -> false;
            };
            b = grantIfNeeded(buffer, target, writable);
        }
        if (b == null || !b.spi.equals(buffer))
        {
            throw new BackendException("EINVAL", "not an allocation of this backend: " + buffer);
        }
        try
        {
            final int fd = Native.check(Native.libc().dup(b.granted.dataFd()), "dup");
            return new ClientMapping(fd, b.granted.dataIndex(), b.granted.length(), false);
        }
        catch (final NativeIoException e)
        {
            throw new BackendException(e.errnoName(), e.getMessage(), e);
        }
    }

    private int defaultGrantee() throws BackendException
    {
        if (grantee != null)
        {
            return grantee;
        }
        final List<PeerInfo> sources = up.values().stream().filter(PeerInfo::isSource).toList();
        if (sources.size() != 1)
        {
            throw new BackendException("ENOPEER", "the pages must be granted now and " + sources.size() +
                " source domains are up; set the backend option grantee=<domid>");
        }
        return sources.get(0).vm();
    }

    @Override
    public ClientMapping mapImport(final int exporterVm, final ShareRef ref, final boolean readOnly)
        throws BackendException
    {
        if (ref.offset() < XenLimits.FIRST_USABLE_GRANT_REF || ref.offset() > 0xFFFFFFFFL || ref.length() <= 0)
        {
            throw new BackendException("EINVAL", "not a Xen share reference: " + ref);
        }
        try (ImportedBuffer imported = ImportedBuffer.map(devices, exporterVm, (int)ref.offset(), ref.length()))
        {
            // The client's dup keeps the gntdev file (and its map) open after ours closes.
            final int fd = Native.check(Native.libc().dup(imported.fd()), "dup");
            return new ClientMapping(fd, imported.index(), imported.length(), readOnly);
        }
        catch (final NativeIoException e)
        {
            throw new BackendException(e.errnoName(), "import from dom" + exporterVm + ": " + e.getMessage(), e);
        }
    }

    // ---- messages ----

    @Override
    public boolean send(final int peerVm, final ByteBuffer message, final int offset, final int length)
        throws BackendException
    {
        synchronized (sendLock)
        {
            final XenChannel ch = channels.get(peerVm);
            if (ch == null || !up.containsKey(peerVm))
            {
                throw new BackendException("ENOPEER", "dom" + peerVm + " is not reachable");
            }
            if (length > maxMessageLength())
            {
                throw new BackendException("EINVAL", "message of " + length + " bytes; max " + maxMessageLength());
            }
            try
            {
                if (!ch.writer.offer(MESSAGE_TYPE, message, offset, length))
                {
                    return false;
                }
                evtchn.notify(ch.port);
                return true;
            }
            catch (final ShmCorruptionException e)
            {
                throw new BackendException("EIO", "dom" + peerVm + " corrupted the channel: " + e.getMessage());
            }
            catch (final NativeIoException e)
            {
                return true; // sent; the notify is a hint and the peer polls every 10 ms
            }
        }
    }

    @Override
    public int maxMessageLength()
    {
        return org.hyperdmabuf.hv.shm.RingDescriptor.maxRecordLength(ringCapacity) -
            org.hyperdmabuf.hv.shm.RecordDescriptor.HEADER_LENGTH;
    }

    @Override
    public synchronized long freeBytes()
    {
        return (limitPages - usedPages) * XenLimits.PAGE_SIZE;
    }

    @Override
    public long totalBytes()
    {
        return limitPages * XenLimits.PAGE_SIZE;
    }

    // ---- fences: one slot per buffer, in the fence page of the buffer's own grant file ----

    @Override
    public synchronized FenceRef allocateFence(final BackendBuffer buffer) throws BackendException
    {
        final Buffer b = buffers.get(buffer.offset());
        if (b == null || !b.spi.equals(buffer) || b.granted == null)
        {
            throw new BackendException("EINVAL", "xen fences belong to a shared buffer of this backend: " + buffer);
        }
        if (b.fenceLive)
        {
            throw new BackendException("ENOSPC", "the buffer's fence page is in use by another export");
        }
        b.granted.clearFence();
        b.fenceLive = true;
        return new FenceRef(b.granted.fenceRef(), 0);
    }

    @Override
    public FenceRef allocateFence() throws BackendException
    {
        throw new BackendException("ENOTSUP", "xen fences live in a buffer's grant file: allocateFence(buffer)");
    }

    @Override
    public synchronized void freeFence(final FenceRef fence) throws BackendException
    {
        final Buffer b = ownFence(fence.index());
        if (b == null || !b.fenceLive || fence.regionOffset() != 0)
        {
            throw new BackendException("EINVAL", "not a live fence of this backend: " + fence);
        }
        b.granted.clearFence();
        b.fenceLive = false;
    }

    private Buffer ownFence(final int index)
    {
        for (final Buffer b : buffers.values())
        {
            if (b.granted != null && b.granted.fenceRef() == index)
            {
                return b;
            }
        }
        return null;
    }

    @Override
    public synchronized MemoryWindow fenceWindow(final int index)
    {
        final Buffer b = ownFence(index);
        if (b == null)
        {
            throw new IllegalArgumentException("no fence page with ref " + index + " in dom" + domid);
        }
        return b.granted.fence();
    }

    @Override
    public synchronized MemoryWindow fenceWindow(final int exporterVm, final int index)
    {
        if (exporterVm == domid)
        {
            return fenceWindow(index);
        }
        final ImportedFence f = importedFences.get(fenceKey(exporterVm, index));
        if (f == null)
        {
            throw new IllegalArgumentException("dom" + exporterVm + "'s fence " + index + " was not validated");
        }
        f.users++;
        return f.window;
    }

    @Override
    public synchronized void releaseFenceWindow(final int exporterVm, final MemoryWindow window)
    {
        if (exporterVm == domid)
        {
            return; // our own fence pages live as long as their buffers
        }
        for (final java.util.Iterator<ImportedFence> it = staleFences.iterator(); it.hasNext(); )
        {
            final ImportedFence f = it.next();
            if (f.window == window)
            {
                if (--f.users <= 0)
                {
                    it.remove();
                    f.close();
                }
                return;
            }
        }
        for (final Map.Entry<Long, ImportedFence> e : importedFences.entrySet())
        {
            final ImportedFence f = e.getValue();
            if (f.window == window && (int)(e.getKey() >>> 32) == exporterVm)
            {
                if (--f.users <= 0)
                {
                    importedFences.remove(e.getKey());
                    f.close();
                }
                return;
            }
        }
        throw new IllegalArgumentException("not a fence window of dom" + exporterVm + " in use");
    }

    /** Fence pages of other domains this backend maps now (live and replaced ones). */
    public synchronized int importedFencePages()
    {
        return importedFences.size() + staleFences.size();
    }

    @Override
    public synchronized boolean validateFence(final int exporterVm, final int index)
    {
        if (exporterVm == domid)
        {
            final Buffer b = ownFence(index);
            return b != null && b.fenceLive;
        }
        if (index < XenLimits.FIRST_USABLE_GRANT_REF || !up.containsKey(exporterVm))
        {
            return false;
        }
        final long key = fenceKey(exporterVm, index);
        final ImportedFence cached = importedFences.get(key);
        if (cached != null && cached.live())
        {
            return true;
        }
        dropUnusedFences(); // validated for an announcement that was then refused: no timeline ever took it
        GrantMapDevice dev = null;
        try
        {
            dev = devices.openGrantMap();
            final long at = dev.map(exporterVm, new int[] {index}, 1);
            final ImportedFence f = new ImportedFence(dev, MappedMemory.map(dev.fd(), at, XenLimits.PAGE_SIZE, false));
            if (!f.live())
            {
                f.close();
                return false;
            }
            final ImportedFence replaced = importedFences.put(key, f);
            if (replaced != null)
            {
                staleFences.add(replaced); // a timeline of the old export still reads it until released
            }
            return true;
        }
        catch (final NativeIoException e)
        {
            if (dev != null)
            {
                dev.close();
            }
            return false;
        }
    }

    /**
     * The fence pages we mapped for {@code peer}'s exports belong to the session that just went: its next session
     * grants new pages whose refs may carry the same numbers, and validating such a ref against the old mapping
     * (still live: nobody cleared its magic) would hand the new export the old export's timelines. Mappings still
     * read by a timeline of an old export stay until it is released.
     */
    private synchronized void forgetFencesOf(final int peer)
    {
        importedFences.entrySet().removeIf(e ->
        {
            if ((int)(e.getKey() >>> 32) != peer)
            {
                return false;
            }
            final ImportedFence f = e.getValue();
            if (f.users > 0)
            {
                staleFences.add(f);
            }
            else
            {
                f.close();
            }
            return true;
        });
    }

    private void dropUnusedFences()
    {
        importedFences.values().removeIf(f ->
        {
            if (f.users > 0)
            {
                return false;
            }
            f.close();
            return true;
        });
    }

    private static long fenceKey(final int vm, final int index)
    {
        return (long)vm << 32 | (index & 0xFFFFFFFFL);
    }

    @Override
    public long fenceRegionOffset(final int index)
    {
        return FencePageDescriptor.SLOT_OFFSET; // page 0 of the buffer's file, for exporter and importer alike
    }

    @Override
    public boolean ringFence(final int peerVm)
    {
        final XenChannel ch = channels.get(peerVm);
        if (ch == null)
        {
            return false;
        }
        ch.header.putIntVolatile(ch.peerDoorbellOffset(), 1);
        try
        {
            evtchn.notify(ch.port);
            return true;
        }
        catch (final NativeIoException e)
        {
            return false;
        }
    }

    @Override
    public void close()
    {
        if (closed)
        {
            return;
        }
        closed = true;
        wakeUp();
        if (receiver != null && receiver != Thread.currentThread())
        {
            try
            {
                receiver.join(5000);
            }
            catch (final InterruptedException e)
            {
                Thread.currentThread().interrupt();
            }
        }
        for (final Integer peer : new ArrayList<>(channels.keySet()))
        {
            final XenChannel ch = channels.remove(peer);
            up.remove(peer);
            ch.close();
        }
        if (xs != null)
        {
            try
            {
                xs.rmIfPresent(0, XenStorePaths.base(domid));
            }
            catch (final IOException e)
            {
                LOG.debug("removing our xenstore nodes: {}", e.getMessage());
            }
            xs.close();
        }
        for (final Buffer b : buffers.values())
        {
            if (b.granted != null)
            {
                b.granted.close();
            }
        }
        buffers.clear();
        importedFences.values().forEach(ImportedFence::close);
        importedFences.clear();
        staleFences.forEach(ImportedFence::close);
        staleFences.clear();
        if (evtchn != null)
        {
            evtchn.close();
        }
        devices.close();
        Native.closeQuietly(wakeFd);
    }

    private static int[] parsePeers(final String peers) throws BackendException
    {
        if (peers == null || peers.isBlank())
        {
            throw new BackendException("EINVAL", "option peers=<domid,...> is required (the domains to meet)");
        }
        try
        {
            return java.util.Arrays.stream(peers.split(",")).map(String::trim).mapToInt(Integer::parseInt).toArray();
        }
        catch (final NumberFormatException e)
        {
            throw new BackendException("EINVAL", "peers=" + peers + " is not a list of domids");
        }
    }

    private static int parseRoles(final String roles) throws BackendException
    {
        int bits = 0;
        for (final String r : roles.split(","))
        {
            switch (r.trim())
            {
                case "sink" -> bits |= 1;
                case "source" -> bits |= 2;
                default -> throw new BackendException("EINVAL", "roles=" + roles + " (sink, source)");
            }
        }
        return bits;
    }

    private static long longOption(final Map<String, String> options, final String key, final long dflt)
        throws BackendException
    {
        final String v = options.get(key);
        if (v == null)
        {
            return dflt;
        }
        try
        {
            final long n = Long.parseLong(v.trim());
            if (n < 0)
            {
                throw new NumberFormatException();
            }
            return n;
        }
        catch (final NumberFormatException e)
        {
            throw new BackendException("EINVAL", key + "=" + v + " is not a non-negative number");
        }
    }
}
