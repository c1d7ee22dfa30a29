package org.hyperdmabuf.hv.spi;

import org.hyperdmabuf.abi.FenceAbi;
import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.hv.shm.MemoryWindow;

import java.nio.ByteBuffer;
import java.util.List;

/**
 * What a daemon needs from a hypervisor: memory it can share with other VMs, a message channel with a
 * doorbell to each peer VM, and liveness of those peers. One instance per daemon process; it is one
 * endpoint ("VM") on the hypervisor's sharing fabric.
 * <p>
 * Threading: {@link #start} spawns the backend's receive thread, which calls the {@link BackendListener}.
 * All other methods are thread-safe.
 */
public interface HypervisorBackend extends AutoCloseable
{
    /** Backend name as in caps: "kvm-ivshmem", "xen", "acrn". */
    String name();

    Capabilities capabilities();

    /** This endpoint's VM id as authenticated by the transport (ivshmem peer id, Xen domid, ACRN VM id). */
    int localVm();

    /** Random id of this daemon start, published in shared memory; a change means a restart. */
    long sessionId();

    /** Joins the fabric and starts delivering peer events and messages to {@code listener}. */
    void start(BackendListener listener) throws BackendException;

    /** Peers currently reachable (joined, with a live channel). */
    List<PeerInfo> peers();

    /** Allocates at least {@code size} bytes of shareable memory (rounded up to pages); ENOSPC when full. */
    BackendBuffer allocate(long size) throws BackendException;

    /**
     * {@link #allocate(long)} for a buffer whose client declared its export target and access ({@link AllocIntent}).
     * Backends that fix grantee and access when they make the pages (xen) grant by it; the others ignore it.
     */
    default BackendBuffer allocate(final long size, final AllocIntent intent) throws BackendException
    {
        return allocate(size);
    }

    /** Frees an allocation; EINVAL if it is not one of ours. */
    void free(BackendBuffer buffer) throws BackendException;

    /**
     * Makes {@code buffer} accessible to {@code targetVm}; returns the reference the importer needs
     * (sent inside the export message). ENOPEER if the target is not reachable.
     */
    ShareRef share(BackendBuffer buffer, int targetVm, boolean readOnly) throws BackendException;

    /** Withdraws a share; the importer's existing mappings may stay valid (backend-specific, see caps). */
    void unshare(BackendBuffer buffer, ShareRef ref) throws BackendException;

    /** A mapping of a local allocation for the allocating client: a new fd the caller closes after use. */
    ClientMapping mapAllocation(BackendBuffer buffer) throws BackendException;

    /**
     * Validates a reference received from {@code exporterVm} and returns a mapping of it for a local client:
     * a new fd the caller closes after use. EINVAL if the reference does not describe memory of that exporter.
     */
    ClientMapping mapImport(int exporterVm, ShareRef ref, boolean readOnly) throws BackendException;

    /**
     * The check {@link #mapImport} makes, without a mapping: whether {@code ref} from {@code exporterVm} could be
     * imported (EINVAL if not). A source runs it on every announcement, so a backend whose check needs no fd
     * overrides it; by default it maps and closes.
     */
    default void checkImport(final int exporterVm, final ShareRef ref, final boolean readOnly)
        throws BackendException
    {
        org.hyperdmabuf.hv.nativeio.Native.closeQuietly(mapImport(exporterVm, ref, readOnly).fd());
    }

    /**
     * Sends one message to {@code peerVm} and rings its doorbell. Returns false if the channel is full
     * (nothing sent; retry later). ENOPEER if the peer is not reachable.
     */
    boolean send(int peerVm, ByteBuffer message, int offset, int length) throws BackendException;

    /** Largest message {@link #send} accepts. */
    int maxMessageLength();

    /** Bytes of shareable memory still free on the whole fabric region (or this VM's budget). */
    long freeBytes();

    /** Total bytes of shareable memory. */
    long totalBytes();

    // ---- fences (ABI.md "Fence table"): two timelines per export, in memory both VMs map ----

    /** Claims a fence slot with both timelines zeroed; ENOSPC when the table is full, ENOTSUP without fences. */
    default FenceRef allocateFence() throws BackendException
    {
        throw new BackendException(ErrorCode.ENOTSUP, name() + " has no fence slots");
    }

    /**
     * Claims the fence slot for an export of {@code buffer}. Backends whose clients map fences from the buffer's
     * own fd (xen: the slot is a page of the buffer's grant file) need the buffer; the others ignore it.
     */
    default FenceRef allocateFence(final BackendBuffer buffer) throws BackendException
    {
        return allocateFence();
    }

    /** Zeroes and releases a slot from {@link #allocateFence}; EINVAL if it is not one of ours. */
    default void freeFence(final FenceRef fence) throws BackendException
    {
        throw new BackendException(ErrorCode.ENOTSUP, name() + " has no fence slots");
    }

    /**
     * The daemon's own mapping of fence slot {@code index} ({@code FenceSlotDescriptor} offsets), for waits and
     * signals done in the daemon. Valid until {@link #close}. IllegalArgumentException if out of range.
     */
    default MemoryWindow fenceWindow(final int index)
    {
        throw new UnsupportedOperationException(name() + " has no fence slots");
    }

    /**
     * The daemon's mapping of fence slot {@code index} of {@code exporterVm} (after {@link #validateFence} of the
     * same pair accepted it). Backends whose slot indices are per exporter (xen: grant refs) need the VM.
     */
    default MemoryWindow fenceWindow(final int exporterVm, final int index)
    {
        return fenceWindow(index);
    }

    /**
     * The caller no longer reads {@code window}, obtained from {@link #fenceWindow(int, int)} for {@code exporterVm}
     * (the export is gone and no local import or wait uses it). Backends that map each exporter's fence page
     * separately (xen) unmap it after the last user; the others keep their fence table mapped and ignore it.
     */
    default void releaseFenceWindow(final int exporterVm, final MemoryWindow window)
    {
    }

    /**
     * True if {@code index} is a fence slot currently owned by {@code exporterVm} in the session this backend
     * knows it by: the check an importer applies to a slot index received in an export message.
     */
    default boolean validateFence(final int exporterVm, final int index)
    {
        return false;
    }

    /**
     * Rings {@code peerVm}'s fence doorbell (ivshmem vector 1) after a signal a wait blocked in that VM's
     * daemon may need. False if the peer is not connected (nothing rung); doorbells are hints either way.
     */
    default boolean ringFence(final int peerVm)
    {
        return false;
    }

    /**
     * A new fd a local client writes (an eventfd: an 8-byte 1) to ring {@code peerVm}'s fence doorbell itself,
     * without asking this daemon to (FENCE_DOORBELL in ABI.md). The caller owns the fd. ENOTSUP when this
     * backend has no such fd or that peer would not hear it (it polls); ENOPEER when it is not connected.
     */
    default int openFenceDoorbell(final int peerVm) throws BackendException
    {
        throw new BackendException(ErrorCode.ENOTSUP, name() + " cannot hand out fence doorbells: use FENCE_SIGNAL");
    }

    /**
     * As {@link #openFenceDoorbell(int)} for doorbell {@code vector} of {@code peerVm}: 0 or 1 is the fence
     * doorbell, from {@link org.hyperdmabuf.hv.shm.FenceSlotDescriptor#FenceAbi.FIRST_WAKE_VECTOR} up a wake vector
     * (EINVAL when that VM has no such vector).
     */
    default int openFenceDoorbell(final int peerVm, final int vector) throws BackendException
    {
        if (vector <= 1)
        {
            return openFenceDoorbell(peerVm);
        }
        throw new BackendException(ErrorCode.ENOTSUP, name() + " has no wake vectors: use FENCE_SIGNAL");
    }

    /**
     * Rings {@code peerVm}'s fence doorbell and each of its wake vectors named in {@code wakeMask} (a timeline's
     * wake word, written by that VM: vectors it does not have are skipped).
     */
    default boolean ringFence(final int peerVm, final int wakeMask)
    {
        return ringFence(peerVm);
    }

    /** One of this VM's wake vectors, leased to a local client: its number and a new fd (the caller owns it). */
    record FenceWake(int vector, int fd)
    {
    }

    /**
     * Leases a free wake vector of this VM (FENCE_WAKE in ABI.md) until {@link #returnFenceWake}: the fd is
     * an eventfd the peers' signallers ring. EBUSY when all are leased, ENOTSUP when this backend has none.
     */
    default FenceWake leaseFenceWake() throws BackendException
    {
        throw new BackendException(ErrorCode.ENOTSUP, name() + " has no wake vectors: use FENCE_WAIT");
    }

    /** Ends the lease of {@code vector}; a stale count left on it is drained first. */
    default void returnFenceWake(final int vector)
    {
    }

    /** Rings this VM's own wake vectors named in {@code wakeMask} (this daemon closed their timeline). */
    default void wakeLocal(final int wakeMask)
    {
    }

    /** Region offset of fence slot {@code index}, for clients that map it. IllegalArgumentException if out of range. */
    default long fenceRegionOffset(final int index)
    {
        throw new UnsupportedOperationException(name() + " has no fence slots");
    }

    /**
     * Zeroes and releases the shared memory (pool pages and fence slots) still held by the dead or restarted
     * session {@code sessionId} of {@code vm}; memory of any other session, a newer one of the same VM
     * included, is untouched. Call it only when no local consumer maps that memory any more. Returns the
     * number of pages plus slots freed. EBUSY if that session is up; EINVAL for our own session.
     */
    default long reclaimPeerMemory(final int vm, final long sessionId) throws BackendException
    {
        return 0;
    }

    @Override
    void close();
}
