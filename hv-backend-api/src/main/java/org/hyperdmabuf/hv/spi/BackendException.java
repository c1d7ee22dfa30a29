package org.hyperdmabuf.hv.spi;

/** A backend operation failed; {@code error} is the ABI error name (ENOSPC, EINVAL, ENOPEER, EIO...). */
public final class BackendException extends Exception
{
    private static final long serialVersionUID = 1L;

    private final String error;

    public BackendException(final String error, final String message)
    {
        super(message);
        this.error = error;
    }

    public BackendException(final String error, final String message, final Throwable cause)
    {
        super(message, cause);
        this.error = error;
    }

    public String error()
    {
        return error;
    }
}
