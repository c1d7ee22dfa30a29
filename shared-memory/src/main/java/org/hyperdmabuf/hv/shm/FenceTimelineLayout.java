package org.hyperdmabuf.hv.shm;

/**
 * Where one timeline's words sit in a fence slot ({@link FenceSlotDescriptor}): the one place the client library
 * and the daemons take them from. The acquire timeline is signalled by the exporting side, the release timeline
 * by the importing side.
 */
public record FenceTimelineLayout(int value, int error, int waiters, int wake)
{
    public static final FenceTimelineLayout ACQUIRE = new FenceTimelineLayout(FenceSlotDescriptor.ACQUIRE_VALUE_OFFSET,
        FenceSlotDescriptor.ACQUIRE_ERROR_OFFSET, FenceSlotDescriptor.ACQUIRE_WAITERS_OFFSET,
        FenceSlotDescriptor.ACQUIRE_WAKE_OFFSET);
    public static final FenceTimelineLayout RELEASE = new FenceTimelineLayout(FenceSlotDescriptor.RELEASE_VALUE_OFFSET,
        FenceSlotDescriptor.RELEASE_ERROR_OFFSET, FenceSlotDescriptor.RELEASE_WAITERS_OFFSET,
        FenceSlotDescriptor.RELEASE_WAKE_OFFSET);

    /** The acquire timeline if {@code acquire}, else the release one. */
    public static FenceTimelineLayout of(final boolean acquire)
    {
        return acquire ? ACQUIRE : RELEASE;
    }
}
