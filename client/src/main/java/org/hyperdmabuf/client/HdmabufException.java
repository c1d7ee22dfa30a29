package org.hyperdmabuf.client;

import org.hyperdmabuf.abi.v1.ErrorCode;

import java.io.IOException;

/** A request answered with an error, or a connection that failed; {@link #code()} is the ABI error code. */
public final class HdmabufException extends IOException
{
    private static final long serialVersionUID = 1L;

    private final ErrorCode code;

    public HdmabufException(final ErrorCode code, final String message)
    {
        super(code + ": " + message);
        this.code = code;
    }

    public HdmabufException(final ErrorCode code, final String message, final Throwable cause)
    {
        super(code + ": " + message, cause);
        this.code = code;
    }

    public ErrorCode code()
    {
        return code;
    }
}
