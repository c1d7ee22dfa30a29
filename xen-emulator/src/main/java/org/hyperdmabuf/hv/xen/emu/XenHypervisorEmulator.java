package org.hyperdmabuf.hv.xen.emu;

import edu.umd.cs.findbugs.annotations.SuppressFBWarnings;

import org.hyperdmabuf.hv.nativeio.Errno;
import org.hyperdmabuf.hv.nativeio.EventFd;
import org.hyperdmabuf.hv.nativeio.MemFd;
import org.hyperdmabuf.hv.nativeio.Native;
import org.hyperdmabuf.hv.nativeio.NativeIoException;
import org.hyperdmabuf.hv.nativeio.UnixSocket;
import org.hyperdmabuf.hv.xen.abi.XenLimits;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.EOFException;
import java.io.IOException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * EMULATION of the Xen grant table and event channels, for tests and demos on machines without Xen. Each
 * emulated device file (gntalloc, gntdev, evtchn) is one Unix-socket connection, and each domain holds one
 * domain connection whose end is the domain's death. Pages are real memfd shared memory passed with
 * SCM_RIGHTS; doorbells are real eventfds.
 * <p>
 * Semantics kept from Xen and Linux (reference: {@code xen/common/grant_table.c}, {@code drivers/xen/gntalloc.c}):
 * <ul>
 *   <li>refs are per granter domain, from 8 up; a grant names one grantee domid and only that domain can map it
 *       (else EINVAL, Xen's GNTST_general_error);</li>
 *   <li>a read-only grant is handed to the mapper as an O_RDONLY fd, so mmap with PROT_WRITE fails (EACCES from
 *       the kernel; real gntdev fails the mmap with EINVAL);</li>
 *   <li>ending access to a still-mapped grant (closing the gntalloc file) is deferred: the mapping stays valid,
 *       the ref stays allocated until the last mapper unmaps or dies; new maps of an ending ref are refused;</li>
 *   <li>a dead domain's files are closed: its mappings unpin (its granters can end access), its grants end
 *       (deferred while mapped: the pages stay alive in the mappers), its event channels close (the remote ends
 *       become unbound and notifies on them are dropped), and {@code @releaseDomain} fires in xenstore after its
 *       {@code /local/domain/<id>} subtree is removed; a new domain gets its xenstore nodes as from the
 *       toolstack ({@link FakeXenstored#introduceDomain});</li>
 *   <li>gntalloc's page limit (default 1024), global to each domain's kernel, answers ENOSPC; more than 65536 refs in one
 *   map is EINVAL;</li>
 *   <li>event channels: unbound -> interdomain binding only by the named remote domain, ENOTCONN for ports of
 *       another file, a delivered port stays masked until unmasked.</li>
 * </ul>
 * Not emulated: unmap-notify, grant copy, dmabuf ioctls, per-domain grant-frame limits. Emulation limits: a
 * gntdev map covers consecutive pages of one gntalloc file, all maps of one gntdev file come from the same
 * gntalloc file, and that file's fd is read-only as soon as one of its maps is (real gntdev is per map); a map
 * is pinned while its gntdev file (the emulation's socket) is open, not while a process still holds the pages
 * fd it got (a dup of a real gntdev fd keeps the file and its maps), so an importer that closes its device
 * after handing the fd on unpins at once: the pages stay valid, but the granter's end of access is not
 * deferred for them.
 * <p>
 * Trust model: a connecting process declares its domid and the emulator believes it (one live domain
 * connection per domid). On real Xen the hypervisor, not the guest, says who a domain is.
 */
public final class XenHypervisorEmulator implements AutoCloseable
{
    private static final Logger LOG = LoggerFactory.getLogger(XenHypervisorEmulator.class);
    private static final int PAGE = XenLimits.PAGE_SIZE;

    private final Object lock = new Object();
    private final String socketPath;
    private final int listenFd;
    private final int gntallocLimit;
    private final FakeXenstored xenstored;
    private final Thread acceptor;
    private final Map<Integer, Domain> domains = new HashMap<>();
    /** Foreign pages each domain maps through gntdev now (Xen's maptrack entries in use), by mapper domid. */
    private final Map<Integer, Integer> mappedPages = new HashMap<>();
    private final List<UnixSocket> sockets = new CopyOnWriteArrayList<>();
    private final EventFd doorbell = new EventFd();
    private volatile boolean closed;

    private static final class Domain
    {
        final int domid;
        final UnixSocket connection;
        final Map<Integer, Grant> grants = new HashMap<>();
        final Map<Integer, Port> ports = new HashMap<>();
        final List<Runnable> files = new ArrayList<>();
        int nextRef = XenLimits.FIRST_USABLE_GRANT_REF;
        int gntallocPages;
        int nextPort = 1;
        boolean dead;

        Domain(final int domid, final UnixSocket connection)
        {
            this.domid = domid;
            this.connection = connection;
        }
    }

    private static final class Grant
    {
        final Domain granter;
        final int ref;
        final int grantee;
        final boolean readOnly;
        final AllocFile file;
        final int page;
        int pins;
        boolean ending;

        Grant(final Domain granter, final int ref, final int grantee, final boolean readOnly, final AllocFile file,
            final int page)
        {
            this.granter = granter;
            this.ref = ref;
            this.grantee = grantee;
            this.readOnly = readOnly;
            this.file = file;
            this.page = page;
        }
    }

    private static final class AllocFile
    {
        final int memfd;
        final List<Grant> grants = new ArrayList<>();
        int pages;

        AllocFile(final int memfd)
        {
            this.memfd = memfd;
        }
    }

    private static final class Port
    {
        final int port;
        final Domain domain;
        final EvtFile file;
        int remoteDomid;
        Port remote;

        Port(final int port, final Domain domain, final EvtFile file, final int remoteDomid)
        {
            this.port = port;
            this.domain = domain;
            this.file = file;
            this.remoteDomid = remoteDomid;
        }
    }

    private static final class EvtFile
    {
        final int eventfd;
        final ArrayDeque<Integer> pending = new ArrayDeque<>();
        final Set<Integer> masked = new HashSet<>();
        final Set<Integer> raised = new HashSet<>();

        EvtFile(final int eventfd)
        {
            this.eventfd = eventfd;
        }
    }

    /**
     * Starts the emulator on {@code socketPath} with a fake xenstored (may be null: none) whose tree it updates
     * on domain death, and gntalloc's global page limit.
     */
    @SuppressFBWarnings(value = "EI_EXPOSE_REP2",
        justification = "the emulator updates the caller's fake xenstored on domain death, as Xen updates xenstore")
    public XenHypervisorEmulator(final String socketPath, final FakeXenstored xenstored, final int gntallocLimit)
        throws NativeIoException
    {
        this.socketPath = socketPath;
        this.xenstored = xenstored;
        this.gntallocLimit = gntallocLimit;
        this.listenFd = UnixSocket.listen(socketPath, 64);
        this.acceptor = new Thread(this::acceptLoop, "xen-emu-accept");
        this.acceptor.setDaemon(true);
        this.acceptor.start();
    }

    public String socketPath()
    {
        return socketPath;
    }

    /** gntalloc pages {@code domid}'s kernel currently counts against its limit. */
    public int gntallocPagesInUse(final int domid)
    {
        synchronized (lock)
        {
            final Domain d = domains.get(domid);
            return d == null ? 0 : d.gntallocPages;
        }
    }

    /** Refs still allocated in {@code domid}'s grant table (ending ones included); 0 for unknown domains. */
    public int grantCount(final int domid)
    {
        synchronized (lock)
        {
            final Domain d = domains.get(domid);
            return d == null ? 0 : d.grants.size();
        }
    }

    /** Grant pages {@code domid} maps from other domains now, through all its gntdev files. */
    public int mappedPages(final int domid)
    {
        synchronized (lock)
        {
            return mappedPages.getOrDefault(domid, 0);
        }
    }

    /** Whether {@code domid} has a live domain connection. */
    public boolean isAlive(final int domid)
    {
        synchronized (lock)
        {
            final Domain d = domains.get(domid);
            return d != null && !d.dead;
        }
    }

    private void acceptLoop()
    {
        while (!closed)
        {
            final UnixSocket s;
            try
            {
                s = UnixSocket.accept(listenFd);
            }
            catch (final NativeIoException e)
            {
                if (!closed)
                {
                    LOG.warn("xen emulator accept failed", e);
                }
                return;
            }
            sockets.add(s);
            final Thread t = new Thread(() -> serve(s), "xen-emu-conn");
            t.setDaemon(true);
            t.start();
        }
    }

    private void serve(final UnixSocket s)
    {
        Runnable onClose = null;
        try
        {
            final EmuWire.Frame hello = EmuWire.receive(s);
            final int[] w = hello.words();
            if (w.length < 2)
            {
                reply(s, -Errno.EINVAL);
                return;
            }
            final int domid = w[1];
            switch (w[0])
            {
                case EmuWire.HELLO_DOMAIN:
                    onClose = helloDomain(s, domid);
                    break;
                case EmuWire.HELLO_GNTALLOC:
                {
                    final AllocFile f = new AllocFile(MemFd.create("xen-emu-gntalloc-dom" + domid, 0));
                    onClose = openFile(s, domid, f.memfd, () -> closeAllocFile(f));
                    if (onClose != null)
                    {
                        serveFile(s, domid, f, null, null);
                    }
                    return;
                }
                case EmuWire.HELLO_GNTDEV:
                {
                    final List<Grant> mapped = new ArrayList<>();
                    onClose = openFile(s, domid, -1, () -> unpin(domid, mapped));
                    if (onClose != null)
                    {
                        serveFile(s, domid, null, mapped, null);
                    }
                    return;
                }
                case EmuWire.HELLO_EVTCHN:
                {
                    final EvtFile f = new EvtFile(EventFd.create());
                    onClose = openFile(s, domid, f.eventfd, () -> closeEvtFile(domid, f));
                    if (onClose != null)
                    {
                        serveFile(s, domid, null, null, f);
                    }
                    return;
                }
                default:
                    reply(s, -Errno.EINVAL);
                    return;
            }
            if (onClose != null)
            {
                // The domain lives as long as this connection: wait for its end.
                while (true)
                {
                    EmuWire.receive(s);
                }
            }
        }
        catch (final EOFException e)
        {
            // peer closed
        }
        catch (final IOException e)
        {
            if (!closed)
            {
                LOG.info("xen emulator drops a connection: {}", e.getMessage());
            }
        }
        finally
        {
            if (onClose != null)
            {
                onClose.run();
            }
            try
            {
                EmuWire.send(s, new int[] {0}, 1, -1); // acknowledges a FILE_CLOSE; harmless after EOF
            }
            catch (final NativeIoException e)
            {
                // the file's process is gone
            }
            sockets.remove(s);
            s.close();
        }
    }

    private Runnable helloDomain(final UnixSocket s, final int domid) throws NativeIoException
    {
        final Domain d;
        synchronized (lock)
        {
            final Domain old = domains.get(domid);
            if (domid < 0 || domid >= XenLimits.DOMID_FIRST_RESERVED || old != null && !old.dead)
            {
                reply(s, old != null ? -Errno.EEXIST : -Errno.EINVAL);
                return null;
            }
            d = new Domain(domid, s);
            domains.put(domid, d);
        }
        if (xenstored != null)
        {
            xenstored.introduceDomain(domid); // the toolstack's part of creating a domain
        }
        reply(s, 0);
        return () -> destroyDomain(d);
    }

    /** Registers a device file of a live domain; returns its close action, or null (refused, already replied). */
    private Runnable openFile(final UnixSocket s, final int domid, final int fd, final Runnable close)
        throws NativeIoException
    {
        final Domain d;
        final Runnable[] once = new Runnable[1];
        synchronized (lock)
        {
            d = domains.get(domid);
            if (d == null || d.dead)
            {
                Native.closeQuietly(fd);
                EmuWire.send(s, new int[] {-Errno.ESRCH}, 1, -1);
                return null;
            }
            final boolean[] done = {false};
            once[0] = () ->
            {
                synchronized (lock)
                {
                    if (done[0])
                    {
                        return;
                    }
                    done[0] = true;
                    d.files.remove(once[0]);
                    close.run();
                }
                s.shutdown();
            };
            d.files.add(once[0]);
        }
        EmuWire.send(s, new int[] {0}, 1, fd);
        return once[0];
    }

    private void serveFile(final UnixSocket s, final int domid, final AllocFile alloc, final List<Grant> mapped,
        final EvtFile evt) throws IOException
    {
        while (true)
        {
            final EmuWire.Frame f = EmuWire.receive(s);
            Native.closeQuietly(f.fd());
            final int[] w = f.words();
            if (w[0] == EmuWire.FILE_CLOSE)
            {
                return; // serve() runs the close action, then the reply below
            }
            final int[] out;
            int fdOut = -1;
            synchronized (lock)
            {
                final Domain d = domains.get(domid);
                if (d == null || d.dead)
                {
                    out = new int[] {-Errno.ESRCH};
                }
                else if (alloc != null)
                {
                    out = allocOp(d, alloc, w);
                }
                else if (mapped != null)
                {
                    final int[] fdHolder = {-1};
                    out = mapOp(d, mapped, w, fdHolder);
                    fdOut = fdHolder[0];
                }
                else
                {
                    out = evtOp(d, evt, w);
                }
            }
            EmuWire.send(s, out, out.length, fdOut);
            if (fdOut >= 0)
            {
                Native.closeQuietly(fdOut);
            }
        }
    }

    // ---- gntalloc ----

    private int[] allocOp(final Domain d, final AllocFile f, final int[] w)
    {
        switch (w[0])
        {
            case EmuWire.GNT_ALLOC:
            {
                if (w.length != 4)
                {
                    return new int[] {-Errno.EINVAL};
                }
                final int grantee = w[1] & 0xFFFF;
                final boolean writable = (w[2] & 1) != 0;
                final int count = w[3];
                if (count <= 0)
                {
                    return new int[] {-Errno.EINVAL};
                }
                if (d.gntallocPages + (long)count > gntallocLimit)
                {
                    return new int[] {-Errno.ENOSPC};
                }
                try
                {
                    Native.check(Native.libc().ftruncate(f.memfd, (long)(f.pages + count) * PAGE), "ftruncate");
                }
                catch (final NativeIoException e)
                {
                    return new int[] {-e.errno()};
                }
                final int[] out = new int[3 + count];
                out[1] = f.pages;
                out[2] = count;
                for (int i = 0; i < count; i++)
                {
                    final Grant g = new Grant(d, d.nextRef++, grantee, !writable, f, f.pages + i);
                    d.grants.put(g.ref, g);
                    f.grants.add(g);
                    out[3 + i] = g.ref;
                }
                f.pages += count;
                d.gntallocPages += count;
                return out;
            }
            case EmuWire.GNT_DEALLOC:
                // DEALLOC drops only the file's reference; the emulation cannot see munmap, so the grants end when
                // the file closes. Validate the range as the driver does.
                return new int[] {w.length == 3 && w[1] >= 0 && w[2] > 0 && w[1] + w[2] <= f.pages ? 0 : -Errno.EINVAL};
            default:
                return new int[] {-Errno.EINVAL};
        }
    }

    private void closeAllocFile(final AllocFile f)
    {
        for (final Grant g : f.grants)
        {
            g.ending = true;
            g.granter.gntallocPages--;
            if (g.pins == 0)
            {
                g.granter.grants.remove(g.ref);
            }
        }
        f.grants.clear();
        Native.closeQuietly(f.memfd);
    }

    // ---- gntdev ----

    private int[] mapOp(final Domain d, final List<Grant> mapped, final int[] w, final int[] fdOut)
    {
        switch (w[0])
        {
            case EmuWire.GNT_MAP:
            {
                if (w.length < 3 || w[2] <= 0 || w[2] > XenLimits.GNTDEV_MAX_GRANTS_PER_MAP || w.length != 3 + w[2])
                {
                    return new int[] {-Errno.EINVAL};
                }
                final Domain granter = domains.get(w[1]);
                final int count = w[2];
                final List<Grant> grants = new ArrayList<>(count);
                boolean readOnly = false;
                for (int i = 0; i < count; i++)
                {
                    final Grant g = granter == null ? null : granter.grants.get(w[3 + i]);
                    // Xen: the entry must grant access to the mapping domain; an ending entry is going away.
                    // Emulation: one file's maps are consecutive pages of one gntalloc file.
                    if (g == null || g.grantee != d.domid || g.ending ||
                        i > 0 && g.page != grants.get(0).page + i ||
                        g.file != (mapped.isEmpty() ? grants.isEmpty() ? g.file : grants.get(0).file : mapped.get(0).file))
                    {
                        return new int[] {-Errno.EINVAL};
                    }
                    grants.add(g);
                }
                for (final Grant g : mapped)
                {
                    readOnly |= g.readOnly;
                }
                for (final Grant g : grants)
                {
                    readOnly |= g.readOnly;
                }
                final int fd;
                try
                {
                    // The file's fd allows writing only if every grant mapped in it does.
                    fd = readOnly ? MemFd.reopenReadOnly(grants.get(0).file.memfd) :
                        Native.check(Native.libc().dup(grants.get(0).file.memfd), "dup");
                }
                catch (final NativeIoException e)
                {
                    return new int[] {-e.errno()};
                }
                for (final Grant g : grants)
                {
                    g.pins++;
                }
                mapped.addAll(grants);
                mappedPages.merge(d.domid, count, Integer::sum);
                fdOut[0] = fd;
                return new int[] {0, grants.get(0).page, readOnly ? 1 : 0};
            }
            case EmuWire.GNT_UNMAP:
            {
                final List<Grant> range = new ArrayList<>();
                for (final Grant g : mapped)
                {
                    if (w.length == 3 && g.page >= w[1] && g.page < w[1] + w[2])
                    {
                        range.add(g);
                    }
                }
                if (range.isEmpty() || range.size() != w[2])
                {
                    return new int[] {-Errno.EINVAL};
                }
                mapped.removeAll(range);
                unpin(d.domid, range);
                return new int[] {0};
            }
            default:
                return new int[] {-Errno.EINVAL};
        }
    }

    private void unpin(final int mapper, final List<Grant> mapped)
    {
        mappedPages.merge(mapper, -mapped.size(), Integer::sum);
        for (final Grant g : mapped)
        {
            if (--g.pins == 0 && g.ending)
            {
                g.granter.grants.remove(g.ref); // the deferred end of access completes
            }
        }
        mapped.clear();
    }

    // ---- evtchn ----

    private int[] evtOp(final Domain d, final EvtFile f, final int[] w)
    {
        final int op = w[0];
        final int arg = w.length > 1 ? w[1] : -1;
        switch (op)
        {
            case EmuWire.EVT_BIND_UNBOUND:
            {
                final Port p = new Port(d.nextPort++, d, f, arg);
                d.ports.put(p.port, p);
                return new int[] {0, p.port};
            }
            case EmuWire.EVT_BIND_INTERDOMAIN:
            {
                final Domain remote = domains.get(arg);
                final Port rp = remote == null || remote.dead || w.length < 3 ? null : remote.ports.get(w[2]);
                if (rp == null || rp.remote != null || rp.remoteDomid != d.domid)
                {
                    return new int[] {-Errno.EINVAL};
                }
                final Port p = new Port(d.nextPort++, d, f, remote.domid);
                p.remote = rp;
                rp.remote = p;
                d.ports.put(p.port, p);
                return new int[] {0, p.port};
            }
            case EmuWire.EVT_PENDING:
            {
                final int n = f.pending.size();
                final int[] out = new int[1 + n];
                for (int i = 0; i < n; i++)
                {
                    out[1 + i] = f.pending.poll();
                }
                return out;
            }
            default:
                break;
        }
        final Port p = d.ports.get(arg);
        if (p == null || p.file != f)
        {
            return new int[] {-Errno.ENOTCONN}; // not a port of this file
        }
        switch (op)
        {
            case EmuWire.EVT_NOTIFY:
                if (p.remote != null)
                {
                    raise(p.remote);
                }
                return new int[] {0}; // a notify on an unbound port is dropped, as Xen does
            case EmuWire.EVT_UNBIND:
                closePort(p);
                return new int[] {0};
            case EmuWire.EVT_UNMASK:
                f.masked.remove(p.port);
                if (f.raised.remove(p.port))
                {
                    deliver(f, p.port);
                }
                return new int[] {0};
            default:
                return new int[] {-Errno.EINVAL};
        }
    }

    private void raise(final Port p)
    {
        if (p.file.masked.contains(p.port))
        {
            p.file.raised.add(p.port);
        }
        else
        {
            deliver(p.file, p.port);
        }
    }

    private void deliver(final EvtFile f, final int port)
    {
        f.masked.add(port);
        f.pending.add(port);
        try
        {
            doorbell.signal(f.eventfd);
        }
        catch (final NativeIoException e)
        {
            LOG.warn("xen emulator: event delivery failed", e);
        }
    }

    private void closePort(final Port p)
    {
        p.domain.ports.remove(p.port);
        if (p.remote != null)
        {
            // Xen: the remote end returns to unbound (bindable by us again); its notifies are dropped.
            p.remote.remote = null;
            p.remote.remoteDomid = p.domain.domid;
            p.remote = null;
        }
    }

    private void closeEvtFile(final int domid, final EvtFile f)
    {
        final Domain d = domains.get(domid);
        if (d != null)
        {
            for (final Port p : new ArrayList<>(d.ports.values()))
            {
                if (p.file == f)
                {
                    closePort(p);
                }
            }
        }
        Native.closeQuietly(f.eventfd);
    }

    // ---- domains ----

    private void destroyDomain(final Domain d)
    {
        final List<Runnable> files;
        synchronized (lock)
        {
            if (d.dead)
            {
                return;
            }
            d.dead = true;
            files = new ArrayList<>(d.files);
        }
        for (final Runnable close : files)
        {
            close.run();
        }
        final int mapped;
        final int stillMapped;
        synchronized (lock)
        {
            mapped = pagesMappedBy(d.domid);
            stillMapped = d.grants.size();
            if (domains.get(d.domid) == d && d.grants.isEmpty())
            {
                domains.remove(d.domid);
            }
        }
        // What the teardown left, for tests and operators: nothing the dead domain mapped (its files are closed),
        // and those of its grants live domains still map, whose end of access Xen defers until they unmap.
        LOG.info("xen emulator: domain {} destroyed: {} pages of other domains still mapped by it; {} of its " +
            "granted pages still mapped by others", d.domid, mapped, stillMapped);
        if (xenstored != null)
        {
            xenstored.removeDirect("/local/domain/" + d.domid);
            xenstored.fireSpecial("@releaseDomain");
        }
    }

    /** Mappings {@code domid} holds of other domains' grants (only a grant's grantee can map it). */
    private int pagesMappedBy(final int domid)
    {
        int pins = 0;
        for (final Domain granter : domains.values())
        {
            for (final Grant g : granter.grants.values())
            {
                if (g.grantee == domid)
                {
                    pins += g.pins;
                }
            }
        }
        return pins;
    }

    private static void reply(final UnixSocket s, final int status) throws NativeIoException
    {
        EmuWire.send(s, new int[] {status}, 1, -1);
    }

    @Override
    public void close()
    {
        if (!closed)
        {
            closed = true;
            Native.libc().shutdown(listenFd, Native.SHUT_RDWR);
            Native.closeQuietly(listenFd);
            Native.libc().unlink(socketPath);
            for (final UnixSocket s : sockets)
            {
                s.shutdown();
            }
            try
            {
                acceptor.join(2000);
            }
            catch (final InterruptedException e)
            {
                Thread.currentThread().interrupt();
            }
        }
    }
}
