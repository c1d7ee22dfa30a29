package org.hyperdmabuf.hv.inmemory;

import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.hv.nativeio.MappedMemory;
import org.hyperdmabuf.hv.nativeio.MemFd;
import org.hyperdmabuf.hv.nativeio.Native;
import org.hyperdmabuf.hv.nativeio.NativeIoException;
import org.hyperdmabuf.hv.shm.FenceSlotDescriptor;
import org.hyperdmabuf.hv.shm.MemoryWindow;
import org.hyperdmabuf.hv.spi.BackendBuffer;
import org.hyperdmabuf.hv.spi.BackendException;
import org.hyperdmabuf.hv.spi.PeerInfo;
import org.hyperdmabuf.hv.spi.ShareRef;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * An emulation of a hypervisor's sharing fabric inside one JVM, for fast in-process tests of the daemons: every
 * {@link InMemoryBackend} made here is one endpoint ("VM"). Nothing of a hypervisor is involved and nothing is a
 * security boundary; what is real is what the daemons and their clients touch:
 * <ul>
 *   <li>memory: one memfd holds the page pool and the fence table, so the fds handed to clients are real and
 *       mappable, writes are seen across "VMs" without a copy, and a read-only import's fd cannot be mapped
 *       writable. Like an ivshmem region it is a shared region: the fabric keeps who owns which pages and fence
 *       slots per VM session (privately, not in a page table), and a VM that dies frees nothing until a survivor
 *       reclaims it;</li>
 *   <li>messages: a bounded channel per sender and receiver, delivered in order on the receiver's own thread
 *       through the {@link org.hyperdmabuf.hv.spi.BackendListener} callbacks the real backends use, with peer
 *       up/down, fence doorbells and fence ticks on the same thread.</li>
 * </ul>
 * A test triggers peer loss with {@link #kill} (the VM's heartbeat stops: its peers see it down with reason
 * "timeout") or {@link InMemoryBackend#close} (it leaves: "gone"), and a restart by making a backend with the
 * same VM id. {@code InMemoryBackendConformanceTest} holds it to the backend conformance kit.
 */
public final class InMemoryFabric implements AutoCloseable
{
    public static final int PAGE_SIZE = 4096;
    /** Role bits a backend announces ({@link PeerInfo#roles()}). */
    public static final int ROLE_SINK = 1;
    public static final int ROLE_SOURCE = 2;

    private final int pages;
    private final int fenceSlots;
    private final long fenceBase;
    private final int regionFd;
    private final MappedMemory fenceTable;
    private final MemoryWindow fenceWindow;
    /** Allocations by region offset; {@code pageOwner} maps each page to the one holding it. */
    private final Map<Long, Claim> claims = new TreeMap<>();
    private final Claim[] pageOwner;
    private final Owner[] fenceOwner;
    private final Map<Integer, InMemoryBackend> joined = new TreeMap<>();
    private int freePages;
    private int nextVm = 1;
    private boolean closed;

    /** The VM session something belongs to. */
    record Owner(int vm, long session)
    {
    }

    private record Claim(Owner owner, long offset, long length)
    {
    }

    /** A fabric of 16 MiB of pages and 256 fence slots. */
    public InMemoryFabric() throws BackendException
    {
        this(16 << 20, 256);
    }

    public InMemoryFabric(final long poolBytes, final int fenceSlots) throws BackendException
    {
        if (poolBytes < PAGE_SIZE || poolBytes % PAGE_SIZE != 0 || fenceSlots < 1)
        {
            throw error(ErrorCode.EINVAL, "pool of whole pages and at least one fence slot: " + poolBytes + ", " + fenceSlots);
        }
        this.pages = (int)(poolBytes / PAGE_SIZE);
        this.fenceSlots = fenceSlots;
        this.fenceBase = poolBytes;
        this.pageOwner = new Claim[pages];
        this.fenceOwner = new Owner[fenceSlots];
        this.freePages = pages;
        final long tableBytes = roundToPage((long)fenceSlots * FenceSlotDescriptor.SLOT_LENGTH);
        try
        {
            this.regionFd = MemFd.create("hdmabuf-in-memory-fabric", fenceBase + tableBytes);
            try
            {
                this.fenceTable = MappedMemory.map(regionFd, fenceBase, tableBytes, false);
            }
            catch (final NativeIoException e)
            {
                Native.closeQuietly(regionFd);
                throw e;
            }
        }
        catch (final NativeIoException e)
        {
            throw error(ErrorCode.EIO, "cannot create the fabric's memory: " + e.getMessage());
        }
        this.fenceWindow = new MemoryWindow(fenceTable.buffer());
    }

    /** A new, unstarted endpoint with the next free VM id, announcing {@code roles} ({@link #ROLE_SINK}...). */
    public synchronized InMemoryBackend backend(final int roles)
    {
        while (joined.containsKey(nextVm))
        {
            nextVm++;
        }
        return new InMemoryBackend(this, nextVm++, roles);
    }

    /** A new, unstarted endpoint for VM {@code vm}: a restart of that VM once its previous endpoint is gone. */
    public synchronized InMemoryBackend backend(final int vm, final int roles)
    {
        nextVm = Math.max(nextVm, vm + 1);
        return new InMemoryBackend(this, vm, roles);
    }

    /**
     * VM {@code vm} dies without a word, as when its heartbeat stops: every peer sees it down with reason "timeout",
     * its endpoint delivers and sends nothing any more, and its memory stays claimed. False if it was not joined.
     */
    public boolean kill(final int vm)
    {
        final InMemoryBackend b;
        synchronized (this)
        {
            b = joined.get(vm);
        }
        if (b == null)
        {
            return false;
        }
        b.die("timeout");
        return true;
    }

    /** The VMs currently joined. */
    public synchronized List<Integer> vms()
    {
        return new ArrayList<>(joined.keySet());
    }

    // ---- membership ----

    synchronized void join(final InMemoryBackend b) throws BackendException
    {
        if (closed)
        {
            throw error(ErrorCode.EIO, "the fabric is closed");
        }
        if (joined.containsKey(b.localVm()))
        {
            throw error(ErrorCode.EBUSY, "VM " + b.localVm() + " is already on the fabric");
        }
        for (final InMemoryBackend other : joined.values())
        {
            other.inbox().peerUp(b.info());
            b.inbox().peerUp(other.info());
        }
        joined.put(b.localVm(), b);
    }

    /** {@code b} leaves (if it had joined); its peers see it down for {@code reason}. */
    synchronized void leave(final InMemoryBackend b, final String reason)
    {
        if (joined.get(b.localVm()) != b)
        {
            return;
        }
        joined.remove(b.localVm());
        for (final InMemoryBackend other : joined.values())
        {
            other.inbox().peerDown(b.localVm(), b.sessionId(), reason);
        }
    }

    synchronized InMemoryBackend joined(final int vm)
    {
        return joined.get(vm);
    }

    synchronized List<PeerInfo> peersOf(final int vm)
    {
        final List<PeerInfo> peers = new ArrayList<>();
        for (final InMemoryBackend b : joined.values())
        {
            if (b.localVm() != vm)
            {
                peers.add(b.info());
            }
        }
        return peers;
    }

    /** The session {@code observer} knows {@code vm} by: its own, a joined peer's, or none (0). */
    private long knownSession(final InMemoryBackend observer, final int vm)
    {
        if (vm == observer.localVm())
        {
            return observer.sessionId();
        }
        final InMemoryBackend b = joined.get(vm);
        return b == null ? 0 : b.sessionId();
    }

    // ---- pages ----

    long totalBytes()
    {
        return (long)pages * PAGE_SIZE;
    }

    synchronized long freeBytes()
    {
        return (long)freePages * PAGE_SIZE;
    }

    synchronized BackendBuffer allocate(final Owner owner, final long size) throws BackendException
    {
        if (size <= 0)
        {
            throw error(ErrorCode.EINVAL, "allocation size must be positive: " + size);
        }
        final long wanted = roundToPage(size) / PAGE_SIZE;
        int run = 0;
        for (int p = 0; p < pages && wanted <= pages; p++)
        {
            run = pageOwner[p] == null ? run + 1 : 0;
            if (run == wanted)
            {
                final int first = p + 1 - run;
                final Claim c = new Claim(owner, (long)first * PAGE_SIZE, wanted * PAGE_SIZE);
                for (int k = first; k <= p; k++)
                {
                    pageOwner[k] = c;
                }
                claims.put(c.offset(), c);
                freePages -= run;
                return new BackendBuffer(c.offset(), c.length());
            }
        }
        throw error(ErrorCode.ENOSPC, "no free run of " + wanted + " pages (" + freePages + " free)");
    }

    synchronized void free(final Owner owner, final BackendBuffer buffer) throws BackendException
    {
        final Claim c = claims.get(buffer.offset());
        if (c == null || !c.owner().equals(owner) || c.length() != buffer.length())
        {
            throw error(ErrorCode.EINVAL, "not an allocation of VM " + owner.vm() + ": " + buffer);
        }
        release(c);
    }

    /** Zeroes and returns the pages of {@code c} (a hole punched in the memfd, as the ivshmem host backend does). */
    private void release(final Claim c)
    {
        try
        {
            MemFd.punchHole(regionFd, c.offset(), c.length());
        }
        catch (final NativeIoException e)
        {
            throw new IllegalStateException("zeroing freed pages failed: " + e.getMessage(), e);
        }
        claims.remove(c.offset());
        final int first = (int)(c.offset() / PAGE_SIZE);
        final int count = (int)(c.length() / PAGE_SIZE);
        for (int k = first; k < first + count; k++)
        {
            pageOwner[k] = null;
        }
        freePages += count;
    }

    synchronized void checkOwned(final Owner owner, final BackendBuffer buffer) throws BackendException
    {
        final Claim c = claims.get(buffer.offset());
        if (c == null || !c.owner().equals(owner) || c.length() != buffer.length())
        {
            throw error(ErrorCode.EINVAL, "not an allocation of VM " + owner.vm() + ": " + buffer);
        }
    }

    /** EINVAL unless every page of {@code ref} belongs to the session {@code observer} knows {@code exporterVm} by. */
    synchronized void checkImport(final InMemoryBackend observer, final int exporterVm, final ShareRef ref)
        throws BackendException
    {
        final Owner exporter = new Owner(exporterVm, knownSession(observer, exporterVm));
        final boolean inPool = ref.offset() >= 0 && ref.length() > 0 && ref.offset() % PAGE_SIZE == 0 &&
            ref.offset() <= totalBytes() - ref.length();
        if (inPool)
        {
            final int first = (int)(ref.offset() / PAGE_SIZE);
            final int end = (int)((ref.offset() + ref.length() + PAGE_SIZE - 1) / PAGE_SIZE);
            boolean owned = true;
            for (int k = first; k < end && owned; k++)
            {
                owned = pageOwner[k] != null && pageOwner[k].owner().equals(exporter);
            }
            if (owned)
            {
                return;
            }
        }
        throw error(ErrorCode.EINVAL, "reference " + ref + " is not memory of VM " + exporterVm);
    }

    /** A new fd of the whole region: read-only ones are opened O_RDONLY, so mmap with PROT_WRITE fails. */
    int openRegion(final boolean readOnly) throws BackendException
    {
        try
        {
            return readOnly ? MemFd.reopenReadOnly(regionFd) :
                Native.check(Native.libc().fcntl(regionFd, Native.F_DUPFD_CLOEXEC, 0), "dup(region)");
        }
        catch (final NativeIoException e)
        {
            throw error(ErrorCode.EIO, "cannot open the region: " + e.getMessage());
        }
    }

    // ---- fence slots ----

    synchronized int allocateFence(final Owner owner) throws BackendException
    {
        for (int i = 0; i < fenceSlots; i++)
        {
            if (fenceOwner[i] == null)
            {
                slot(i).setMemory(0, FenceSlotDescriptor.SLOT_LENGTH, (byte)0);
                fenceOwner[i] = owner;
                return i;
            }
        }
        throw error(ErrorCode.ENOSPC, "all " + fenceSlots + " fence slots are in use");
    }

    synchronized void freeFence(final Owner owner, final int index, final long regionOffset) throws BackendException
    {
        if (index < 0 || index >= fenceSlots || !owner.equals(fenceOwner[index]) ||
            regionOffset != fenceRegionOffset(index))
        {
            throw error(ErrorCode.EINVAL, "not a fence slot of VM " + owner.vm() + ": " + index + " at " + regionOffset);
        }
        slot(index).setMemory(0, FenceSlotDescriptor.SLOT_LENGTH, (byte)0);
        fenceOwner[index] = null;
    }

    synchronized boolean validateFence(final InMemoryBackend observer, final int exporterVm, final int index)
    {
        return index >= 0 && index < fenceSlots &&
            new Owner(exporterVm, knownSession(observer, exporterVm)).equals(fenceOwner[index]);
    }

    MemoryWindow slot(final int index)
    {
        checkSlot(index);
        return fenceWindow.slice(FenceSlotDescriptor.slotOffset(index), FenceSlotDescriptor.SLOT_LENGTH);
    }

    MemoryWindow slotAt(final long regionOffset)
    {
        final long inTable = regionOffset - fenceBase;
        if (inTable < 0 || inTable % FenceSlotDescriptor.SLOT_LENGTH != 0)
        {
            throw new IllegalArgumentException("no fence slot at region offset " + regionOffset);
        }
        return slot((int)Math.min(Integer.MAX_VALUE, inTable / FenceSlotDescriptor.SLOT_LENGTH));
    }

    long fenceRegionOffset(final int index)
    {
        checkSlot(index);
        return fenceBase + FenceSlotDescriptor.slotOffset(index);
    }

    private void checkSlot(final int index)
    {
        if (index < 0 || index >= fenceSlots)
        {
            throw new IllegalArgumentException("fence slot " + index + " outside 0.." + (fenceSlots - 1));
        }
    }

    /** Frees what the gone session {@code owner} still holds: pages plus fence slots. */
    synchronized long reclaim(final Owner owner) throws BackendException
    {
        final InMemoryBackend live = joined.get(owner.vm());
        if (live != null && live.sessionId() == owner.session())
        {
            throw error(ErrorCode.EBUSY, "VM " + owner.vm() + " session " + Long.toHexString(owner.session()) + " is up");
        }
        long freed = 0;
        for (final Claim c : new ArrayList<>(claims.values()))
        {
            if (c.owner().equals(owner))
            {
                release(c);
                freed += c.length() / PAGE_SIZE;
            }
        }
        for (int i = 0; i < fenceSlots; i++)
        {
            if (owner.equals(fenceOwner[i]))
            {
                slot(i).setMemory(0, FenceSlotDescriptor.SLOT_LENGTH, (byte)0);
                fenceOwner[i] = null;
                freed++;
            }
        }
        return freed;
    }

    /** Closes every endpoint still joined, then the memory. Close the daemons using it first. */
    @Override
    public void close()
    {
        final List<InMemoryBackend> left;
        synchronized (this)
        {
            if (closed)
            {
                return;
            }
            closed = true;
            left = new ArrayList<>(joined.values());
        }
        left.forEach(InMemoryBackend::close);
        fenceTable.close();
        Native.closeQuietly(regionFd);
    }

    private static long roundToPage(final long bytes)
    {
        return (bytes + PAGE_SIZE - 1) / PAGE_SIZE * PAGE_SIZE;
    }

    /** The one way this emulation fails an SPI call: an ABI error code and a message. */
    static BackendException error(final ErrorCode error, final String message)
    {
        return new BackendException(error, message);
    }
}
