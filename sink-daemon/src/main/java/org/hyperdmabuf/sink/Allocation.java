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
    final Map<Integer, Export> exportsByTarget = new HashMap<>();
    boolean freed;
    boolean reclaimed;

    Allocation(final long handle, final ClientConnection owner, final BackendBuffer buffer)
    {
        this.handle = handle;
        this.owner = owner;
        this.buffer = buffer;
    }

    int uid()
    {
        return owner.uid();
    }
}
