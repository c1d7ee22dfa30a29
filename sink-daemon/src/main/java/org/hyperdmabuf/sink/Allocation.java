package org.hyperdmabuf.sink;

import org.hyperdmabuf.daemon.ClientConnection;
import org.hyperdmabuf.hv.spi.BackendBuffer;

import java.util.HashMap;
import java.util.Map;

/** Memory a local producer allocated (ALLOC), and its exports by target VM. */
final class Allocation
{
    final long handle;
    final ClientConnection owner;
    final BackendBuffer buffer;
    /** The owner got a dma-buf (ALLOC dma_buf): it cannot reach the fence slot, so the daemon holds its wake bit. */
    final boolean dmaBuf;
    final Map<Integer, Export> exportsByTarget = new HashMap<>();
    boolean freed;
    boolean reclaimed;

    Allocation(final long handle, final ClientConnection owner, final BackendBuffer buffer, final boolean dmaBuf)
    {
        this.handle = handle;
        this.owner = owner;
        this.buffer = buffer;
        this.dmaBuf = dmaBuf;
    }

    int uid()
    {
        return owner.uid();
    }
}
