package org.hyperdmabuf.hv.xen.dev;

import org.hyperdmabuf.hv.nativeio.NativeIoException;

/**
 * One open gntalloc file (device boundary): the pages it grants are reachable by mmap of {@link #fd()} at the
 * index ALLOC_GREF returned, and by nothing else, so handing this fd to a client exposes just these pages.
 * Implemented by {@link LinuxGntallocDevice} on Xen and by an emulation in tests.
 */
public interface GrantAllocDevice extends AutoCloseable
{
    int fd();

    /**
     * ALLOC_GREF: {@code count} zeroed pages granted to {@code granteeDomid} only, read-only unless
     * {@code writable}; writes the refs to {@code refsOut} and returns the mmap offset. ENOSPC past the global
     * page limit.
     */
    long allocate(int granteeDomid, int count, boolean writable, int[] refsOut) throws NativeIoException;

    /**
     * DEALLOC_GREF: drops the file's reference; the grants end when the last mapping goes (access still mapped by
     * the grantee is ended later, when it unmaps).
     */
    void deallocate(long index, int count) throws NativeIoException;

    @Override
    void close();
}
