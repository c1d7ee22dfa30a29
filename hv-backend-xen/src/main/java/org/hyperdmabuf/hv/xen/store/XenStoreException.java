package org.hyperdmabuf.hv.xen.store;

import java.io.IOException;

/** A xenstore request failed: {@code error} is xenstored's errno name (ENOENT, EACCES, EAGAIN...) or EIO. */
public final class XenStoreException extends IOException
{
    private static final long serialVersionUID = 1L;

    private final String error;

    public XenStoreException(final String error, final String message)
    {
        super(message + ": " + error);
        this.error = error;
    }

    public String error()
    {
        return error;
    }
}
