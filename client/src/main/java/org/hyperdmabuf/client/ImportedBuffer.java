package org.hyperdmabuf.client;

import org.hyperdmabuf.abi.v1.BufferId;
import org.hyperdmabuf.abi.v1.Metadata;

/**
 * A buffer imported from another VM: the consumer's mapping, the metadata at import time, and the
 * buffer's fence (the consumer side: waits on acquire, signals release).
 */
public record ImportedBuffer(BufferId id, SharedBuffer buffer, Metadata metadata, Fence fence) implements AutoCloseable
{
    /** Unmaps locally; call {@link HdmabufClient#release} to drop the import. */
    @Override
    public void close()
    {
        buffer.close();
        fence.close();
    }
}
