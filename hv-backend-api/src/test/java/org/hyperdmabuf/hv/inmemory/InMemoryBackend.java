package org.hyperdmabuf.hv.inmemory;

import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.hv.shm.MemoryWindow;
import org.hyperdmabuf.hv.spi.BackendBuffer;
import org.hyperdmabuf.hv.spi.BackendException;
import org.hyperdmabuf.hv.spi.BackendListener;
import org.hyperdmabuf.hv.spi.Capabilities;
import org.hyperdmabuf.hv.spi.ClientMapping;
import org.hyperdmabuf.hv.spi.FenceRef;
import org.hyperdmabuf.hv.spi.FenceSlots;
import org.hyperdmabuf.hv.spi.HypervisorBackend;
import org.hyperdmabuf.hv.spi.PeerFenceDoorbells;
import org.hyperdmabuf.hv.spi.PeerInfo;
import org.hyperdmabuf.hv.spi.PeerMemoryReclaim;
import org.hyperdmabuf.hv.spi.ShareRef;

import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;

import static org.hyperdmabuf.hv.inmemory.InMemoryFabric.error;

/**
 * One endpoint ("VM") of an {@link InMemoryFabric}: an emulated backend for in-process tests, never a real one
 * (see the fabric for what is real). Client fds are of the fabric's memfd (read-only imports reopened O_RDONLY);
 * fence doorbells are rung with {@link #ringFence}, there are no doorbell fds nor wake vectors (no
 * {@link org.hyperdmabuf.hv.spi.DirectFenceWakeups}: clients then signal and wait through their daemon). Thread-safe; the
 * listener is called from the endpoint's receive thread.
 */
public final class InMemoryBackend implements HypervisorBackend, FenceSlots, PeerFenceDoorbells, PeerMemoryReclaim
{
    public static final String NAME = "in-memory";

    private final InMemoryFabric fabric;
    private final int vm;
    private final int roles;
    private final long session;
    private final InMemoryFabric.Owner owner;
    private final Inbox inbox = new Inbox();
    private State state = State.NEW;

    private enum State
    {
        NEW, JOINED, GONE
    }

    InMemoryBackend(final InMemoryFabric fabric, final int vm, final int roles)
    {
        this.fabric = fabric;
        this.vm = vm;
        this.roles = roles;
        long s = 0;
        while (s == 0)
        {
            s = ThreadLocalRandom.current().nextLong();
        }
        this.session = s;
        this.owner = new InMemoryFabric.Owner(vm, s);
    }

    @Override
    public String name()
    {
        return NAME;
    }

    @Override
    public Capabilities capabilities()
    {
        return new Capabilities(NAME, vm, InMemoryFabric.PAGE_SIZE, fabric.totalBytes(), "daemon", "shared-region",
            true, true, Capabilities.NOTIFY_INTERRUPT);
    }

    @Override
    public int localVm()
    {
        return vm;
    }

    @Override
    public long sessionId()
    {
        return session;
    }

    PeerInfo info()
    {
        return new PeerInfo(vm, session, roles);
    }

    Inbox inbox()
    {
        return inbox;
    }

    @Override
    public void start(final BackendListener listener) throws BackendException
    {
        synchronized (this)
        {
            if (state != State.NEW)
            {
                throw error(ErrorCode.EINVAL, "VM " + vm + " was started before");
            }
            state = State.JOINED;
        }
        inbox.start(listener, "in-memory-vm" + vm);
        try
        {
            fabric.join(this);
        }
        catch (final BackendException e)
        {
            die(null);
            throw e;
        }
    }

    private synchronized boolean joined()
    {
        return state == State.JOINED;
    }

    /** Leaves the fabric (peers see {@code reason}; null: they never saw it) and stops receiving. */
    void die(final String reason)
    {
        synchronized (this)
        {
            if (state == State.GONE)
            {
                return;
            }
            state = State.GONE;
        }
        if (reason != null)
        {
            fabric.leave(this, reason);
        }
        inbox.stop();
    }

    @Override
    public List<PeerInfo> peers()
    {
        return joined() ? fabric.peersOf(vm) : List.of();
    }

    @Override
    public BackendBuffer allocate(final long size) throws BackendException
    {
        return fabric.allocate(owner, size);
    }

    @Override
    public void free(final BackendBuffer buffer) throws BackendException
    {
        fabric.free(owner, buffer);
    }

    @Override
    public ShareRef share(final BackendBuffer buffer, final int targetVm, final boolean readOnly)
        throws BackendException
    {
        fabric.checkOwned(owner, buffer);
        reachable(targetVm);
        return new ShareRef(buffer.offset(), buffer.length());
    }

    @Override
    public void unshare(final BackendBuffer buffer, final ShareRef ref)
    {
        // A shared region: nothing was granted, so nothing is withdrawn; importers' mappings stay valid.
    }

    @Override
    public ClientMapping mapAllocation(final BackendBuffer buffer) throws BackendException
    {
        fabric.checkOwned(owner, buffer);
        return new ClientMapping(fabric.openRegion(false), buffer.offset(), buffer.length(), false);
    }

    @Override
    public ClientMapping mapImport(final int exporterVm, final ShareRef ref, final boolean readOnly)
        throws BackendException
    {
        fabric.checkImport(this, exporterVm, ref);
        return new ClientMapping(fabric.openRegion(readOnly), ref.offset(), ref.length(), readOnly);
    }

    @Override
    public void checkImport(final int exporterVm, final ShareRef ref, final boolean readOnly) throws BackendException
    {
        fabric.checkImport(this, exporterVm, ref);
    }

    @Override
    public boolean send(final int peerVm, final ByteBuffer message, final int offset, final int length)
        throws BackendException
    {
        if (offset < 0 || length < 0 || offset > message.limit() - length)
        {
            throw error(ErrorCode.EINVAL, "message range [" + offset + ", +" + length + ") outside the buffer");
        }
        if (length > maxMessageLength())
        {
            throw error(ErrorCode.EMSGSIZE, "message of " + length + " bytes exceeds " + maxMessageLength());
        }
        final InMemoryBackend to = reachable(peerVm);
        final byte[] bytes = new byte[length];
        message.get(offset, bytes, 0, length);
        return to.inbox.offer(vm, bytes);
    }

    private InMemoryBackend reachable(final int peerVm) throws BackendException
    {
        final InMemoryBackend to = peerVm == vm || !joined() ? null : fabric.joined(peerVm);
        if (to == null)
        {
            throw error(ErrorCode.ENOPEER, "peer " + peerVm + " is not reachable");
        }
        return to;
    }

    @Override
    public int maxMessageLength()
    {
        return Inbox.CHANNEL_BYTES / 4;
    }

    @Override
    public long freeBytes()
    {
        return fabric.freeBytes();
    }

    @Override
    public long totalBytes()
    {
        return fabric.totalBytes();
    }

    // ---- fences ----

    @Override
    public FenceRef allocateFence() throws BackendException
    {
        final int index = fabric.allocateFence(owner);
        return new FenceRef(index, fabric.fenceRegionOffset(index));
    }

    @Override
    public void freeFence(final FenceRef fence) throws BackendException
    {
        fabric.freeFence(owner, fence.index(), fence.regionOffset());
    }

    @Override
    public MemoryWindow fenceWindow(final int index)
    {
        return fabric.slot(index);
    }

    /**
     * The fence slot at region offset {@code regionOffset} (what EXPORT answers as the fence offset), for tests that
     * watch a timeline's words, e.g. {@code waiters} raised by a wait parked in a daemon.
     */
    public MemoryWindow fenceSlotAt(final long regionOffset)
    {
        return fabric.slotAt(regionOffset);
    }

    @Override
    public boolean validateFence(final int exporterVm, final int index)
    {
        return fabric.validateFence(this, exporterVm, index);
    }

    @Override
    public boolean ringFence(final int peerVm)
    {
        final InMemoryBackend to = peerVm == vm || !joined() ? null : fabric.joined(peerVm);
        if (to == null)
        {
            return false;
        }
        to.inbox.ring();
        return true;
    }

    @Override
    public long fenceRegionOffset(final int index)
    {
        return fabric.fenceRegionOffset(index);
    }

    @Override
    public long reclaimPeerMemory(final int peerVm, final long sessionId) throws BackendException
    {
        if (peerVm == vm && sessionId == session)
        {
            throw error(ErrorCode.EINVAL, "the memory of our own session is not reclaimed");
        }
        return fabric.reclaim(new InMemoryFabric.Owner(peerVm, sessionId));
    }

    /** Leaves the fabric: peers see this VM down with reason "gone". Its memory stays claimed, as in a region. */
    @Override
    public void close()
    {
        die("gone");
    }
}
