package org.hyperdmabuf.client;

import edu.umd.cs.findbugs.annotations.SuppressFBWarnings;
import org.hyperdmabuf.abi.v1.BufferId;
import org.hyperdmabuf.abi.v1.Metadata;
import org.hyperdmabuf.hv.nativeio.Native;

/**
 * A buffer imported as a dma-buf of exactly its pages (ABI.md "Dma-buf imports"): the dma-buf fd, to hand to a
 * GPU, encoder or compositor, and this process's read-write mapping of it. The dma-buf does not reach the fence
 * slot: signal and wait with {@link HdmabufClient#fenceSignal} and {@link HdmabufClient#fenceWait}.
 */
@SuppressFBWarnings(value = {"EI_EXPOSE_REP", "EI_EXPOSE_REP2"},
    justification = "the id and metadata are protobuf messages, immutable; the buffer is the caller's to use")
public record DmaBufImport(BufferId id, int dmaBufFd, SharedBuffer buffer, Metadata metadata)
    implements AutoCloseable
{
    /** Unmaps and closes the dma-buf fd; call {@link HdmabufClient#release} to drop the import. */
    @Override
    public void close()
    {
        buffer.close();
        Native.closeQuietly(dmaBufFd);
    }
}
