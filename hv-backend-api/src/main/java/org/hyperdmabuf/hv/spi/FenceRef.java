package org.hyperdmabuf.hv.spi;

/**
 * A fence slot allocated by this backend: its index in the fence table (what the export message carries) and
 * its byte offset in the shared region (what a client maps, from the same fd as the buffer).
 */
public record FenceRef(int index, long regionOffset)
{
}
