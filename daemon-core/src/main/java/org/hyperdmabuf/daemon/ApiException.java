package org.hyperdmabuf.daemon;

import org.hyperdmabuf.abi.v1.ErrorCode;

/** A request failed with a typed error; the message tells the client what was wrong with its input. */
public final class ApiException extends Exception
{
    private static final long serialVersionUID = 1L;

    private final ErrorCode code;

    public ApiException(final ErrorCode code, final String message)
    {
        super(message);
        this.code = code;
    }

    public ErrorCode code()
    {
        return code;
    }
}
