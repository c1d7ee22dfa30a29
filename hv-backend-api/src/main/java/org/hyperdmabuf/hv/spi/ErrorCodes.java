package org.hyperdmabuf.hv.spi;

import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.hv.nativeio.NativeIoException;

/**
 * The one mapping from a system call's errno to the ABI's {@link ErrorCode}. ErrorCode values equal Linux errno
 * values, so an errno the ABI lists keeps its cause; only an errno the ABI does not list becomes {@code EIO}. A
 * {@link NativeIoException}'s message names its errno: callers keep that message in the error they raise, so the
 * cause of an {@code EIO} stays visible.
 */
public final class ErrorCodes
{
    private ErrorCodes()
    {
    }

    /** The ABI code of {@code errno}; {@code EIO} for an errno the ABI does not list (and for the project's codes). */
    public static ErrorCode fromErrno(final int errno)
    {
        final ErrorCode code = errno > 0 && errno < FIRST_OWN_CODE ? ErrorCode.forNumber(errno) : null;
        return code == null ? ErrorCode.EIO : code;
    }

    /** The ABI code of a failed system call. */
    public static ErrorCode of(final NativeIoException e)
    {
        return fromErrno(e.errno());
    }

    /** The first of hyperdmabuf's own codes (EPEERLOST), which no errno may be taken for. */
    static final int FIRST_OWN_CODE = ErrorCode.EPEERLOST_VALUE;
}
