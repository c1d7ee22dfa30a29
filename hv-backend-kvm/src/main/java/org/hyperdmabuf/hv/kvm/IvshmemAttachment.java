package org.hyperdmabuf.hv.kvm;

import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.hv.nativeio.MappedMemory;
import org.hyperdmabuf.hv.nativeio.Native;
import org.hyperdmabuf.hv.pci.PciDeviceException;
import org.hyperdmabuf.hv.shm.MemoryWindow;
import org.hyperdmabuf.hv.shm.PeerSlotDescriptor;
import org.hyperdmabuf.hv.shm.RegionLayout;
import org.hyperdmabuf.hv.shm.SharedRegion;
import org.hyperdmabuf.hv.shm.ShmCorruptionException;
import org.hyperdmabuf.hv.spi.BackendException;
import org.hyperdmabuf.hv.spi.BackendListener;
import org.hyperdmabuf.hv.spi.PeerLiveness;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.locks.LockSupport;

/**
 * One backend's attachment to its region, from joining to release: the transport, the mappings, our slot, the
 * parts built on them ({@link RingChannels}, {@link RegionMemory}, {@link FenceDoorbells}, {@link PeerTracker},
 * {@link ReceivePasses}) and our thread. Released once no operation or pass is inside ({@link LifecycleGuard});
 * a close from a listener callback releases when the pass unwinds. The parts are set by {@link #start} and read
 * by {@link IvshmemBackend} while it is started.
 */
final class IvshmemAttachment
{
    private static final Logger LOG = LoggerFactory.getLogger(IvshmemAttachment.class);
    private static final int PAGE_SIZE = 4096;
    private static final long JOIN_TIMEOUT_MS = 5000;

    private final IvshmemConfig config;
    private final String name;
    /** Our session until the tracker exists (it owns the session from then on, resyncs included). */
    private final long initialSession;
    private final PeerLiveness liveness;
    private final List<MappedMemory> mappings = new ArrayList<>();
    final LifecycleGuard guard;
    IvshmemTransport transport;
    SharedRegion region;
    RegionLayout layout;
    MemoryWindow[] slots;
    RegionMemory memory;
    RingChannels rings;
    FenceDoorbells doorbells;
    volatile PeerTracker tracker;
    volatile ReceivePasses passes;
    /** The daemon's loop drives the receive work ({@link org.hyperdmabuf.hv.spi.LoopDrivenReceiver}). */
    volatile boolean driven;
    /** The longest time between two receive passes ({@link IvshmemTransport#scanIntervalNs}). */
    volatile long scanNs = ReceivePasses.TICK_NS;
    volatile int localVm = -1;
    private BackendListener listener;
    private Thread receiver;
    private boolean joined;
    private volatile boolean releaseOnExit;

    IvshmemAttachment(final IvshmemConfig config)
    {
        this.config = config;
        this.name = config.name;
        this.guard = new LifecycleGuard(name);
        this.liveness = new PeerLiveness(name, config.heartbeatNs, config.livenessTimeoutNs);
        this.initialSession = PeerLiveness.newSessionId();
    }

    long session()
    {
        final PeerTracker t = tracker;
        return t == null ? initialSession : t.session();
    }

    /** Joins the region and starts our thread; on failure releases what it took. */
    synchronized void start(final BackendListener listener, final boolean driveFromLoop) throws BackendException
    {
        if (guard.started() || guard.closed())
        {
            throw new IllegalStateException(name + " backend already started or closed");
        }
        this.listener = listener;
        try
        {
            join(driveFromLoop);
        }
        catch (final BackendException e)
        {
            releaseResources();
            throw e;
        }
        catch (final PciDeviceException e)
        {
            releaseResources();
            throw new BackendException(e.code(), name + ": " + e.getMessage(), e);
        }
        catch (final IvshmemProtocolException | ShmCorruptionException e)
        {
            releaseResources();
            throw new BackendException(ErrorCode.EPROTO, name + ": " + e.getMessage(), e);
        }
        catch (final IllegalArgumentException e)
        {
            releaseResources();
            throw new BackendException(ErrorCode.EINVAL, name + ": " + e.getMessage(), e);
        }
        catch (final IOException e)
        {
            releaseResources();
            throw new BackendException(ErrorCode.EIO, name + ": cannot join " + config.attachment + ": " +
                e.getMessage(), e);
        }
    }

    /** Formats or attaches to the region, takes our slot, attaches the rings and starts our thread. */
    private void join(final boolean driveFromLoop) throws IOException, BackendException, ShmCorruptionException
    {
        final long session = initialSession;
        transport = config.transport.open(new TransportEvents());
        region = SharedRegion.formatOrAttach(transport.regionSize(), this::map,
            new SharedRegion.FormatParams(PAGE_SIZE, config.maxPeers, config.ringCapacity, config.fenceSlots),
            session, config.connectTimeoutMs);
        layout = region.layout();
        // Our peer id is our slot: the transport's id, or a free slot a peer with an id beyond them claims.
        final int id = transport.claimSlot(region, session, config.livenessTimeoutNs);
        if (id < 0)
        {
            throw new BackendException(ErrorCode.EINVAL, name + ": " + transport.describe() + ": " +
                transport.noSlot(layout.maxPeers()));
        }
        slots = new MemoryWindow[layout.maxPeers()];
        for (int j = 0; j < slots.length; j++)
        {
            slots[j] = region.peerSlot(j);
        }
        rings = new RingChannels(name, region, transport, listener, id, session);
        memory = new RegionMemory(region, transport, id, session);
        doorbells = new FenceDoorbells(transport, slots, id, vm -> rings.channel(vm) != null);
        // A transport with eventfds waits on the fence vector: a doorbell alone wakes us (clients of our
        // peers may ring it directly), and a daemon loop can watch them; one without polls the fence bell.
        final boolean eventfds = transport.notificationFds().length > 0;
        final int notify = eventfds ? PeerSlotDescriptor.NOTIFY_DOORBELL : PeerSlotDescriptor.NOTIFY_POLLS;
        scanNs = transport.scanIntervalNs(config.livenessTimeoutNs);
        tracker = new PeerTracker(new PeerTracker.Parts(name, region, transport, slots, id, config.roles, notify,
            rings, memory, liveness, new DisconnectNotices(RegionLayout.MAX_PEERS_LIMIT, config.livenessTimeoutNs,
            scanNs), listener), session);
        region.join(id, session, config.roles, Native.libc().getpid(), notify);
        joined = true;
        localVm = id;
        guard.started(true);
        driven = driveFromLoop && eventfds;
        final ReceivePasses p = new ReceivePasses(name, transport, slots, id, liveness, tracker, rings, listener,
            driven, scanNs);
        passes = p;
        // Driven or not, a thread of ours beats: the heartbeat says the daemon lives, and must not stop
        // while its loop is busy (a stalled loop is slow, not dead: its peers must not close its timelines).
        receiver = new Thread(driven ? () -> p.heartbeatLoop(config.heartbeatNs) : () ->
        {
            p.receiveLoop();
            if (releaseOnExit)
            {
                releaseResources();
            }
        }, (driven ? "ivshmem-heartbeat-" : "ivshmem-backend-") + id);
        receiver.setDaemon(true);
        receiver.start();
        LOG.info("{} peer {} session {} on {}: {} bytes, {} pool bytes, {} peer slots, {} fence slots, " +
            "heartbeat {} ms, liveness timeout {} ms, scan every {} ms, notification {} ({}), {}formatted by us",
            name, id, Long.toHexString(session), transport.describe(), layout.regionSize(), layout.poolBytes(),
            layout.maxPeers(), layout.fenceSlots(), config.heartbeatNs / 1_000_000L,
            config.livenessTimeoutNs / 1_000_000L, scanNs / 1_000_000L, transport.notification(),
            driven ? "received on the daemon's loop" : "receive thread", region.formattedByUs() ? "" : "not ");
    }

    void close()
    {
        final Thread t;
        synchronized (this)
        {
            if (!guard.close())
            {
                return;
            }
            if (passes != null)
            {
                passes.stop();
            }
            t = receiver;
            if (joined)
            {
                region.leave(localVm);
            }
        }
        if ((t != null && t == Thread.currentThread()) || guard.heldByCaller())
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
        guard.release(() ->
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
        });
    }

    /** A pass on the driving thread; {@code index} < 0: poll the transport first (server messages too). */
    boolean drivenPass(final int index)
    {
        boolean more = false;
        try
        {
            // Under the guard's read lock: the region is unmapped under its write lock, never during a pass.
            more = driven && guard.readLocked(() -> passes.running() && passes.drivenPass(index));
        }
        catch (final IOException | RuntimeException e)
        {
            LOG.error("{} receive pass error", name, e);
        }
        if (releaseOnExit)
        {
            releaseOnExit = false; // closed by a listener callback during this pass
            stopThenRelease(receiver);
        }
        return more;
    }

    private MemoryWindow map(final long offset, final long length) throws IOException
    {
        final MappedMemory m = transport.map(offset, length);
        mappings.add(m);
        return new MemoryWindow(m.buffer());
    }

    /** Server announcements arrive on the receive thread (or the starting thread, before any channel exists). */
    private final class TransportEvents implements IvshmemTransport.Events
    {
        @Override
        public void onPeerGone(final int peerId)
        {
            final PeerTracker t = tracker;
            final ReceivePasses p = passes;
            if (t != null && p != null && peerId < slots.length && p.onPassThread())
            {
                t.noticeGone(peerId);
            }
        }

        @Override
        public void onTransportLost(final String reason)
        {
            LOG.warn("{} peer {}: {}; existing peers keep working", name, localVm, reason);
        }
    }
}
