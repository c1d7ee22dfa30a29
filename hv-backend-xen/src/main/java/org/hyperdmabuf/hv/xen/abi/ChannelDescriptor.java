package org.hyperdmabuf.hv.xen.abi;

import org.hyperdmabuf.hv.shm.RingDescriptor;

/**
 * The control channel between two domains' daemons (ABI.md "Xen specifics"): pages the lower domid (the
 * server) grants writable to the higher one (the client) through a page directory, with one event channel.
 * <pre>
 *  page 0   magic u64 @0 "HDMAXEN1" | version u32 @8 | ring_capacity u32 @12 | server_session u64 @16
 *           | client_session u64 @24 | server_heartbeat u64 @64 | client_heartbeat u64 @128
 *           | server_fence_doorbell u32 @192 | client_fence_doorbell u32 @256 (set by the ringer, cleared by the rung)
 *  page 1.. ring server->client (capacity + 256-byte trailer, RingDescriptor), then, page-aligned,
 *           ring client->server
 * </pre>
 * The server writes the header before publishing the channel in xenstore; the client writes client_session
 * after mapping it. Each side advances its own heartbeat.
 */
public final class ChannelDescriptor
{
    public static final long MAGIC = 0x314E4558414D4448L; // "HDMAXEN1" little-endian
    public static final int VERSION = 1;
    public static final int MAGIC_OFFSET = 0;
    public static final int VERSION_OFFSET = 8;
    public static final int RING_CAPACITY_OFFSET = 12;
    public static final int SERVER_SESSION_OFFSET = 16;
    public static final int CLIENT_SESSION_OFFSET = 24;
    public static final int SERVER_HEARTBEAT_OFFSET = 64;
    public static final int CLIENT_HEARTBEAT_OFFSET = 128;
    public static final int SERVER_FENCE_DOORBELL_OFFSET = 192;
    public static final int CLIENT_FENCE_DOORBELL_OFFSET = 256;
    public static final int HEADER_LENGTH = XenLimits.PAGE_SIZE;

    private ChannelDescriptor()
    {
    }

    /** Bytes one ring takes, rounded up to whole pages. */
    public static int ringArea(final int capacity)
    {
        final int stride = RingDescriptor.stride(capacity);
        return (stride + XenLimits.PAGE_SIZE - 1) / XenLimits.PAGE_SIZE * XenLimits.PAGE_SIZE;
    }

    public static int serverToClientRingOffset()
    {
        return HEADER_LENGTH;
    }

    public static int clientToServerRingOffset(final int capacity)
    {
        return HEADER_LENGTH + ringArea(capacity);
    }

    public static int channelLength(final int capacity)
    {
        return HEADER_LENGTH + 2 * ringArea(capacity);
    }
}
