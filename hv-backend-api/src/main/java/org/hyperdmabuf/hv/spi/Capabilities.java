package org.hyperdmabuf.hv.spi;

/**
 * What a backend can do, reported to clients by QUERY_CAPS.
 *
 * @param readOnlyEnforcement "hypervisor", "daemon" or "none": who stops a read-only importer from writing.
 * @param isolation           "per-buffer" (an importer reaches only buffers shared with it) or
 *                            "shared-region" (every peer of the region can reach all of it).
 * @param doorbell            whether this backend can ring its peers (interrupt them).
 * @param notification        how this backend learns that a peer wrote to it: {@link #NOTIFY_INTERRUPT}
 *                            (an event channel or doorbell interrupt), {@link #NOTIFY_EVENTFD} (ivshmem server
 *                            eventfds) or {@link #NOTIFY_POLLING} (shared memory polled with an adaptive idle
 *                            strategy, e.g. in a guest where doorbell interrupts cannot reach userspace).
 */
public record Capabilities(String backend, int localVm, int pageSize, long maxBufferSize,
    String readOnlyEnforcement, String isolation, boolean guestToGuest, boolean doorbell, String notification)
{
    public static final String NOTIFY_INTERRUPT = "interrupt";
    public static final String NOTIFY_EVENTFD = "eventfd";
    public static final String NOTIFY_POLLING = "polling";

    /** Backends that are rung by interrupts when they have a doorbell and poll otherwise. */
    public Capabilities(final String backend, final int localVm, final int pageSize, final long maxBufferSize,
        final String readOnlyEnforcement, final String isolation, final boolean guestToGuest, final boolean doorbell)
    {
        this(backend, localVm, pageSize, maxBufferSize, readOnlyEnforcement, isolation, guestToGuest, doorbell,
            doorbell ? NOTIFY_INTERRUPT : NOTIFY_POLLING);
    }
}
