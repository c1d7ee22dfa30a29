package org.hyperdmabuf.client;

/** Memory the sink allocated for this producer: its handle and the producer's mapping of it. */
public record Allocation(long handle, SharedBuffer buffer) implements AutoCloseable
{
    /** Unmaps locally; the allocation itself lives until FREE or disconnect. */
    @Override
    public void close()
    {
        buffer.close();
    }
}
