package org.hyperdmabuf.hv.shm;

import edu.umd.cs.findbugs.annotations.SuppressFBWarnings;

import java.util.HashMap;
import java.util.Map;

/**
 * Allocates contiguous page runs of the shared pool for one peer. Claims go through the shared page table
 * (CAS 0 to this peer's owner word, one entry per page) so peers never hand out the same page; what this
 * peer owns is kept in a private map, which is the truth for freeing. Thread-safe.
 */
public final class PagePool
{
    private final MemoryWindow pageTable;
    private final RegionLayout layout;
    /** Changed under the lock by rebind; volatile, since reclaimSession reads it without the lock. */
    private volatile long ownerWord;
    private final Map<Long, Long> owned = new HashMap<>(); // first page -> page count
    private long hint;

    @SuppressFBWarnings(value = "EI_EXPOSE_REP2",
        justification = "the pool claims and frees pages in the region's page table itself, shared with the other peers")
    public PagePool(final MemoryWindow pageTable, final RegionLayout layout, final int peerId, final long sessionId)
    {
        this.pageTable = pageTable;
        this.layout = layout;
        this.ownerWord = PageTableDescriptor.ownerWord(peerId, sessionId);
    }

    public int pageSize()
    {
        return layout.pageSize();
    }

    /** Bytes rounded up to whole pages. */
    public long roundUp(final long bytes)
    {
        return RegionLayout.alignUp(bytes, layout.pageSize());
    }

    /**
     * Claims {@code bytes} (rounded up to pages) contiguous bytes. Returns the region offset of the first
     * byte, or -1 if no free run that long exists (the caller reports ENOSPC). Nothing is claimed on failure.
     */
    public synchronized long allocate(final long bytes)
    {
        if (bytes <= 0)
        {
            throw new IllegalArgumentException("size must be positive: " + bytes);
        }
        final long pages = roundUp(bytes) / layout.pageSize();
        final long total = layout.poolPages();
        if (pages > total)
        {
            return -1;
        }
        long start = hint % total;
        long scanned = 0;
        while (scanned < total)
        {
            if (start + pages > total)
            {
                scanned += total - start;
                start = 0;
                continue;
            }
            final long claimedUpTo = claimRun(start, pages);
            if (claimedUpTo == start + pages)
            {
                owned.put(start, pages);
                hint = start + pages;
                return layout.poolOffset() + start * layout.pageSize();
            }
            final long skip = claimedUpTo - start + 1;
            scanned += skip;
            start += skip;
        }
        return -1;
    }

    /**
     * Frees a run returned by {@link #allocate}. Returns false if this pool does not own a run at that
     * offset (the caller reports EINVAL). Entries that no longer hold this peer's owner word were overwritten
     * by another peer; they are left alone and counted in the return value of {@link #foreignOverwrites()}.
     */
    public synchronized boolean free(final long regionOffset)
    {
        return free(regionOffset, (offset, length) ->
        {
        }) >= 0;
    }

    /**
     * Frees a run returned by {@link #allocate} like {@link #free(long)}, zeroing each stretch of pages that still
     * carries this peer's owner word before releasing it. Pages another peer overwrote in the page table are
     * neither zeroed nor released (ABI.md "Page table", freeing). Returns how many pages were found overwritten,
     * or -1 if this pool does not own a run at that offset.
     */
    public synchronized long free(final long regionOffset, final Zeroer zeroer)
    {
        final Long pages = isRunStart(regionOffset) ? owned.remove(firstPage(regionOffset)) : null;
        if (pages == null)
        {
            return -1;
        }
        final long first = firstPage(regionOffset);
        final long foreign = pages - release(first, first + pages, ownerWord, zeroer);
        foreignOverwrites += foreign;
        return foreign;
    }

    /**
     * Zeroes, then releases, each stretch of pages in {@code [first, end)} whose entries hold exactly {@code word};
     * other entries are left alone. Zeroing comes first: once released, a page may be claimed by another peer at
     * once. Returns the number of pages released.
     */
    private long release(final long first, final long end, final long word, final Zeroer zeroer)
    {
        long released = 0;
        long p = first;
        while (p < end)
        {
            if (pageTable.getLongAcquire(entry(p)) != word)
            {
                p++;
                continue;
            }
            final long from = p;
            while (p < end && pageTable.getLongAcquire(entry(p)) == word)
            {
                p++;
            }
            zeroer.zero(layout.poolOffset() + from * layout.pageSize(), (p - from) * layout.pageSize());
            for (long q = from; q < p; q++)
            {
                if (pageTable.compareAndSetLong(entry(q), word, PageTableDescriptor.FREE))
                {
                    released++;
                }
            }
        }
        return released;
    }

    /**
     * True if this pool allocated exactly the run {@code [regionOffset, regionOffset + length)} (rounded up to
     * pages), judged by the private record only: unlike {@link #isOwnedBy}, another peer scribbling on the page
     * table cannot change the answer.
     */
    public synchronized boolean isAllocation(final long regionOffset, final long length)
    {
        if (!isRunStart(regionOffset) || length <= 0 || length > layout.poolBytes())
        {
            return false;
        }
        final Long pages = owned.get(firstPage(regionOffset));
        return pages != null && pages == roundUp(length) / layout.pageSize();
    }

    private boolean isRunStart(final long regionOffset)
    {
        return regionOffset >= layout.poolOffset() && (regionOffset - layout.poolOffset()) % layout.pageSize() == 0;
    }

    private long firstPage(final long regionOffset)
    {
        return (regionOffset - layout.poolOffset()) / layout.pageSize();
    }

    private long foreignOverwrites;

    /** Page-table entries found overwritten by another peer when freeing (evidence of a hostile peer). */
    public synchronized long foreignOverwrites()
    {
        return foreignOverwrites;
    }

    /** Free bytes of the whole shared pool, counted from the page table. */
    public long freeBytes()
    {
        long free = 0;
        for (long p = 0; p < layout.poolPages(); p++)
        {
            if (pageTable.getLongAcquire(entry(p)) == PageTableDescriptor.FREE)
            {
                free++;
            }
        }
        return free * layout.pageSize();
    }

    /** Bytes this peer holds. */
    public synchronized long ownedBytes()
    {
        long pages = 0;
        for (final long n : owned.values())
        {
            pages += n;
        }
        return pages * layout.pageSize();
    }

    /** True if every page of {@code [offset, offset+length)} is in the pool and owned by {@code peerId}. */
    public boolean isOwnedBy(final long offset, final long length, final int peerId)
    {
        if (offset < layout.poolOffset() || length <= 0 || (offset - layout.poolOffset()) % layout.pageSize() != 0 ||
            length > layout.poolBytes() || offset - layout.poolOffset() > layout.poolBytes() - length)
        {
            return false;
        }
        final long first = (offset - layout.poolOffset()) / layout.pageSize();
        final long pages = roundUp(length) / layout.pageSize();
        for (long p = first; p < first + pages; p++)
        {
            if (PageTableDescriptor.ownerPeer(pageTable.getLongAcquire(entry(p))) != peerId)
            {
                return false;
            }
        }
        return true;
    }

    /**
     * Moves every page this pool holds to the owner word of {@code sessionId}, our new session after a resync
     * (ABI.md "Resync"): the allocations stay ours, and peers that know only the new session see them as such.
     * An entry no longer holding our old word was overwritten by another peer: left alone and counted.
     */
    public synchronized void rebind(final int peerId, final long sessionId)
    {
        final long word = PageTableDescriptor.ownerWord(peerId, sessionId);
        for (final Map.Entry<Long, Long> run : owned.entrySet())
        {
            for (long p = run.getKey(); p < run.getKey() + run.getValue(); p++)
            {
                if (!pageTable.compareAndSetLong(entry(p), ownerWord, word))
                {
                    foreignOverwrites++;
                }
            }
        }
        ownerWord = word;
    }

    /** Clears the bytes of a run of pages before they are released (e.g. punches a hole in the region file). */
    @FunctionalInterface
    public interface Zeroer
    {
        void zero(long regionOffset, long length);
    }

    /**
     * Zeroes and releases every page whose owner word is exactly that of ({@code peerId}, {@code sessionId}), a
     * dead or restarted incarnation; pages of any other incarnation, a newer one of the same peer included,
     * are left alone. Each run is zeroed before its entries are released, since a released page may be
     * claimed by another peer at once. Returns the number of pages freed.
     */
    public long reclaimSession(final int peerId, final long sessionId, final Zeroer zeroer)
    {
        final long word = PageTableDescriptor.ownerWord(peerId, sessionId);
        if (word == ownerWord)
        {
            throw new IllegalArgumentException("reclaiming our own live session " + Long.toHexString(sessionId));
        }
        return release(0, layout.poolPages(), word, zeroer);
    }

    /** Claims pages from {@code start}; on conflict rolls back and returns the index of the busy page. */
    private long claimRun(final long start, final long pages)
    {
        for (long p = start; p < start + pages; p++)
        {
            if (!pageTable.compareAndSetLong(entry(p), PageTableDescriptor.FREE, ownerWord))
            {
                for (long q = start; q < p; q++)
                {
                    pageTable.compareAndSetLong(entry(q), ownerWord, PageTableDescriptor.FREE);
                }
                return p;
            }
        }
        return start + pages;
    }

    private int entry(final long page)
    {
        return (int)(page * PageTableDescriptor.ENTRY_LENGTH);
    }
}
