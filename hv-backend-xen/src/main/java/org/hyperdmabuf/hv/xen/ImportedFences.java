package org.hyperdmabuf.hv.xen;

import org.hyperdmabuf.hv.nativeio.MappedMemory;
import org.hyperdmabuf.hv.nativeio.NativeIoException;
import org.hyperdmabuf.hv.shm.MemoryWindow;
import org.hyperdmabuf.hv.xen.abi.FencePageDescriptor;
import org.hyperdmabuf.hv.xen.abi.XenLimits;
import org.hyperdmabuf.hv.xen.dev.GrantMapDevice;
import org.hyperdmabuf.hv.xen.dev.XenDevices;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * Fence pages of other domains' exports, by (vm << 32 | ref): mapped when validated, unmapped when the last
 * timeline reading one releases it (ABI.md "Xen specifics"). Thread-safe.
 */
final class ImportedFences
{
    private final XenDevices devices;
    private final Map<Long, ImportedFence> live = new HashMap<>();
    /** Replaced mappings of a ref whose page was re-granted, still read by a timeline of the old export. */
    private final List<ImportedFence> stale = new ArrayList<>();

    ImportedFences(final XenDevices devices)
    {
        this.devices = devices;
    }

    /** Whether ref {@code index} of {@code exporterVm} is a live fence page (mapped now if it was not). */
    synchronized boolean validate(final int exporterVm, final int index)
    {
        if (index < XenLimits.FIRST_USABLE_GRANT_REF)
        {
            return false;
        }
        final long key = key(exporterVm, index);
        final ImportedFence cached = live.get(key);
        if (cached != null && cached.live())
        {
            return true;
        }
        dropUnused(); // validated for an announcement that was then refused: no timeline ever took it
        GrantMapDevice dev = null;
        try
        {
            dev = devices.openGrantMap();
            final long at = dev.map(exporterVm, new int[] {index}, 1);
            final ImportedFence f = new ImportedFence(dev, MappedMemory.map(dev.fd(), at, XenLimits.PAGE_SIZE, false));
            if (!f.live())
            {
                f.close();
                return false;
            }
            final ImportedFence replaced = live.put(key, f);
            if (replaced != null)
            {
                stale.add(replaced); // a timeline of the old export still reads it until released
            }
            return true;
        }
        catch (final NativeIoException e)
        {
            if (dev != null)
            {
                dev.close();
            }
            return false;
        }
    }

    /** The validated fence page {@code index} of {@code exporterVm}, for one more timeline. */
    synchronized MemoryWindow window(final int exporterVm, final int index)
    {
        final ImportedFence f = live.get(key(exporterVm, index));
        if (f == null)
        {
            throw new IllegalArgumentException("dom" + exporterVm + "'s fence " + index + " was not validated");
        }
        f.users++;
        return f.window;
    }

    synchronized void release(final int exporterVm, final MemoryWindow window)
    {
        for (final Iterator<ImportedFence> it = stale.iterator(); it.hasNext(); )
        {
            final ImportedFence f = it.next();
            if (f.window == window)
            {
                if (--f.users <= 0)
                {
                    it.remove();
                    f.close();
                }
                return;
            }
        }
        for (final Map.Entry<Long, ImportedFence> e : live.entrySet())
        {
            final ImportedFence f = e.getValue();
            if (f.window == window && (int)(e.getKey() >>> 32) == exporterVm)
            {
                if (--f.users <= 0)
                {
                    live.remove(e.getKey());
                    f.close();
                }
                return;
            }
        }
        throw new IllegalArgumentException("not a fence window of dom" + exporterVm + " in use");
    }

    /** Fence pages of other domains mapped now (live and replaced ones). */
    synchronized int count()
    {
        return live.size() + stale.size();
    }

    /**
     * The fence pages we mapped for {@code peer}'s exports belong to the session that just went: its next session
     * grants new pages whose refs may carry the same numbers, and validating such a ref against the old mapping
     * (still live: nobody cleared its magic) would hand the new export the old export's timelines. Mappings still
     * read by a timeline of an old export stay until it is released.
     */
    synchronized void forget(final int peer)
    {
        live.entrySet().removeIf(e ->
        {
            if ((int)(e.getKey() >>> 32) != peer)
            {
                return false;
            }
            final ImportedFence f = e.getValue();
            if (f.users > 0)
            {
                stale.add(f);
            }
            else
            {
                f.close();
            }
            return true;
        });
    }

    synchronized void close()
    {
        live.values().forEach(ImportedFence::close);
        live.clear();
        stale.forEach(ImportedFence::close);
        stale.clear();
    }

    private void dropUnused()
    {
        live.values().removeIf(f ->
        {
            if (f.users > 0)
            {
                return false;
            }
            f.close();
            return true;
        });
    }

    private static long key(final int vm, final int index)
    {
        return (long)vm << 32 | (index & 0xFFFFFFFFL);
    }

    /** An importer's own mapping of an exporter's fence page, with the number of timelines reading it. */
    private static final class ImportedFence implements AutoCloseable
    {
        final GrantMapDevice device;
        final MappedMemory memory;
        final MemoryWindow window;
        int users;

        ImportedFence(final GrantMapDevice device, final MappedMemory memory)
        {
            this.device = device;
            this.memory = memory;
            this.window = new MemoryWindow(memory.buffer());
        }

        boolean live()
        {
            return window.getIntVolatile(FencePageDescriptor.MAGIC_OFFSET) == FencePageDescriptor.MAGIC;
        }

        @Override
        public void close()
        {
            memory.close();
            device.close();
        }
    }
}
