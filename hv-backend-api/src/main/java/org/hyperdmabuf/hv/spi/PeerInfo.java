package org.hyperdmabuf.hv.spi;

/** A reachable peer VM: its id, its daemon's session id and announced roles (PeerSlotDescriptor bits). */
public record PeerInfo(int vm, long sessionId, int roles)
{
    public boolean isSink()
    {
        return (roles & 1) != 0;
    }

    public boolean isSource()
    {
        return (roles & 2) != 0;
    }
}
