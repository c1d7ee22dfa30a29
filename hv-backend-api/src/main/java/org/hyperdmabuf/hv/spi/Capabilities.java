package org.hyperdmabuf.hv.spi;

/**
 * What a backend can do, reported to clients by QUERY_CAPS.
 *
 * @param readOnlyEnforcement "hypervisor", "daemon" or "none": who stops a read-only importer from writing.
 * @param isolation           "per-buffer" (an importer reaches only buffers shared with it) or
 *                            "shared-region" (every peer of the region can reach all of it).
 */
public record Capabilities(String backend, int localVm, int pageSize, long maxBufferSize,
    String readOnlyEnforcement, String isolation, boolean guestToGuest, boolean doorbell)
{
}
