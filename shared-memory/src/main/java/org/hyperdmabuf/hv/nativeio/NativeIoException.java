package org.hyperdmabuf.hv.nativeio;

import java.io.IOException;

/** A failed system call: the operation and its errno, mapped to a name like {@code ENOSPC}. */
public final class NativeIoException extends IOException
{
    private static final long serialVersionUID = 1L;

    private final int errno;

    public NativeIoException(final String op, final int errno)
    {
        super(op + " failed: " + Errno.name(errno) + " (" + errno + ")");
        this.errno = errno;
    }

    /** {@code op failed: ENOSPC (28): detail}, for a refusal that is ours, with the numbers behind it. */
    public NativeIoException(final String op, final int errno, final String detail)
    {
        super(op + " failed: " + Errno.name(errno) + " (" + errno + "): " + detail);
        this.errno = errno;
    }

    public int errno()
    {
        return errno;
    }

    public String errnoName()
    {
        return Errno.name(errno);
    }
}
