package org.hyperdmabuf.hv.xen;

import org.hyperdmabuf.hv.nativeio.MappedMemory;
import org.hyperdmabuf.hv.shm.MemoryWindow;
import org.hyperdmabuf.hv.shm.RingReader;
import org.hyperdmabuf.hv.shm.RingWriter;
import org.hyperdmabuf.hv.xen.abi.ChannelDescriptor;

/** One established control channel to a peer domain: the mapped pages, its two rings and its event port. */
final class XenChannel implements AutoCloseable
{
    final int peer;
    final long peerSession;
    final boolean server;
    final int port;
    final MemoryWindow header;
    final RingWriter writer;
    final RingReader reader;
    private final MappedMemory memory;
    private final AutoCloseable pages;

    XenChannel(final int peer, final long peerSession, final boolean server, final int port, final MappedMemory memory,
        final AutoCloseable pages, final int capacity)
    {
        this.peer = peer;
        this.peerSession = peerSession;
        this.server = server;
        this.port = port;
        this.memory = memory;
        this.pages = pages;
        final MemoryWindow all = new MemoryWindow(memory.buffer());
        this.header = all.slice(0, ChannelDescriptor.HEADER_LENGTH);
        final int stride = org.hyperdmabuf.hv.shm.RingDescriptor.stride(capacity);
        final MemoryWindow s2c = all.slice(ChannelDescriptor.serverToClientRingOffset(), stride);
        final MemoryWindow c2s = all.slice(ChannelDescriptor.clientToServerRingOffset(capacity), stride);
        this.writer = new RingWriter(server ? s2c : c2s, capacity);
        this.reader = new RingReader(server ? c2s : s2c, capacity);
    }

    int ownHeartbeatOffset()
    {
        return server ? ChannelDescriptor.SERVER_HEARTBEAT_OFFSET : ChannelDescriptor.CLIENT_HEARTBEAT_OFFSET;
    }

    /** The doorbell word this side watches (the peer sets it in {@code ringFence}). */
    int ownDoorbellOffset()
    {
        return server ? ChannelDescriptor.SERVER_FENCE_DOORBELL_OFFSET : ChannelDescriptor.CLIENT_FENCE_DOORBELL_OFFSET;
    }

    int peerDoorbellOffset()
    {
        return server ? ChannelDescriptor.CLIENT_FENCE_DOORBELL_OFFSET : ChannelDescriptor.SERVER_FENCE_DOORBELL_OFFSET;
    }

    int peerHeartbeatOffset()
    {
        return server ? ChannelDescriptor.CLIENT_HEARTBEAT_OFFSET : ChannelDescriptor.SERVER_HEARTBEAT_OFFSET;
    }



    @Override
    public void close()
    {
        memory.close();
        try
        {
            pages.close();
        }
        catch (final Exception e)
        {
            // closing device files does not fail in a way we could act on
        }
    }
}
