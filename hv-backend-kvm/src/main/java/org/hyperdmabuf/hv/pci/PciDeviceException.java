package org.hyperdmabuf.hv.pci;

import org.hyperdmabuf.abi.v1.ErrorCode;

import java.io.IOException;

/** A PCI device that cannot be found, chosen or used; {@link #code()} is the ABI error callers report. */
public final class PciDeviceException extends IOException
{
    private static final long serialVersionUID = 1L;

    private final ErrorCode code;

    public PciDeviceException(final ErrorCode code, final String message)
    {
        super(message);
        this.code = code;
    }

    public PciDeviceException(final ErrorCode code, final String message, final Throwable cause)
    {
        super(message, cause);
        this.code = code;
    }

    /** {@code ENODEV}, {@code EINVAL}, {@code EACCES}, {@code EIO}... */
    public ErrorCode code()
    {
        return code;
    }
}
