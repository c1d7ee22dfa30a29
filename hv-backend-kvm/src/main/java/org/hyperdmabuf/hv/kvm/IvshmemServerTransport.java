package org.hyperdmabuf.hv.kvm;

import org.hyperdmabuf.abi.FenceAbi;
import org.hyperdmabuf.hv.nativeio.MappedMemory;
import org.hyperdmabuf.hv.nativeio.MemFd;
import org.hyperdmabuf.hv.nativeio.Native;
import org.hyperdmabuf.hv.nativeio.Errno;
import org.hyperdmabuf.hv.nativeio.NativeIoException;
import org.hyperdmabuf.hv.nativeio.Poller;
import org.hyperdmabuf.hv.nativeio.UdmaBuf;
import org.hyperdmabuf.hv.shm.RegionLayout;
import org.hyperdmabuf.hv.shm.SharedRegion;
import org.hyperdmabuf.hv.spi.Capabilities;

import java.io.IOException;

/** Host mode: a peer of an ivshmem server (QEMU's protocol); vector 0 wakes us for messages, 1 for fences. */
final class IvshmemServerTransport implements IvshmemTransport
{
    private final String socketPath;
    private final IvshmemPeerConnection connection;
    private final Poller poller = new Poller();
    /**
     * One O_RDONLY open of the region, made at connect: a read-only import gets a dup of it (as read-only as a
     * new open; mmap ignores the shared offset) instead of a reopen through /proc, a path walk costing tens of
     * µs per import.
     */
    private final int readOnlyFd;
    /** Why the region's ranges cannot become dma-bufs, or null: checked once, at connect. */
    private final String dmaBufUnavailable;
    /** /dev/udmabuf, opened at the first dma-buf request; guarded by this. */
    private UdmaBuf udmabuf;
    /** Who holds which peer slot, once {@link #claimSlot} ran: slots are peer ids, doorbells go to ivshmem ids. */
    private volatile SlotClaims claims;

    private IvshmemServerTransport(final String socketPath, final IvshmemPeerConnection connection,
        final int readOnlyFd)
    {
        this.socketPath = socketPath;
        this.connection = connection;
        this.readOnlyFd = readOnlyFd;
        final String device = UdmaBuf.unavailability();
        this.dmaBufUnavailable = device != null ? device : MemFd.dmaBufUnsuitability(connection.shmFd());
    }

    static IvshmemServerTransport connect(final String socketPath, final long timeoutMillis, final Events events)
        throws IOException
    {
        final IvshmemServerTransport[] transport = new IvshmemServerTransport[1];
        final IvshmemPeerConnection connection = IvshmemPeerConnection.connect(socketPath,
            IvshmemBackend.VECTORS, timeoutMillis, new IvshmemPeerConnection.Listener()
            {
                @Override
                public void onPeerDisconnected(final int peerId)
                {
                    final SlotClaims held = transport[0] != null ? transport[0].claims : null;
                    if (held != null)
                    {
                        held.forEachHeldBy(peerId, events::onPeerGone);
                    }
                }

                @Override
                public void onServerLost(final String reason)
                {
                    events.onTransportLost("ivshmem server lost (" + reason + ")");
                }
            });
        try
        {
            transport[0] = new IvshmemServerTransport(socketPath, connection,
                MemFd.reopenReadOnly(connection.shmFd()));
            return transport[0];
        }
        catch (final IOException | RuntimeException e)
        {
            connection.close();
            throw e;
        }
    }

    IvshmemPeerConnection connection()
    {
        return connection;
    }

    @Override
    public String describe()
    {
        return "server " + socketPath;
    }

    @Override
    public int ownId()
    {
        return connection.ownId();
    }

    @Override
    public int claimSlot(final SharedRegion region, final long session, final long stillNs) throws IOException
    {
        final SlotClaims slotClaims = new SlotClaims(region);
        final int slot = slotClaims.claim(connection.ownId(), session, new SlotClaims.Server()
        {
            @Override
            public void refresh() throws IOException
            {
                connection.processServerMessages(0);
            }

            @Override
            public boolean isConnected(final int ivshmemId)
            {
                return connection.isPeerConnected(ivshmemId);
            }
        }, stillNs);
        claims = slotClaims;
        return slot;
    }

    @Override
    public String noSlot(final int maxPeers)
    {
        return "no peer slot for ivshmem id " + connection.ownId() + ": all " + maxPeers + " slots of the region are " +
            "held by peers connected to the server (a peer whose id is beyond the slots claims a free one); stop " +
            "one, or format the region with more peer slots (--max-peers on the daemon that starts first, up to " +
            RegionLayout.MAX_PEERS_LIMIT + ")";
    }

    @Override
    public long regionSize()
    {
        return connection.shmSize();
    }

    @Override
    public MappedMemory map(final long offset, final long length) throws IOException
    {
        return MappedMemory.map(connection.shmFd(), offset, length, false);
    }

    @Override
    public int openRegionFd(final boolean readOnly) throws IOException
    {
        final int regionFd = readOnly ? readOnlyFd : connection.shmFd();
        return Native.check(Native.libc().fcntl(regionFd, Native.F_DUPFD_CLOEXEC, 0), "dup(" + regionFd + ")");
    }

    @Override
    public String dmaBufUnavailable()
    {
        return dmaBufUnavailable;
    }

    @Override
    public synchronized int createDmaBuf(final long offset, final long length, final String name) throws IOException
    {
        final long limit = UdmaBuf.sizeLimitBytes();
        if (limit >= 0 && length > limit)
        {
            throw new NativeIoException("dma-buf of " + length + " bytes", Errno.E2BIG, "over udmabuf's " +
                "size_limit_mb (" + (limit >> 20) + " MiB; " + UdmaBuf.SIZE_LIMIT_PARAMETER + ", root can raise it)");
        }
        if (udmabuf == null)
        {
            udmabuf = UdmaBuf.open();
        }
        // Without dirty pages in the memfd first, writes through the dma-buf can be lost when the page cache drops
        MemFd.populateWrite(connection.shmFd(), offset, length);
        final int dmaBuf = udmabuf.create(connection.shmFd(), offset, length);
        try
        {
            udmabuf.setName(dmaBuf, name);
            return dmaBuf;
        }
        catch (final NativeIoException e)
        {
            Native.closeQuietly(dmaBuf);
            throw e;
        }
    }

    @Override
    public void zero(final long offset, final long length) throws IOException
    {
        MemFd.punchHole(connection.shmFd(), offset, length);
    }

    @Override
    public boolean ring(final int peer, final int vector) throws IOException
    {
        return connection.ring(ivshmemId(peer), vector);
    }

    @Override
    public int openDoorbell(final int peer, final int vector) throws IOException
    {
        return connection.dupPeerVector(ivshmemId(peer), vector);
    }

    @Override
    public boolean hasDoorbellFds()
    {
        return true;
    }

    @Override
    public int openOwnVector(final int vector) throws IOException
    {
        return connection.dupOwnVector(vector);
    }

    @Override
    public int ownVectorCount()
    {
        return connection.ownVectorCount();
    }

    @Override
    public void drainOwn(final int vector) throws IOException
    {
        connection.drain(vector);
    }

    @Override
    public boolean hasDoorbell()
    {
        return true;
    }

    @Override
    public String notification()
    {
        return Capabilities.NOTIFY_EVENTFD;
    }

    @Override
    public boolean isPeerAttached(final int peer)
    {
        return connection.isPeerConnected(ivshmemId(peer));
    }

    @Override
    public int await(final boolean busy, final long maxWaitNs) throws IOException
    {
        poller.clear();
        final int v0 = addIfOpen(connection.ownVectorFd(FenceAbi.MESSAGE_VECTOR));
        final int v1 = addIfOpen(connection.ownVectorFd(FenceAbi.FENCE_VECTOR));
        final int srv = addIfOpen(connection.serverFd());
        poller.poll(busy || maxWaitNs <= 0 ? 0 : (int)((maxWaitNs + 999_999) / 1_000_000));
        if (srv >= 0 && poller.readable(srv))
        {
            connection.processServerMessages(0);
        }
        connection.releaseDeparted(System.nanoTime());
        if (v0 >= 0 && poller.readable(v0))
        {
            connection.drain(FenceAbi.MESSAGE_VECTOR);
        }
        return v1 >= 0 && poller.readable(v1) && connection.drain(FenceAbi.FENCE_VECTOR) != 0 ? FENCE_RUNG : 0;
    }

    @Override
    public int[] notificationFds()
    {
        final int v0 = connection.ownVectorFd(FenceAbi.MESSAGE_VECTOR);
        final int v1 = connection.ownVectorFd(FenceAbi.FENCE_VECTOR);
        return v0 >= 0 && v1 >= 0 ? new int[] {v0, v1} : new int[0];
    }

    @Override
    public int consume(final int index) throws IOException
    {
        final int vector = index == 0 ? FenceAbi.MESSAGE_VECTOR : FenceAbi.FENCE_VECTOR;
        return connection.drain(vector) != 0 && vector == FenceAbi.FENCE_VECTOR ? FENCE_RUNG : 0;
    }

    private int ivshmemId(final int peer)
    {
        return SlotClaims.ivshmemId(claims, peer);
    }

    private int addIfOpen(final int fd)
    {
        return fd >= 0 ? poller.add(fd) : -1;
    }

    @Override
    public void wakeUp()
    {
        try
        {
            connection.ring(connection.ownId(), FenceAbi.MESSAGE_VECTOR);
        }
        catch (final NativeIoException e)
        {
            // the receive loop also wakes up on its own within POLL_INTERVAL_MS
        }
    }

    @Override
    public void close()
    {
        connection.close();
        Native.closeQuietly(readOnlyFd);
        synchronized (this)
        {
            if (udmabuf != null)
            {
                udmabuf.close();
            }
        }
    }
}
