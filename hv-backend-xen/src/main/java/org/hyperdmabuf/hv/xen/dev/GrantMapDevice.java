package org.hyperdmabuf.hv.xen.dev;

import org.hyperdmabuf.hv.nativeio.NativeIoException;

/**
 * One open gntdev file (device boundary): maps grants of a foreign domain. MAP_GRANT_REF records the refs and
 * returns an index; mmap of {@link #fd()} at that index with PROT_READ only is a read-only map, which is the
 * only kind a read-only grant allows. Implemented by {@link LinuxGntdevDevice} on Xen and by an emulation.
 */
public interface GrantMapDevice extends AutoCloseable
{
    int fd();

    /** MAP_GRANT_REF of {@code count} refs granted by {@code granterDomid}; returns the mmap offset. */
    long map(int granterDomid, int[] refs, int count) throws NativeIoException;

    /** UNMAP_GRANT_REF of a range returned by {@link #map}, after munmap. */
    void unmap(long index, int count) throws NativeIoException;

    @Override
    void close();
}
