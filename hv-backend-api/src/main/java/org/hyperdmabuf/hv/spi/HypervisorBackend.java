package org.hyperdmabuf.hv.spi;

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

    @Override
    void close();
}
