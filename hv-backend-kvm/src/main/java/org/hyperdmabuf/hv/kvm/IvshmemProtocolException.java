package org.hyperdmabuf.hv.kvm;

import java.io.IOException;

/** The ivshmem server broke the protocol during setup (wrong version, bad id, no shared memory in time). */
public final class IvshmemProtocolException extends IOException
{
    private static final long serialVersionUID = 1L;

    public IvshmemProtocolException(final String message)
    {
        super(message);
    }
}
