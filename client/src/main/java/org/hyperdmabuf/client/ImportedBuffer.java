package org.hyperdmabuf.client;

import org.hyperdmabuf.abi.v1.BufferId;
import org.hyperdmabuf.abi.v1.Metadata;

/** A buffer imported from another VM: the consumer's mapping and the metadata at import time. */
public record ImportedBuffer(BufferId id, SharedBuffer buffer, Metadata metadata) implements AutoCloseable
{
    /** Unmaps locally; call {@link HdmabufClient#release} to drop the import. */
    @Override
    public void close()
    {
        buffer.close();
    }
}
