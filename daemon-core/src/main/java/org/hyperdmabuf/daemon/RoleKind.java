package org.hyperdmabuf.daemon;

import org.hyperdmabuf.abi.v1.Request;
import org.hyperdmabuf.hv.shm.PeerSlotDescriptor;

import java.util.EnumSet;
import java.util.Set;

/**
 * The roles a daemon can play (ABI.md, the table of operations): what each announces to other VMs and which
 * requests it serves. A fence request is served by the role of its buffer's origin.
 */
public enum RoleKind
{
    /** The producer side: allocates, exports, and serves the fences of the buffers this VM exported. */
    SINK("sink", PeerSlotDescriptor.ROLE_SINK, EnumSet.of(Request.OpCase.ALLOC, Request.OpCase.EXPORT,
        Request.OpCase.UNEXPORT, Request.OpCase.FREE), BufferOrigin.EXPORTED_HERE),
    /** The consumer side: imports, and serves the fences of the buffers other VMs exported to this one. */
    SOURCE("source", PeerSlotDescriptor.ROLE_SOURCE, EnumSet.of(Request.OpCase.IMPORT, Request.OpCase.RELEASE),
        BufferOrigin.EXPORTED_ELSEWHERE);

    private final String text;
    private final int roleBit;
    private final Set<Request.OpCase> operations;
    private final BufferOrigin fenceBuffers;

    RoleKind(final String text, final int roleBit, final Set<Request.OpCase> operations,
        final BufferOrigin fenceBuffers)
    {
        this.text = text;
        this.roleBit = roleBit;
        this.operations = operations;
        this.fenceBuffers = fenceBuffers;
    }

    /** The role's name on the wire (Caps.roles, Target.roles) and in logs. */
    public String text()
    {
        return text;
    }

    /** The PeerSlotDescriptor role bit announced to other VMs. */
    public int roleBit()
    {
        return roleBit;
    }

    /** Whether the role serves operation {@code op} (the fence operations aside: see {@link #fenceBuffers()}). */
    public boolean serves(final Request.OpCase op)
    {
        return operations.contains(op);
    }

    /** The buffers whose fence requests (FENCE_SIGNAL, FENCE_WAIT, FENCE_DOORBELL, FENCE_WAKE) the role serves. */
    public BufferOrigin fenceBuffers()
    {
        return fenceBuffers;
    }

    /** The role serving the fences of buffers of {@code origin}. */
    public static RoleKind servingFencesOf(final BufferOrigin origin)
    {
        return origin == BufferOrigin.EXPORTED_HERE ? SINK : SOURCE;
    }
}
