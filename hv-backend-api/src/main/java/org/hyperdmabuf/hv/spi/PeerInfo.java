package org.hyperdmabuf.hv.spi;

/**
 * A reachable peer VM: its id, its daemon's session id, announced roles (PeerSlotDescriptor bits) and the name
 * the hypervisor's toolstack gave it ("" when the backend knows none: a policy's name or {@code vm<id>} is used).
 */
public record PeerInfo(int vm, long sessionId, int roles, String name)
{
    public PeerInfo
    {
        name = name == null ? "" : name;
    }

    /** A peer without a toolstack name. */
    public PeerInfo(final int vm, final long sessionId, final int roles)
    {
        this(vm, sessionId, roles, "");
    }

    public boolean isSink()
    {
        return (roles & 1) != 0;
    }

    public boolean isSource()
    {
        return (roles & 2) != 0;
    }
}
