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
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
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
 * <p>
 * The parts: {@link EmulatedDomain} (a domain's tables), {@link EmulatedGrants} (gntalloc and gntdev),
 * {@link EmulatedEventChannels} (evtchn); this class serves the connections and tears dead domains down.
 */
public final class XenHypervisorEmulator implements AutoCloseable
{
    private static final Logger LOG = LoggerFactory.getLogger(XenHypervisorEmulator.class);

    private final Object lock = new Object();
    private final String socketPath;
    private final int listenFd;
    private final FakeXenstored xenstored;
    private final Thread acceptor;
    private final Map<Integer, EmulatedDomain> domains = new HashMap<>();
    private final EmulatedGrants grants;
    private final EmulatedEventChannels channels;
    private final List<UnixSocket> sockets = new CopyOnWriteArrayList<>();
    private volatile boolean closed;

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
        this.grants = new EmulatedGrants(domains, gntallocLimit);
        this.channels = new EmulatedEventChannels(domains);
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
            final EmulatedDomain d = domains.get(domid);
            return d == null ? 0 : d.gntallocPages;
        }
    }

    /** Refs still allocated in {@code domid}'s grant table (ending ones included); 0 for unknown domains. */
    public int grantCount(final int domid)
    {
        synchronized (lock)
        {
            final EmulatedDomain d = domains.get(domid);
            return d == null ? 0 : d.grants.size();
        }
    }

    /** Grant pages {@code domid} maps from other domains now, through all its gntdev files. */
    public int mappedPages(final int domid)
    {
        synchronized (lock)
        {
            return grants.mappedPages(domid);
        }
    }

    /** Whether {@code domid} has a live domain connection. */
    public boolean isAlive(final int domid)
    {
        synchronized (lock)
        {
            final EmulatedDomain d = domains.get(domid);
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
                    final EmulatedGrants.AllocFile f =
                        new EmulatedGrants.AllocFile(MemFd.create("xen-emu-gntalloc-dom" + domid, 0));
                    onClose = openFile(s, domid, f.memfd, () -> grants.closeAllocFile(f));
                    if (onClose != null)
                    {
                        serveFile(s, domid, f, null, null);
                    }
                    return;
                }
                case EmuWire.HELLO_GNTDEV:
                {
                    final List<EmulatedGrants.Grant> mapped = new ArrayList<>();
                    onClose = openFile(s, domid, -1, () -> grants.unpin(domid, mapped));
                    if (onClose != null)
                    {
                        serveFile(s, domid, null, mapped, null);
                    }
                    return;
                }
                case EmuWire.HELLO_EVTCHN:
                {
                    final EmulatedEventChannels.EvtFile f = new EmulatedEventChannels.EvtFile(EventFd.create());
                    onClose = openFile(s, domid, f.eventfd, () -> channels.closeEvtFile(domid, f));
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
        final EmulatedDomain d;
        synchronized (lock)
        {
            final EmulatedDomain old = domains.get(domid);
            if (domid < 0 || domid >= XenLimits.DOMID_FIRST_RESERVED || old != null && !old.dead)
            {
                reply(s, old != null ? -Errno.EEXIST : -Errno.EINVAL);
                return null;
            }
            d = new EmulatedDomain(domid, s);
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
        final EmulatedDomain d;
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

    private void serveFile(final UnixSocket s, final int domid, final EmulatedGrants.AllocFile alloc,
        final List<EmulatedGrants.Grant> mapped, final EmulatedEventChannels.EvtFile evt) throws IOException
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
                final EmulatedDomain d = domains.get(domid);
                if (d == null || d.dead)
                {
                    out = new int[] {-Errno.ESRCH};
                }
                else if (alloc != null)
                {
                    out = grants.allocOp(d, alloc, w);
                }
                else if (mapped != null)
                {
                    final int[] fdHolder = {-1};
                    out = grants.mapOp(d, mapped, w, fdHolder);
                    fdOut = fdHolder[0];
                }
                else
                {
                    out = channels.evtOp(d, evt, w);
                }
            }
            EmuWire.send(s, out, out.length, fdOut);
            if (fdOut >= 0)
            {
                Native.closeQuietly(fdOut);
            }
        }
    }

    // ---- domains ----

    private void destroyDomain(final EmulatedDomain d)
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
            mapped = grants.pagesMappedBy(d.domid);
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
            xenstored.releaseDomain(d.domid);
        }
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
            Native.closeQuietly(listenFd); // after the acceptor: its next accept must not meet a reused fd number
        }
    }
}
