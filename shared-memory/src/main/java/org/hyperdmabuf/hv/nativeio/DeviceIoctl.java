package org.hyperdmabuf.hv.nativeio;

import jnr.ffi.LibraryLoader;
import jnr.ffi.Platform;
import jnr.ffi.types.intptr_t;

/**
 * libc's {@code ioctl(int, unsigned long, void *)} for device files whose argument is always a pointer (udmabuf,
 * dma-buf): the variadic call is passed as three fixed integer registers.
 */
public interface DeviceIoctl
{
    int ioctl(int fd, long request, @intptr_t long arg);

    /** The loaded binding; lazily, so loading the classes that use it never touches native code. */
    static DeviceIoctl get()
    {
        return Holder.INSTANCE;
    }

    final class Holder
    {
        static final DeviceIoctl INSTANCE = LibraryLoader.create(DeviceIoctl.class).failImmediately()
            .load(Platform.getNativePlatform().getStandardCLibraryName());

        private Holder()
        {
        }
    }
}
