package org.hyperdmabuf.hv.spi;

import java.nio.ByteBuffer;
import java.util.List;
import java.util.Optional;

/**
 * What a daemon needs from a hypervisor: memory it can share with other VMs, a message channel with a
 * doorbell to each peer VM, and liveness of those peers. One instance per daemon process; it is one
 * endpoint ("VM") on the hypervisor's sharing fabric. What not every backend has (fences, direct wake-ups,
 * reclaim, a receiver the daemon's loop drives) are {@link BackendCapability capabilities}: see
 * {@link #capability(Class)}.
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

    /** What bounds {@link Capabilities#maxBufferSize()} and how to raise it, for the error a larger ALLOC gets. */
    default String maxBufferSizeBound()
    {
        return "the shared pool";
    }

    /**
     * This backend as the optional part {@code type} ({@link FenceSlots}, {@link PeerFenceDoorbells},
     * {@link DirectFenceWakeups}, {@link PeerMemoryReclaim}, {@link LoopDrivenReceiver}), or empty if it has none.
     * A backend has a capability by implementing its interface; one that delegates to another object overrides this.
     */
    default <T extends BackendCapability> Optional<T> capability(final Class<T> type)
    {
        return type.isInstance(this) ? Optional.of(type.cast(this)) : Optional.empty();
    }

    @Override
    void close();
}
