package org.hyperdmabuf.hv.spi;

import org.hyperdmabuf.abi.v1.ErrorCode;

/**
 * A backend operation failed with the ABI error {@code code} (ENOSPC, EINVAL, ENOPEER, EIO...), which the daemon
 * answers its client with. Native failures get theirs from {@link ErrorCodes}.
 */
public final class BackendException extends Exception
{
    private static final long serialVersionUID = 1L;

    private final ErrorCode code;

    public BackendException(final ErrorCode code, final String message)
    {
        super(message);
        this.code = code;
    }

    public BackendException(final ErrorCode code, final String message, final Throwable cause)
    {
        super(message, cause);
        this.code = code;
    }

    public ErrorCode code()
    {
        return code;
    }
}
