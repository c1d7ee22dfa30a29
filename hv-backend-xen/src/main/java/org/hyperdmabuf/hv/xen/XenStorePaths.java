package org.hyperdmabuf.hv.xen;

/**
 * The xenstore nodes of the rendezvous (ABI.md "Xen specifics"). Every daemon writes only below its own
 * domain's {@code data/hyperdmabuf} and reads its peers' (the integrator grants {@code r<peer>}).
 */
final class XenStorePaths
{
    private XenStorePaths()
    {
    }

    /** {@code /local/domain/<domid>/data/hyperdmabuf}: session (16 hex digits) and roles (decimal bits). */
    static String base(final int domid)
    {
        return "/local/domain/" + domid + "/data/hyperdmabuf";
    }

    static String session(final int domid)
    {
        return base(domid) + "/session";
    }

    static String roles(final int domid)
    {
        return base(domid) + "/roles";
    }

    /**
     * {@code .../name}: the domain's toolstack name, copied by its daemon from {@code /local/domain/<id>/name},
     * which libxl makes readable by dom0 and the domain only, so that its peers can name it.
     */
    static String name(final int domid)
    {
        return base(domid) + "/name";
    }

    /** {@code /local/domain/<domid>/name}, written by the toolstack (libxl; xen-init-dom0 for dom0). */
    static String toolstackName(final int domid)
    {
        return "/local/domain/" + domid + "/name";
    }

    /**
     * {@code .../channel/<peer>}: on the server (lower domid), dir-ref, length, event-channel, session (the
     * server's) and peer-session (the client session it was made for); on the client, connected (the server
     * session it attached to).
     */
    static String channel(final int domid, final int peer)
    {
        return base(domid) + "/channel/" + peer;
    }
}
