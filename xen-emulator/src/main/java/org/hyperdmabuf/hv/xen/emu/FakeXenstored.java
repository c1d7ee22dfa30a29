package org.hyperdmabuf.hv.xen.emu;

import org.hyperdmabuf.hv.nativeio.Native;
import org.hyperdmabuf.hv.nativeio.NativeIoException;
import org.hyperdmabuf.hv.nativeio.UnixSocket;
import org.hyperdmabuf.hv.xen.store.XsMessage;
import org.hyperdmabuf.hv.xen.store.XsTransport;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.EOFException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

import static org.hyperdmabuf.hv.xen.abi.XsWireDescriptor.XS_DIRECTORY;
import static org.hyperdmabuf.hv.xen.abi.XsWireDescriptor.XS_ERROR;
import static org.hyperdmabuf.hv.xen.abi.XsWireDescriptor.XS_GET_DOMAIN_PATH;
import static org.hyperdmabuf.hv.xen.abi.XsWireDescriptor.XS_GET_PERMS;
import static org.hyperdmabuf.hv.xen.abi.XsWireDescriptor.XS_MKDIR;
import static org.hyperdmabuf.hv.xen.abi.XsWireDescriptor.XS_READ;
import static org.hyperdmabuf.hv.xen.abi.XsWireDescriptor.XS_RM;
import static org.hyperdmabuf.hv.xen.abi.XsWireDescriptor.XS_SET_PERMS;
import static org.hyperdmabuf.hv.xen.abi.XsWireDescriptor.XS_TRANSACTION_END;
import static org.hyperdmabuf.hv.xen.abi.XsWireDescriptor.XS_TRANSACTION_START;
import static org.hyperdmabuf.hv.xen.abi.XsWireDescriptor.XS_UNWATCH;
import static org.hyperdmabuf.hv.xen.abi.XsWireDescriptor.XS_WATCH;
import static org.hyperdmabuf.hv.xen.abi.XsWireDescriptor.XS_WATCH_EVENT;
import static org.hyperdmabuf.hv.xen.abi.XsWireDescriptor.XS_WRITE;
import static org.hyperdmabuf.hv.xen.emu.XenstoreNodes.PERM_READ;
import static org.hyperdmabuf.hv.xen.emu.XenstoreNodes.PERM_WRITE;
import static org.hyperdmabuf.hv.xen.emu.XenstoreNodes.PRIVILEGED_PERMS;
import static org.hyperdmabuf.hv.xen.emu.XenstoreNodes.absolute;
import static org.hyperdmabuf.hv.xen.emu.XenstoreNodes.allowed;
import static org.hyperdmabuf.hv.xen.emu.XenstoreNodes.children;
import static org.hyperdmabuf.hv.xen.emu.XenstoreNodes.denied;
import static org.hyperdmabuf.hv.xen.emu.XenstoreNodes.existingSelfOrAncestor;
import static org.hyperdmabuf.hv.xen.emu.XenstoreNodes.indexOfNul;
import static org.hyperdmabuf.hv.xen.emu.XenstoreNodes.owner;
import static org.hyperdmabuf.hv.xen.emu.XenstoreNodes.parent;
import static org.hyperdmabuf.hv.xen.emu.XenstoreNodes.remove;
import static org.hyperdmabuf.hv.xen.emu.XenstoreNodes.validPath;
import static org.hyperdmabuf.hv.xen.emu.XenstoreNodes.write;

/**
 * EMULATION for tests: a fake xenstored on a Unix socket speaking the real {@code xsd_sockmsg} protocol
 * ({@code docs/misc/xenstore.txt}), so the real {@link org.hyperdmabuf.hv.xen.store.XenStoreClient} runs
 * unchanged against it through {@code XENSTORED_PATH}.
 * <p>
 * Implemented: READ, WRITE (creates parents), MKDIR, RM (subtree), DIRECTORY, GET_PERMS/SET_PERMS, GET_DOMAIN_PATH, WATCH
 * (fires once at once, then on changes at or below the path, and on special paths such as
 * {@code @releaseDomain} when {@link #fireSpecial} is called), UNWATCH, transactions (snapshot isolation;
 * a commit after any other committed change answers EAGAIN, coarser than xenstored's per-node check but with
 * the same contract: redo), errors as errno-name strings, and the 4096-byte payload limit (a larger message
 * closes the connection). Relative paths resolve against {@code /local/domain/<the connection's domid>}.
 * <p>
 * <b>Permissions</b> as xenstored enforces them ({@code docs/misc/xenstore.txt}): a node's list is
 * {@code <type><owner>} (the owner's domid and the access of domains not listed) then {@code <type><domid>}
 * entries, types {@code n} none, {@code r} read, {@code w} write, {@code b} both. Dom0 and the owner have full
 * access. READ, DIRECTORY and GET_PERMS need read access (else EACCES), WRITE and RM write access to the node,
 * or to its nearest existing ancestor when it is created; a new node inherits its parent's list with the
 * creating domain as owner (an unprivileged creator); SET_PERMS is for the owner, who cannot give the node
 * away (EPERM); a watch fires only for nodes the watcher may read (removed ones always). A connection on the
 * socket is dom0 (privileged, as the real socket) unless its first message is {@link #EmuWire.EMU_DECLARE_DOMAIN}
 * (EMULATION of a domain's {@code /dev/xen/xenbus}: the domid is believed, as the emulated hypervisor does).
 * {@link #introduceDomain} makes a domain's nodes as the toolstack does: {@code /local/domain/<id>} read-only
 * to it, and {@code /local/domain/<id>/data} owned by it. Entries naming a domain that did not exist when their
 * node was written are ignored until SET_PERMS renews the list (xenstored since XSA-322); {@link #releaseDomain}
 * removes a gone domain's entries ({@link XenstoreNodes}).
 * <p>
 * The node tree and its permission rules are {@link XenstoreNodes}; this class serves the connections, watches
 * and transactions.
 */
public final class FakeXenstored implements AutoCloseable
{
    private static final Logger LOG = LoggerFactory.getLogger(FakeXenstored.class);


    private record Watch(Connection connection, String path, String token)
    {
    }

    private static final class Transaction
    {
        final TreeMap<String, String> values;
        final Map<String, String> perms;
        final long generation;
        final Set<String> changed = new TreeSet<>();

        Transaction(final TreeMap<String, String> values, final Map<String, String> perms, final long generation)
        {
            this.values = new TreeMap<>(values);
            this.perms = new HashMap<>(perms);
            this.generation = generation;
        }
    }

    private final String path;
    private final int listenFd;
    private final Thread acceptor;
    private final List<Connection> connections = new CopyOnWriteArrayList<>();
    private final List<Watch> watches = new CopyOnWriteArrayList<>();
    private final AtomicInteger nextTx = new AtomicInteger(1);
    private final Object lock = new Object();
    private TreeMap<String, String> values = new TreeMap<>();
    private Map<String, String> perms = new HashMap<>();
    private final Map<Integer, Transaction> transactions = new HashMap<>();
    private long generation;
    /** The domains xenstore knows (dom0, and those introduced and not yet released): permission entries count. */
    private final Set<Integer> domains = new HashSet<>(Set.of(0));
    private int failCommits;
    private volatile boolean closed;

    public FakeXenstored(final String socketPath) throws NativeIoException
    {
        this.path = socketPath;
        this.values.put("/", "");
        this.values.put("/local", "");
        this.values.put("/local/domain", "");
        this.listenFd = UnixSocket.listen(socketPath, 64);
        this.acceptor = new Thread(this::acceptLoop, "fake-xenstored-accept");
        this.acceptor.setDaemon(true);
        this.acceptor.start();
    }

    public String socketPath()
    {
        return path;
    }

    /** The next {@code n} commits answer EAGAIN, as a conflicting change would. */
    public void failNextCommits(final int n)
    {
        synchronized (lock)
        {
            failCommits = n;
        }
    }

    /** Fires watches on a special path such as {@code @releaseDomain} or {@code @introduceDomain}. */
    public void fireSpecial(final String special)
    {
        fire(Set.of(special));
    }

    /** Direct write, as the toolstack does when it creates a domain (e.g. {@code /local/domain/N/domid}). */
    public void writeDirect(final String nodePath, final String value)
    {
        final Set<String> changed = new TreeSet<>();
        synchronized (lock)
        {
            write(values, perms, nodePath, value, changed, 0, domains::contains);
            generation++;
        }
        fire(changed);
    }

    /**
     * Makes domain {@code domid}'s nodes as libxl does: {@code /local/domain/<id>} and its {@code domid} and
     * {@code name} keys owned by dom0 and readable by the domain, {@code /local/domain/<id>/data} owned by the
     * domain (others: none).
     */
    public void introduceDomain(final int domid)
    {
        final String home = "/local/domain/" + domid;
        final Set<String> changed = new TreeSet<>();
        synchronized (lock)
        {
            domains.add(domid);
            write(values, perms, home, "", changed, 0, domains::contains);
            perms.put(home, "n0\0r" + domid);
            write(values, perms, home + "/domid", Integer.toString(domid), changed, 0, domains::contains);
            // The toolstack's name (xl: the config's name; xen-init-dom0: Domain-0), readable as its parent.
            write(values, perms, home + "/name", domid == 0 ? "Domain-0" : "domain-" + domid, changed, 0,
                domains::contains);
            write(values, perms, home + "/data", "", changed, 0, domains::contains);
            perms.put(home + "/data", "n" + domid);
            generation++;
        }
        fire(changed);
    }

    /** EMULATION of a domain's xenbus device: a connection to {@code socketPath} that declared {@code domid}. */
    public static XsTransport connectAsDomain(final String socketPath, final int domid) throws IOException
    {
        return EmuWire.connectAsDomain(socketPath, domid);
    }

    /**
     * The toolstack released domain {@code domid}: as xenstored, its entries leave every permission list and the
     * nodes it owned pass to dom0 (a later domain of that id inherits no access); then its home is removed and
     * {@code @releaseDomain} fires.
     */
    public void releaseDomain(final int domid)
    {
        synchronized (lock)
        {
            domains.remove(domid);
            XenstoreNodes.forgetDomain(perms, domid);
            generation++;
        }
        removeDirect("/local/domain/" + domid);
        fireSpecial("@releaseDomain");
    }

    /** Direct removal of a subtree, as the toolstack does when a domain is destroyed. */
    public void removeDirect(final String nodePath)
    {
        final Set<String> changed = new TreeSet<>();
        synchronized (lock)
        {
            remove(values, perms, nodePath, changed);
            generation++;
        }
        fire(changed);
    }

    private void acceptLoop()
    {
        while (!closed)
        {
            try
            {
                final Connection c = new Connection(XsTransport.accepted(UnixSocket.accept(listenFd)));
                connections.add(c);
                c.start();
            }
            catch (final NativeIoException e)
            {
                if (!closed)
                {
                    LOG.warn("fake xenstored accept failed", e);
                }
                return;
            }
        }
    }

    private final class Connection extends Thread
    {
        private final XsTransport transport;
        /** 0: privileged (the socket); else the domain it declared first. */
        volatile int domid;
        boolean first = true;

        Connection(final XsTransport transport)
        {
            super("fake-xenstored-conn");
            setDaemon(true);
            this.transport = transport;
        }

        @Override
        public void run()
        {
            try
            {
                while (true)
                {
                    final XsMessage m = transport.read();
                    handle(this, m);
                }
            }
            catch (final EOFException e)
            {
                // client went away
            }
            catch (final IOException e)
            {
                if (!closed)
                {
                    LOG.info("fake xenstored drops a connection: {}", e.getMessage());
                }
            }
            finally
            {
                watches.removeIf(w -> w.connection == this);
                connections.remove(this);
                transport.close();
            }
        }

        void send(final XsMessage m)
        {
            try
            {
                transport.write(m);
            }
            catch (final IOException e)
            {
                transport.shutdown(); // this connection's thread then frees it
            }
        }
    }

    private void handle(final Connection c, final XsMessage m)
    {
        final List<String> args = m.split();
        final Set<String> changed = new TreeSet<>();
        String error = null;
        byte[] reply = XsMessage.strings("OK");
        final boolean declaration = c.first && m.type() == EmuWire.EMU_DECLARE_DOMAIN;
        c.first = false;
        synchronized (lock)
        {
            final Transaction tx = m.txId() == 0 ? null : transactions.get(m.txId());
            if (declaration)
            {
                if (args.isEmpty() || !args.get(0).matches("[0-9]{1,5}") || Integer.parseInt(args.get(0)) == 0)
                {
                    error = "EINVAL";
                }
                else
                {
                    c.domid = Integer.parseInt(args.get(0));
                }
            }
            else if (m.txId() != 0 && tx == null)
            {
                error = "ENOENT";
            }
            else
            {
                final TreeMap<String, String> v = tx == null ? values : tx.values;
                final Map<String, String> p = tx == null ? perms : tx.perms;
                final Set<String> changes = tx == null ? changed : tx.changed;
                final String node = args.isEmpty() ? "" : absolute(args.get(0), c.domid);
                switch (m.type())
                {
                    case XS_READ:
                        error = denied(v, p, node, PERM_READ, c.domid);
                        if (error == null)
                        {
                            reply = v.get(node).getBytes(StandardCharsets.UTF_8);
                        }
                        break;
                    case XS_WRITE:
                    {
                        final byte[] payload = m.payload();
                        final int nul = indexOfNul(payload);
                        if (nul < 0 || !validPath(node))
                        {
                            error = "EINVAL";
                            break;
                        }
                        error = denied(v, p, existingSelfOrAncestor(v, node), PERM_WRITE, c.domid);
                        if (error == null)
                        {
                            write(v, p, node, new String(payload, nul + 1, payload.length - nul - 1,
                                StandardCharsets.UTF_8), changes, c.domid, domains::contains);
                        }
                        break;
                    }
                    case XS_MKDIR:
                        if (!validPath(node))
                        {
                            error = "EINVAL";
                        }
                        else if (!v.containsKey(node))
                        {
                            error = denied(v, p, existingSelfOrAncestor(v, node), PERM_WRITE, c.domid);
                            if (error == null)
                            {
                                write(v, p, node, "", changes, c.domid, domains::contains);
                            }
                        }
                        break;
                    case XS_RM:
                        if (!v.containsKey(node))
                        {
                            error = v.containsKey(parent(node)) ? null : "ENOENT";
                        }
                        else if ("/".equals(node))
                        {
                            error = "EINVAL";
                        }
                        else
                        {
                            error = denied(v, p, node, PERM_WRITE, c.domid);
                            if (error == null)
                            {
                                remove(v, p, node, changes);
                            }
                        }
                        break;
                    case XS_DIRECTORY:
                        error = denied(v, p, node, PERM_READ, c.domid);
                        if (error == null)
                        {
                            reply = XsMessage.strings(children(v, node).toArray(new String[0]));
                        }
                        break;
                    case XS_GET_PERMS:
                        error = denied(v, p, node, PERM_READ, c.domid);
                        if (error == null)
                        {
                            reply = XsMessage.strings(XenstoreNodes.visible(p.getOrDefault(node, PRIVILEGED_PERMS)));
                        }
                        break;
                    case XS_SET_PERMS:
                        if (!v.containsKey(node) || args.size() < 2 || !args.subList(1, args.size()).stream()
                            .allMatch(s -> s.matches("[nrwb][0-9]+")))
                        {
                            error = v.containsKey(node) ? "EINVAL" : "ENOENT";
                        }
                        else if (c.domid != 0 && owner(p.getOrDefault(node, PRIVILEGED_PERMS)) != c.domid)
                        {
                            error = "EACCES"; // only the owner (or dom0) sets a node's permissions
                        }
                        else if (c.domid != 0 && owner(args.get(1)) != c.domid)
                        {
                            error = "EPERM"; // an unprivileged domain cannot give a node away
                        }
                        else
                        {
                            p.put(node, String.join("\0", args.subList(1, args.size())));
                            XenstoreNodes.ignoreAbsent(p, node, domains::contains);
                            changes.add(node);
                        }
                        break;
                    case XS_GET_DOMAIN_PATH:
                        reply = XsMessage.strings("/local/domain/" + (args.isEmpty() ? "0" : args.get(0)));
                        break;
                    case XS_WATCH:
                        if (args.size() < 2)
                        {
                            error = "EINVAL";
                        }
                        else
                        {
                            final String wpath = args.get(0).startsWith("@") ? args.get(0) : node;
                            watches.add(new Watch(c, wpath, args.get(1)));
                        }
                        break;
                    case XS_UNWATCH:
                    {
                        final String wpath = args.isEmpty() || args.get(0).startsWith("@") ?
                            (args.isEmpty() ? "" : args.get(0)) : node;
                        final String token = args.size() > 1 ? args.get(1) : "";
                        if (!watches.removeIf(w -> w.connection == c && w.path.equals(wpath) &&
                            w.token.equals(token)))
                        {
                            error = "ENOENT";
                        }
                        break;
                    }
                    case XS_TRANSACTION_START:
                    {
                        final int id = nextTx.getAndIncrement();
                        transactions.put(id, new Transaction(values, perms, generation));
                        reply = XsMessage.strings(Integer.toString(id));
                        break;
                    }
                    case XS_TRANSACTION_END:
                    {
                        transactions.remove(m.txId());
                        final boolean commit = !args.isEmpty() && "T".equals(args.get(0));
                        if (commit)
                        {
                            if (failCommits > 0)
                            {
                                failCommits--;
                                error = "EAGAIN";
                            }
                            else if (tx.generation != generation)
                            {
                                error = "EAGAIN";
                            }
                            else if (!tx.changed.isEmpty())
                            {
                                values = tx.values;
                                perms = tx.perms;
                                generation++;
                                changed.addAll(tx.changed);
                            }
                        }
                        break;
                    }
                    default:
                        error = "EINVAL";
                }
                if (tx == null && !changed.isEmpty())
                {
                    generation++;
                }
            }
        }
        if (error != null)
        {
            c.send(new XsMessage(XS_ERROR, m.reqId(), m.txId(), XsMessage.strings(error)));
        }
        else
        {
            c.send(new XsMessage(m.type(), m.reqId(), m.txId(), reply));
            if (m.type() == XS_WATCH)
            {
                final String wpath = args.get(0).startsWith("@") ? args.get(0) : absolute(args.get(0), c.domid);
                c.send(new XsMessage(XS_WATCH_EVENT, 0, 0, XsMessage.strings(wpath, args.get(1))));
            }
        }
        if (!changed.isEmpty())
        {
            fire(changed);
        }
    }

    private void fire(final Set<String> changed)
    {
        for (final Watch w : watches)
        {
            // One event per changed node at or below the watch; a removed ancestor reports the watched path.
            final Set<String> sent = new TreeSet<>();
            for (final String p : changed)
            {
                if (p.equals(w.path) || p.startsWith(w.path.endsWith("/") ? w.path : w.path + "/") ||
                    w.path.startsWith(p + "/"))
                {
                    final String event = w.path.startsWith(p + "/") ? w.path : p;
                    if (!mayRead(w.connection.domid, event))
                    {
                        continue; // xenstored sends a watch event only for a node its watcher may read
                    }
                    if (sent.add(event))
                    {
                        w.connection.send(new XsMessage(XS_WATCH_EVENT, 0, 0, XsMessage.strings(event, w.token)));
                    }
                }
            }
        }
    }

    private boolean mayRead(final int domid, final String node)
    {
        synchronized (lock)
        {
            return node.startsWith("@") || !values.containsKey(node) ||
                allowed(perms.getOrDefault(node, PRIVILEGED_PERMS), domid, PERM_READ);
        }
    }

    @Override
    public void close()
    {
        if (!closed)
        {
            closed = true;
            org.hyperdmabuf.hv.nativeio.Native.libc().shutdown(listenFd, Native.SHUT_RDWR);
            Native.libc().unlink(path);
            for (final Connection c : connections)
            {
                c.transport.shutdown(); // each connection's thread frees its own when its read ends
            }
            try
            {
                acceptor.join(2000);
            }
            catch (final InterruptedException e)
            {
                Thread.currentThread().interrupt();
            }
            Native.closeQuietly(listenFd); // after the acceptor: its next accept must not meet a reused fd number
        }
    }
}
