package org.hyperdmabuf.daemon;

import org.hyperdmabuf.abi.v1.BufferId;

/** Where a buffer a request names comes from, seen from this VM: which role serves its fences. */
public enum BufferOrigin
{
    /** Exported by this VM: the exporter's side ({@link RoleKind#SINK}) serves its fences. */
    EXPORTED_HERE,
    /** Exported by another VM: the importer's side ({@link RoleKind#SOURCE}) serves its fences. */
    EXPORTED_ELSEWHERE;

    /** Where {@code id} comes from, for a daemon on VM {@code localVm}. */
    public static BufferOrigin of(final BufferId id, final int localVm)
    {
        return id.getExporterVm() == localVm ? EXPORTED_HERE : EXPORTED_ELSEWHERE;
    }
}
