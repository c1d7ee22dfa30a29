package org.hyperdmabuf.hv.xen;

import org.hyperdmabuf.hv.xen.store.XenStoreClient;

import java.io.IOException;

/**
 * Our own nodes below {@code data/hyperdmabuf} that every configured peer reads: the directory, roles, name and
 * session, with one permission list (owned by us, read for each peer; ABI.md "Xen specifics").
 * <p>
 * xenstored ignores a list's entry for a domain created after the node was written (XSA-322: a domain given a
 * later or reused domid inherits no access). A daemon that started before its peer's domain existed, or whose
 * peer's domain was destroyed and created again under a new domid, would stay unreadable to that peer. So the
 * list is set again ({@link #renew}) whenever a peer shows a session we have not seen, which is after its domain
 * exists.
 */
final class XenOwnNodes
{
    private final XenStoreClient xs;
    private final int domid;
    private final String[] perms;
    private final int roles;
    private final String name;

    /** {@code name}: our toolstack name to publish, or null. */
    XenOwnNodes(final XenStoreClient xs, final int domid, final int[] peerIds, final int roles, final String name)
    {
        this.xs = xs;
        this.domid = domid;
        this.perms = new String[peerIds.length + 1];
        this.perms[0] = "n" + domid;
        for (int i = 0; i < peerIds.length; i++)
        {
            this.perms[i + 1] = "r" + peerIds[i];
        }
        this.roles = roles;
        this.name = name;
    }

    /** Removes what an earlier daemon of ours left and publishes our nodes with {@code session}. */
    void publish(final long session) throws IOException
    {
        xs.rmIfPresent(0, XenStorePaths.base(domid));
        xs.inTransaction(tx ->
        {
            // Permissions first: xenstored copies a parent's list into each new node, so the children written
            // next are readable by the peers too (a later SET_PERMS of the parent would not reach them).
            xs.mkdir(tx, XenStorePaths.base(domid));
            xs.setPermissions(tx, XenStorePaths.base(domid), perms);
            xs.write(tx, XenStorePaths.roles(domid), Integer.toString(roles));
            if (name != null)
            {
                xs.write(tx, XenStorePaths.name(domid), name);
            }
            xs.write(tx, XenStorePaths.session(domid), XenPeers.hex(session));
        });
    }

    /**
     * Sets the list again on each node the peers read, so that it counts for every domain that exists now, and
     * writes the session again: the write, unlike the list, fires the peers' watches once they may read it.
     */
    void renew(final long session) throws IOException
    {
        xs.inTransaction(tx ->
        {
            xs.setPermissions(tx, XenStorePaths.base(domid), perms);
            xs.setPermissions(tx, XenStorePaths.roles(domid), perms);
            if (name != null)
            {
                xs.setPermissions(tx, XenStorePaths.name(domid), perms);
            }
            xs.setPermissions(tx, XenStorePaths.session(domid), perms);
            xs.write(tx, XenStorePaths.session(domid), XenPeers.hex(session));
        });
    }
}
