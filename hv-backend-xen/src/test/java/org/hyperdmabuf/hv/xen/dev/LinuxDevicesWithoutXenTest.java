package org.hyperdmabuf.hv.xen.dev;

import org.hyperdmabuf.hv.nativeio.Errno;
import org.hyperdmabuf.hv.nativeio.Native;
import org.hyperdmabuf.hv.nativeio.NativeIoException;
import org.hyperdmabuf.hv.xen.abi.GntallocDescriptor;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Paths;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

/**
 * The real device code on a machine without Xen: opening fails with a typed ENOENT naming the device, and the
 * JNR ioctl binding reaches the kernel (a Xen request on a non-Xen file is ENOTTY, not a crash or garbage).
 */
class LinuxDevicesWithoutXenTest
{
    @Test
    void openingAMissingDeviceIsATypedEnoent()
    {
        assumeFalse(Files.exists(Paths.get("/dev/xen")), "this host runs Xen");
        final NativeIoException e = assertThrows(NativeIoException.class, LinuxGntallocDevice::new);
        assertEquals(Errno.ENOENT, e.errno());
        assertThrows(NativeIoException.class, LinuxGntdevDevice::new);
        assertThrows(NativeIoException.class, LinuxEvtchnDevice::new);
        assertNotNull(LinuxXenDevices.missingDevices());
    }

    @Test
    void theIoctlBindingReachesTheKernel() throws Exception
    {
        final int fd = Native.check(Native.libc().open("/dev/null", Native.O_RDWR | Native.O_CLOEXEC, 0), "open");
        try
        {
            final ByteBuffer arg = ByteBuffer.allocateDirect(GntallocDescriptor.allocLength(1));
            final int r = Native.libc().ioctl(fd, GntallocDescriptor.IOCTL_ALLOC_GREF, Native.address(arg));
            assertEquals(-1, r);
            assertEquals(Errno.ENOTTY, Native.errno());
        }
        finally
        {
            Native.closeQuietly(fd);
        }
    }
}
