package org.hyperdmabuf.hv.xen.emu;

import org.hyperdmabuf.hv.nativeio.Errno;
import org.hyperdmabuf.hv.nativeio.EventFd;
import org.hyperdmabuf.hv.nativeio.Native;
import org.hyperdmabuf.hv.nativeio.NativeIoException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

/**
 * The event channels of the {@link XenHypervisorEmulator}: evtchn files, unbound and interdomain ports, notifies
 * delivered through each file's eventfd, masked until unmasked (see the emulator's class comment). Each operation
 * answers the words of its reply. Guarded by the emulator's lock.
 */
final class EmulatedEventChannels
{
    private static final Logger LOG = LoggerFactory.getLogger(EmulatedEventChannels.class);

    private final Map<Integer, EmulatedDomain> domains;
    private final EventFd doorbell = new EventFd();

    /** @param domains the emulator's domains, by domid */
    EmulatedEventChannels(final Map<Integer, EmulatedDomain> domains)
    {
        this.domains = domains;
    }

    static final class Port
    {
        final int port;
        final EmulatedDomain domain;
        final EvtFile file;
        int remoteDomid;
        Port remote;

        Port(final int port, final EmulatedDomain domain, final EvtFile file, final int remoteDomid)
        {
            this.port = port;
            this.domain = domain;
            this.file = file;
            this.remoteDomid = remoteDomid;
        }
    }

    static final class EvtFile
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

    int[] evtOp(final EmulatedDomain d, final EvtFile f, final int[] w)
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
                final EmulatedDomain remote = domains.get(arg);
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

    void closeEvtFile(final int domid, final EvtFile f)
    {
        final EmulatedDomain d = domains.get(domid);
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
}
