package org.hyperdmabuf.hv.spi;

/**
 * What an importer needs to reach shared memory, as carried in the export message: for ivshmem, the
 * region offset and length; for Xen, the first grant ref of the page directory and the page count.
 */
public record ShareRef(long offset, long length)
{
}
