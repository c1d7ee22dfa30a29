package org.hyperdmabuf.hv.kvm;

import org.hyperdmabuf.hv.nativeio.MappedMemory;
import org.hyperdmabuf.hv.shm.PeerSlotDescriptor;
import org.hyperdmabuf.hv.shm.SharedRegion;

import java.io.IOException;

/**
 * How an {@link IvshmemBackend} reaches its region and its peers: the memory, its own peer id, who is there,
 * doorbells and how it is woken. The region format, rings, pools, fences and liveness on top are the same in
 * every mode.
 * <ul>
 *   <li>{@link IvshmemServerTransport} (host mode): a client of an ivshmem server: memfd and eventfds over the
 *   server socket, peers announced by the server, woken by eventfds.</li>
 *   <li>{@link IvshmemPciTransport} (guest mode): the ivshmem PCI device through sysfs: {@code resource2},
 *   IVPosition, the Doorbell register; no announcements (peers are found in the region's peer table);
 *   woken by MSI-X eventfds through vfio-pci where it is usable, otherwise the region is polled.</li>
 *   <li>Other backends' transports for the same device model (ACRN's, in {@code hv-backend-acrn}); those
 *   without notifications extend {@link PollingTransport}.</li>
 * </ul>
 * All methods but {@link #ring} are called by the backend's receive thread or under its lifecycle lock.
 */
public interface IvshmemTransport extends AutoCloseable
{
    /** {@link #await} result bit: a fence doorbell rang (the fence vector's eventfd was readable). */
    int FENCE_RUNG = 1;

    /** Peer announcements of a transport that has them; called on the receive thread. */
    interface Events
    {
        void onPeerGone(int peerId);

        void onTransportLost(String reason);
    }

    /** Where this transport is attached, for logs ({@code server /run/x.sock}, {@code PCI 0000:00:04.0}). */
    String describe();

    /** Our peer id: the id the server gave us, or IVPosition. */
    int ownId();

    /**
     * The peer slot this peer joins as (its peer id in the region), chosen once the region is attached; -1 if there
     * is none for it. By default its own id if that is below the region's slots; the slot's claim word is cleared,
     * since this transport's peers are reached at the slot index (ABI.md "Peer table", Claiming).
     *
     * @param stillNs how long an abandoned slot's heartbeat must stand still before a claimer takes it.
     */
    default int claimSlot(final SharedRegion region, final long session, final long stillNs) throws IOException
    {
        final int id = ownId();
        if (!region.isPeerInRange(id))
        {
            return -1;
        }
        region.peerSlot(id).putLongVolatile(PeerSlotDescriptor.CLAIM_OFFSET, 0);
        return id;
    }

    /** Why {@link #claimSlot} found no slot in a region of {@code maxPeers} slots, and what the user changes. */
    default String noSlot(final int maxPeers)
    {
        return "id " + ownId() + " is beyond the region's " + maxPeers + " peer slots (ids 0-" + (maxPeers - 1) +
            "): give this peer an id below " + maxPeers + ", or format the region with more peer slots (max-peers on " +
            "the daemon that starts first)";
    }

    long regionSize();

    /** Maps {@code [offset, offset + length)} of the region (page-aligned); the caller closes the mapping. */
    MappedMemory map(long offset, long length) throws IOException;

    /** A new fd of the region for a client (O_RDONLY when {@code readOnly}); the caller owns it. */
    int openRegionFd(boolean readOnly) throws IOException;

    /**
     * Why ranges of the region cannot become dma-bufs ({@link #createDmaBuf}), or null when they can. By default
     * the region is not a memfd this process holds.
     */
    default String dmaBufUnavailable()
    {
        return "the region of " + describe() + " is not a memfd (udmabuf needs a sealed memfd)";
    }

    /**
     * A new dma-buf of exactly {@code [offset, offset + length)} named {@code name}, when
     * {@link #dmaBufUnavailable} is null; the caller owns it.
     */
    default int createDmaBuf(final long offset, final long length, final String name) throws IOException
    {
        throw new UnsupportedOperationException(dmaBufUnavailable());
    }

    /** Makes {@code [offset, offset + length)} read as zeros for every peer. */
    void zero(long offset, long length) throws IOException;

    /** Rings {@code vector} of {@code peer}; false if nothing was rung. Any thread. */
    boolean ring(int peer, int vector) throws IOException;

    /**
     * A new fd that rings {@code vector} of {@code peer} when written (an eventfd), for a local client; -1 when
     * this transport rings by other means (a register write). The caller owns the fd.
     */
    default int openDoorbell(final int peer, final int vector) throws IOException
    {
        return -1;
    }

    /**
     * Whether {@link #openDoorbell} hands out fds at all (the server's eventfds); if so, its -1 means the peer
     * lacks that vector.
     */
    default boolean hasDoorbellFds()
    {
        return false;
    }

    /**
     * A new fd of our own {@code vector}'s eventfd, for a local client that waits on it (a wake vector); -1 when
     * this transport has no such fd. The caller owns the fd.
     */
    default int openOwnVector(final int vector) throws IOException
    {
        return -1;
    }

    /** Vectors this transport receives on (eventfds it holds for itself); 0 when it has none. */
    default int ownVectorCount()
    {
        return 0;
    }

    /** Drains our own {@code vector}'s counter (a wake vector between leases). */
    default void drainOwn(final int vector) throws IOException
    {
    }

    /** Whether we can ring peers at all. */
    boolean hasDoorbell();

    /**
     * {@link org.hyperdmabuf.hv.spi.Capabilities#NOTIFY_EVENTFD}, {@code NOTIFY_INTERRUPT} or {@code NOTIFY_POLLING}.
     */
    String notification();

    /** False if the transport knows {@code peer} is not attached (server disconnect); true if it cannot tell. */
    boolean isPeerAttached(int peer);

    /**
     * Waits for something to do, at most {@code maxWaitNs} (0 after a pass that found work): a notification,
     * a server message (handled here, reported through {@link Events}), or the polling back-off. Returns
     * {@link #FENCE_RUNG} or 0.
     */
    int await(boolean busy, long maxWaitNs) throws IOException;

    /**
     * The notification fds (eventfds) a caller may watch instead of calling {@link #await}: index 0 the message
     * vector, 1 the fence vector. Empty for transports without notifications (polling).
     */
    default int[] notificationFds()
    {
        return new int[0];
    }

    /**
     * Consumes the notification of {@code notificationFds()[index]}, known to be readable (one reader only).
     * Returns {@link #FENCE_RUNG} or 0, as {@link #await}.
     */
    default int consume(final int index) throws IOException
    {
        return 0;
    }

    /**
     * How often the receive work runs when nothing wakes it (a pass: the peer table, the rings, the fence bell and
     * the fence tick), for an observer whose liveness timeout is {@code livenessTimeoutNs}. By default every
     * {@link IvshmemBackend#POLL_INTERVAL_MS}: a transport that misses announcements or doorbells needs it.
     */
    default long scanIntervalNs(final long livenessTimeoutNs)
    {
        return ReceivePasses.TICK_NS;
    }

    /** Makes a pending {@link #await} return soon (on close). */
    void wakeUp();

    @Override
    void close();
}
