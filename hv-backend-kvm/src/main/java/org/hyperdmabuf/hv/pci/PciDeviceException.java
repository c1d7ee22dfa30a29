package org.hyperdmabuf.hv.pci;

import java.io.IOException;

/** A PCI device that cannot be found, chosen or used; {@link #error()} is an errno-like name for callers. */
public final class PciDeviceException extends IOException
{
    private static final long serialVersionUID = 1L;

    private final String error;

    public PciDeviceException(final String error, final String message)
    {
        super(message);
        this.error = error;
    }

    public PciDeviceException(final String error, final String message, final Throwable cause)
    {
        super(message, cause);
        this.error = error;
    }

    /** {@code ENODEV}, {@code EINVAL}, {@code EACCES}, {@code EIO}... */
    public String error()
    {
        return error;
    }
}
