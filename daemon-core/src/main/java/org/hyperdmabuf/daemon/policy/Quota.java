package org.hyperdmabuf.daemon.policy;

/**
 * Limits on pinned shareable memory (like the kernel's mlock accounting): bytes and buffer count.
 * {@link #UNLIMITED} where the policy sets none.
 */
public record Quota(long maxBytes, long maxBuffers)
{
    public static final Quota UNLIMITED = new Quota(Long.MAX_VALUE, Long.MAX_VALUE);

    /** Whether adding one buffer of {@code bytes} to a usage of {@code usedBytes}/{@code usedBuffers} fits. */
    public boolean admits(final long usedBytes, final long usedBuffers, final long bytes)
    {
        return usedBuffers + 1 <= maxBuffers && bytes <= maxBytes - usedBytes;
    }
}
