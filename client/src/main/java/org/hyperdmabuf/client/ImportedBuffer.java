package org.hyperdmabuf.client;

import edu.umd.cs.findbugs.annotations.SuppressFBWarnings;
import org.hyperdmabuf.abi.v1.BufferId;
import org.hyperdmabuf.abi.v1.Metadata;

/**
 * A buffer imported from another VM: the consumer's mapping, the metadata at import time, and the
 * buffer's fence (the consumer side: waits on acquire, signals release).
 */
@SuppressFBWarnings(value = {"EI_EXPOSE_REP", "EI_EXPOSE_REP2"},
    justification = "the id and metadata are protobuf messages, immutable; the buffer and fence are the caller's to use")
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
