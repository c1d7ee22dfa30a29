package org.hyperdmabuf.hv.xen;

import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.hv.nativeio.EventFd;
import org.hyperdmabuf.hv.nativeio.Native;
import org.hyperdmabuf.hv.nativeio.NativeIoException;
import org.hyperdmabuf.hv.nativeio.Poller;
import org.hyperdmabuf.hv.shm.MemoryWindow;
import org.hyperdmabuf.hv.shm.RecordDescriptor;
import org.hyperdmabuf.hv.shm.RingDescriptor;
import org.hyperdmabuf.hv.shm.ShmCorruptionException;
import org.hyperdmabuf.hv.spi.AllocIntent;
import org.hyperdmabuf.hv.spi.BackendBuffer;
import org.hyperdmabuf.hv.spi.BackendCapability;
import org.hyperdmabuf.hv.spi.BackendException;
import org.hyperdmabuf.hv.spi.BackendListener;
import org.hyperdmabuf.hv.spi.Capabilities;
import org.hyperdmabuf.hv.spi.ClientMapping;
import org.hyperdmabuf.hv.spi.DmaBufExports;
import org.hyperdmabuf.hv.spi.ErrorCodes;
import org.hyperdmabuf.hv.spi.FenceRef;
import org.hyperdmabuf.hv.spi.FenceSlots;
import org.hyperdmabuf.hv.spi.HypervisorBackend;
import org.hyperdmabuf.hv.spi.PeerFenceDoorbells;
import org.hyperdmabuf.hv.spi.PeerInfo;
import org.hyperdmabuf.hv.spi.PeerLiveness;
import org.hyperdmabuf.hv.spi.ShareRef;
import org.hyperdmabuf.hv.xen.abi.FencePageDescriptor;
import org.hyperdmabuf.hv.xen.abi.XenLimits;
import org.hyperdmabuf.hv.xen.dev.EventChannelDevice;
import org.hyperdmabuf.hv.xen.dev.XenDevices;
import org.hyperdmabuf.hv.xen.grant.ImportedBuffer;
import org.hyperdmabuf.hv.xen.store.XenStoreClient;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
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
 * finds its own session there publishes a new one and pairs again ({@link XenPeers}, ABI.md "Resync").
 * <p>
 * Options: {@code domid} (required), {@code peers} (comma-separated domids to meet, required), {@code emulator}
 * (socket of the EMULATED hypervisor; without it the real /dev/xen devices), {@code xenstore} (xenstored socket;
 * default as libxenstore: $XENSTORED_PATH, the default socket, then /dev/xen/xenbus), {@code roles},
 * {@code heartbeat-ms} (100), {@code liveness-timeout-ms} (1500), {@code ring-capacity} (65536),
 * {@code gntalloc-limit} (pages this domain's gntalloc may hold, 1024 as the driver), {@code grantee},
 * {@code alloc-access}. Fences: one slot per buffer in the fence page of its grant file
 * ({@link #allocateFence(BackendBuffer)}); fence doorbells; no doorbell fds nor wake vectors for clients, and no
 * reclaim (each domain grants its own memory: nothing of a dead peer lives in ours).
 * <p>
 * The parts: {@link XenConfig} (options), {@link XenPeers} (rendezvous, channels, heartbeats with
 * {@link org.hyperdmabuf.hv.spi.PeerLiveness}, resync), {@link XenBuffers} (grants and own fence pages),
 * {@link ImportedFences} (other domains' fence pages); this class runs the receive thread.
 */
public final class XenBackend implements HypervisorBackend, FenceSlots, PeerFenceDoorbells
{
    public static final String NAME = "xen";
    private static final Logger LOG = LoggerFactory.getLogger(XenBackend.class);
    private static final int POLL_MS = XenConfig.POLL_MS;
    /** Why an importer gets no dma-buf of a grant (gntdev could make one, but not on the kernels we meet). */
    static final String NO_DMA_BUF = "the xen backend makes no dma-buf of a grant (gntdev's " +
        "IOCTL_GNTDEV_DMABUF_EXP_FROM_REFS needs a kernel with CONFIG_XEN_GNTDEV_DMABUF, which Debian 12's lacks)";

    private final XenConfig config;
    private final int domid;
    private final XenDevices devices;
    private final long initialSession;
    private final PeerLiveness liveness;
    private final XenBuffers buffers;
    private final ImportedFences importedFences;
    private final EventFd wake = new EventFd();
    private final int wakeFd;
    private final AtomicBoolean rescan = new AtomicBoolean(true);
    private volatile XenPeers peers;
    private XenStoreClient xs;
    private EventChannelDevice evtchn;
    private Thread receiver;
    private volatile boolean closed;

    public XenBackend(final Map<String, String> options, final XenDevices devices) throws BackendException
    {
        this.config = XenConfig.parse(options);
        this.devices = devices;
        this.domid = devices.localDomid();
        this.liveness = new PeerLiveness("dom" + domid, config.heartbeatNs, config.livenessNs);
        this.buffers = new XenBuffers(devices, config);
        this.importedFences = new ImportedFences(devices);
        this.initialSession = PeerLiveness.newSessionId();
        try
        {
            this.wakeFd = EventFd.create();
        }
        catch (final NativeIoException e)
        {
            throw new BackendException(ErrorCodes.of(e), e.getMessage(), e);
        }
    }

    @Override
    public String name()
    {
        return NAME;
    }

    @Override
    public Capabilities capabilities()
    {
        return new Capabilities(NAME, domid, XenLimits.PAGE_SIZE, buffers.maxBufferPages() * XenLimits.PAGE_SIZE,
            "hypervisor", "per-buffer", true, true);
    }

    @Override
    public int localVm()
    {
        return domid;
    }

    /** No dma-buf of a buffer here: {@link #NO_DMA_BUF} says why (caps, and the ENOTSUP of a request). */
    @Override
    public <T extends BackendCapability> Optional<T> capability(final Class<T> type)
    {
        if (type == DmaBufExports.class)
        {
            return Optional.of(type.cast(new DmaBufExports.Unavailable(NO_DMA_BUF)));
        }
        return HypervisorBackend.super.capability(type);
    }

    @Override
    public long sessionId()
    {
        final XenPeers p = peers;
        return p == null ? initialSession : p.session();
    }

    @Override
    public void start(final BackendListener listener) throws BackendException
    {
        final int[] peerIds = config.peerIds;
        try
        {
            xs = devices.openXenStore(config.xenstorePath, (path, token) ->
            {
                rescan.set(true);
                wakeUp();
            });
            evtchn = devices.openEventChannel();
            final XenOwnNodes own = new XenOwnNodes(xs, domid, peerIds, config.roles, ownName());
            peers = new XenPeers(new XenPeers.Parts(domid, config, devices, xs, evtchn, listener, liveness,
                importedFences, own), initialSession);
            own.publish(initialSession);
            for (final int p : peerIds)
            {
                xs.watch(XenStorePaths.base(p), "peer-" + p);
            }
            xs.watch("@releaseDomain", "release");
        }
        catch (final IOException e)
        {
            close();
            throw new BackendException(ErrorCode.EIO, "xen backend start: " + e.getMessage(), e);
        }
        LOG.info("{} backend: dom{} session {} peers {} ring {} B, heartbeat {} ms, liveness {} ms", NAME, domid,
            Long.toHexString(initialSession), Arrays.toString(peerIds), config.ringCapacity,
            config.heartbeatNs / 1_000_000, config.livenessNs / 1_000_000);
        receiver = new Thread(() -> receiveLoop(listener), "xen-receive-dom" + domid);
        receiver.setDaemon(true);
        receiver.start();
    }

    /** This domain's toolstack name, or null where the toolstack wrote none or keeps it from us. */
    private String ownName()
    {
        try
        {
            return xs.readOrNull(0, XenStorePaths.toolstackName(domid));
        }
        catch (final IOException e)
        {
            LOG.info("dom{}: no toolstack name to publish ({})", domid, e.getMessage());
            return null;
        }
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

    private void receiveLoop(final BackendListener listener)
    {
        final Poller poller = new Poller();
        final int[] ports = new int[256];
        long nextRescan = 0;
        long nextTick = System.nanoTime();
        liveness.startBeating(System.nanoTime() - config.heartbeatNs); // the first beat at once
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
                if (rescan.getAndSet(false) || now - nextRescan > 0)
                {
                    nextRescan = now + config.livenessNs / 2;
                    for (final int p : config.peerIds)
                    {
                        peers.rendezvous(p);
                    }
                }
                final long beat = liveness.beatIfDue(now);
                if (beat != 0)
                {
                    peers.beat(beat);
                }
                // Time in which this loop did not run is not counted against the peers (ABI.md "Liveness"): a
                // stall of the whole host stalled them too.
                final long gap = liveness.discountStall(now);
                if (gap > 0)
                {
                    LOG.info("dom{}: not run for {} ms; that time is not counted against the peers' heartbeats",
                        domid, gap / 1_000_000);
                }
                if (peers.resyncIfDropped(now))
                {
                    rescan.set(true);
                }
                if (peers.scan(now))
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
                    // The event channel device failed: without it nothing arrives. Every peer is lost to us; but
                    // the fault is ours, so the peers are not told we dropped them (they would restart their
                    // sessions with everyone): our heartbeat stops, or our domain's release tells them.
                    LOG.error("dom{}: event channel device failed ({}); all peers are down", domid, e.getMessage());
                    peers.downAll("gone", false);
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

    @Override
    public List<PeerInfo> peers()
    {
        final XenPeers p = peers;
        return p == null ? new ArrayList<>() : new ArrayList<>(p.upPeers());
    }

    // ---- buffers ----

    @Override
    public BackendBuffer allocate(final long size) throws BackendException
    {
        return allocate(size, AllocIntent.NONE);
    }

    @Override
    public BackendBuffer allocate(final long size, final AllocIntent intent) throws BackendException
    {
        return buffers.allocate(size, intent);
    }

    @Override
    public void free(final BackendBuffer buffer) throws BackendException
    {
        buffers.free(buffer);
    }

    @Override
    public ShareRef share(final BackendBuffer buffer, final int targetVm, final boolean readOnly)
        throws BackendException
    {
        final XenPeers p = peers;
        if (p == null || !p.isUp(targetVm))
        {
            throw new BackendException(ErrorCode.ENOPEER, "dom" + targetVm + " is not reachable");
        }
        return buffers.share(buffer, targetVm, readOnly);
    }

    @Override
    public void unshare(final BackendBuffer buffer, final ShareRef ref) throws BackendException
    {
        buffers.unshare(buffer, ref);
    }

    @Override
    public ClientMapping mapAllocation(final BackendBuffer buffer) throws BackendException
    {
        final XenPeers p = peers;
        return buffers.mapAllocation(buffer, p == null ? List.of() : p.upPeers());
    }

    @Override
    public ClientMapping mapImport(final int exporterVm, final ShareRef ref, final boolean readOnly)
        throws BackendException
    {
        if (ref.offset() < XenLimits.FIRST_USABLE_GRANT_REF || ref.offset() > 0xFFFFFFFFL || ref.length() <= 0)
        {
            throw new BackendException(ErrorCode.EINVAL, "not a Xen share reference: " + ref);
        }
        try (ImportedBuffer imported = ImportedBuffer.map(devices, exporterVm, (int)ref.offset(), ref.length()))
        {
            // The client's dup keeps the gntdev file (and its map) open after ours closes.
            final int fd = Native.check(Native.libc().dup(imported.fd()), "dup");
            return new ClientMapping(fd, imported.index(), imported.length(), readOnly);
        }
        catch (final NativeIoException e)
        {
            throw new BackendException(ErrorCodes.of(e), "import from dom" + exporterVm + ": " + e.getMessage(), e);
        }
    }

    // ---- messages ----

    @Override
    public boolean send(final int peerVm, final ByteBuffer message, final int offset, final int length)
        throws BackendException
    {
        final XenPeers p = peers;
        if (p == null)
        {
            throw new BackendException(ErrorCode.ENOPEER, "dom" + peerVm + " is not reachable");
        }
        synchronized (p.sendLock)
        {
            final XenChannel ch = p.channel(peerVm);
            if (ch == null || !p.isUp(peerVm))
            {
                throw new BackendException(ErrorCode.ENOPEER, "dom" + peerVm + " is not reachable");
            }
            if (length > maxMessageLength())
            {
                throw new BackendException(ErrorCode.EINVAL, "message of " + length + " bytes; max " +
                    maxMessageLength());
            }
            try
            {
                if (!ch.writer.offer(XenPeers.MESSAGE_TYPE, message, offset, length))
                {
                    return false;
                }
                evtchn.notify(ch.port);
                return true;
            }
            catch (final ShmCorruptionException e)
            {
                throw new BackendException(ErrorCode.EIO, "dom" + peerVm + " corrupted the channel: " +
                    e.getMessage());
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
        return RingDescriptor.maxRecordLength(config.ringCapacity) - RecordDescriptor.HEADER_LENGTH;
    }

    @Override
    public long freeBytes()
    {
        return buffers.freeBytes();
    }

    @Override
    public long totalBytes()
    {
        return config.limitPages * XenLimits.PAGE_SIZE;
    }

    @Override
    public String maxBufferSizeBound()
    {
        return "the gntalloc limit of " + config.limitPages + " pages, channel pages included: " +
            XenBuffers.RAISE_LIMIT;
    }

    // ---- fences: one slot per buffer, in the fence page of the buffer's own grant file ----

    @Override
    public FenceRef allocateFence(final BackendBuffer buffer) throws BackendException
    {
        return buffers.allocateFence(buffer);
    }

    @Override
    public FenceRef allocateFence() throws BackendException
    {
        throw new BackendException(ErrorCode.ENOTSUP, "xen fences live in a buffer's grant file: " +
            "allocateFence(buffer)");
    }

    @Override
    public void freeFence(final FenceRef fence) throws BackendException
    {
        buffers.freeFence(fence);
    }

    @Override
    public MemoryWindow fenceWindow(final int index)
    {
        return buffers.fenceWindow(index, domid);
    }

    @Override
    public MemoryWindow fenceWindow(final int exporterVm, final int index)
    {
        return exporterVm == domid ? fenceWindow(index) : importedFences.window(exporterVm, index);
    }

    @Override
    public void releaseFenceWindow(final int exporterVm, final MemoryWindow window)
    {
        if (exporterVm != domid) // our own fence pages live as long as their buffers
        {
            importedFences.release(exporterVm, window);
        }
    }

    /** Fence pages of other domains this backend maps now (live and replaced ones). */
    public int importedFencePages()
    {
        return importedFences.count();
    }

    @Override
    public boolean validateFence(final int exporterVm, final int index)
    {
        if (exporterVm == domid)
        {
            return buffers.isLiveFence(index);
        }
        final XenPeers p = peers;
        return p != null && p.isUp(exporterVm) && importedFences.validate(exporterVm, index);
    }

    @Override
    public long fenceRegionOffset(final int index)
    {
        return FencePageDescriptor.SLOT_OFFSET; // page 0 of the buffer's file, for exporter and importer alike
    }

    @Override
    public boolean ringFence(final int peerVm)
    {
        final XenPeers p = peers;
        final XenChannel ch = p == null ? null : p.channel(peerVm);
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
        if (peers != null)
        {
            peers.closeAll();
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
        buffers.close();
        importedFences.close();
        if (evtchn != null)
        {
            evtchn.close();
        }
        devices.close();
        Native.closeQuietly(wakeFd);
    }
}
