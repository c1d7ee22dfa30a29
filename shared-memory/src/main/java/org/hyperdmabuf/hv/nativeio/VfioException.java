package org.hyperdmabuf.hv.nativeio;

import java.io.IOException;

/** A vfio step that failed: which {@link Kind} of failure (what the user changes), the message and the errno. */
public final class VfioException extends IOException
{
    private static final long serialVersionUID = 1L;

    /** What went wrong, from the user's side. */
    public enum Kind
    {
        /** No vfio in this kernel (modules not loaded) or an API version we do not speak. */
        UNAVAILABLE,
        /** No IOMMU type the container accepts, or interrupt remapping missing. */
        NO_IOMMU,
        /** Another process holds the group (EBUSY on open). */
        BUSY,
        /** The group file is not accessible to this user. */
        PERMISSION,
        /** The group has devices not bound to vfio drivers. */
        NOT_VIABLE,
        /** A device-level ioctl failed. */
        DEVICE
    }

    private final Kind kind;
    private final int errno;

    public VfioException(final Kind kind, final String message, final int errno)
    {
        super(message + (errno != 0 ? " (" + Errno.name(errno) + ")" : ""));
        this.kind = kind;
        this.errno = errno;
    }

    public Kind kind()
    {
        return kind;
    }

    /** The errno of the failed call; 0 when the failure was a check of ours. */
    public int errno()
    {
        return errno;
    }
}
