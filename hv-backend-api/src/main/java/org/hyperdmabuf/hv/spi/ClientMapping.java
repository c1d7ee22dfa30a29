package org.hyperdmabuf.hv.spi;

/**
 * A mapping handed to a local client: mmap({@code fd}, {@code offset}, {@code length}). The fd is new and
 * owned by whoever holds this record. A read-only mapping's fd cannot be mapped writable.
 */
public record ClientMapping(int fd, long offset, long length, boolean readOnly)
{
}
