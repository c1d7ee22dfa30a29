package org.hyperdmabuf.hv.xen.emu;

import org.hyperdmabuf.hv.nativeio.Errno;
import org.hyperdmabuf.hv.nativeio.MemFd;
import org.hyperdmabuf.hv.nativeio.Native;
import org.hyperdmabuf.hv.nativeio.NativeIoException;
import org.hyperdmabuf.hv.xen.abi.XenLimits;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The grant side of the {@link XenHypervisorEmulator}: gntalloc files (grants of memfd pages) and gntdev maps of
 * them, with Xen's rules on grantees, read-only grants and deferred ends of access (see the emulator's class
 * comment). Each operation answers the words of its reply. Guarded by the emulator's lock.
 */
final class EmulatedGrants
{
    private static final int PAGE = XenLimits.PAGE_SIZE;

    private final Map<Integer, EmulatedDomain> domains;
    private final int gntallocLimit;
    /** Foreign pages each domain maps through gntdev now (Xen's maptrack entries in use), by mapper domid. */
    private final Map<Integer, Integer> mappedPages = new HashMap<>();

    /** @param domains the emulator's domains, by domid; {@code gntallocLimit} gntalloc's page limit per domain */
    EmulatedGrants(final Map<Integer, EmulatedDomain> domains, final int gntallocLimit)
    {
        this.domains = domains;
        this.gntallocLimit = gntallocLimit;
    }

    static final class Grant
    {
        final EmulatedDomain granter;
        final int ref;
        final int grantee;
        final boolean readOnly;
        final AllocFile file;
        final int page;
        int pins;
        boolean ending;

        Grant(final EmulatedDomain granter, final int ref, final int grantee, final boolean readOnly,
            final AllocFile file, final int page)
        {
            this.granter = granter;
            this.ref = ref;
            this.grantee = grantee;
            this.readOnly = readOnly;
            this.file = file;
            this.page = page;
        }
    }

    static final class AllocFile
    {
        final int memfd;
        final List<Grant> grants = new ArrayList<>();
        int pages;

        AllocFile(final int memfd)
        {
            this.memfd = memfd;
        }
    }

    /** Grant pages {@code domid} maps from other domains now, through all its gntdev files. */
    int mappedPages(final int domid)
    {
        return mappedPages.getOrDefault(domid, 0);
    }

    int[] allocOp(final EmulatedDomain d, final AllocFile f, final int[] w)
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

    void closeAllocFile(final AllocFile f)
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

    int[] mapOp(final EmulatedDomain d, final List<Grant> mapped, final int[] w, final int[] fdOut)
    {
        switch (w[0])
        {
            case EmuWire.GNT_MAP:
            {
                if (w.length < 3 || w[2] <= 0 || w[2] > XenLimits.GNTDEV_MAX_GRANTS_PER_MAP || w.length != 3 + w[2])
                {
                    return new int[] {-Errno.EINVAL};
                }
                final EmulatedDomain granter = domains.get(w[1]);
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

    void unpin(final int mapper, final List<Grant> mapped)
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

    /** Mappings {@code domid} holds of other domains' grants (only a grant's grantee can map it). */
    int pagesMappedBy(final int domid)
    {
        int pins = 0;
        for (final EmulatedDomain granter : domains.values())
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
}
