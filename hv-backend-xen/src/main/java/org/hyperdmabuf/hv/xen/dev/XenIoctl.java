package org.hyperdmabuf.hv.xen.dev;

import jnr.ffi.LibraryLoader;
import jnr.ffi.Platform;
import jnr.ffi.types.intptr_t;

/**
 * libc's {@code ioctl(int, unsigned long, void *)} for the Xen device files. Every Xen request number is below
 * 2^31 and the argument is always a pointer, so the variadic call is passed as three fixed integer registers.
 */
public interface XenIoctl
{
    int ioctl(int fd, long request, @intptr_t long arg);

    /** The loaded binding; lazily, so merely loading the Xen classes never touches native code. */
    static XenIoctl get()
    {
        return Holder.INSTANCE;
    }

    final class Holder
    {
        static final XenIoctl INSTANCE = LibraryLoader.create(XenIoctl.class).failImmediately()
            .load(Platform.getNativePlatform().getStandardCLibraryName());

        private Holder()
        {
        }
    }
}
