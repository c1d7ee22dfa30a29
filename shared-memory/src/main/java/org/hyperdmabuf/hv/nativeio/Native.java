package org.hyperdmabuf.hv.nativeio;

import edu.umd.cs.findbugs.annotations.SuppressFBWarnings;

import com.kenai.jffi.LastError;
import com.kenai.jffi.Library;
import com.kenai.jffi.MemoryIO;
import com.kenai.jffi.Platform;

import java.nio.ByteBuffer;

/**
 * Entry point of the native layer: the loaded {@link LibC}, errno access and raw-memory helpers.
 * Like netty's {@code Epoll}, availability is queryable with {@link #isAvailable()} and
 * {@link #unavailabilityCause()} instead of failing at class-load time.
 */
public final class Native
{
    /** Linux constants used by the native layer (x86-64 and aarch64 agree on all of them). */
    public static final int AF_UNIX = 1;
    public static final int SOCK_STREAM = 1;
    public static final int SOCK_NONBLOCK = 0x800;
    public static final int SOCK_CLOEXEC = 0x80000;
    public static final int SOL_SOCKET = 1;
    public static final int SCM_RIGHTS = 1;
    public static final int SO_PEERCRED = 17;
    public static final int MSG_NOSIGNAL = 0x4000;
    public static final int MSG_DONTWAIT = 0x40;
    public static final int MSG_CMSG_CLOEXEC = 0x40000000;
    public static final int MSG_CTRUNC = 0x8;
    public static final int PROT_READ = 1;
    public static final int PROT_WRITE = 2;
    public static final int MAP_SHARED = 1;
    public static final long MAP_FAILED = -1L;
    public static final int MFD_CLOEXEC = 1;
    public static final int MFD_ALLOW_SEALING = 2;
    public static final int F_ADD_SEALS = 1033;
    public static final int F_GET_SEALS = 1034;
    public static final int F_SEAL_SHRINK = 0x2;
    public static final int F_SEAL_WRITE = 0x8;
    public static final int F_SEAL_FUTURE_WRITE = 0x10;
    public static final int MADV_POPULATE_WRITE = 23;
    public static final int EFD_CLOEXEC = 0x80000;
    public static final int EFD_NONBLOCK = 0x800;
    public static final int O_RDONLY = 0;
    public static final int O_RDWR = 2;
    public static final int O_CLOEXEC = 0x80000;
    public static final int F_GETFL = 3;
    public static final int F_SETFL = 4;
    /** fcntl: duplicate to the lowest free fd with FD_CLOEXEC. */
    public static final int F_DUPFD_CLOEXEC = 1030;
    public static final int O_NONBLOCK = 0x800;
    public static final int SEEK_END = 2;
    public static final int FALLOC_FL_KEEP_SIZE = 1;
    public static final int FALLOC_FL_PUNCH_HOLE = 2;
    public static final short POLLIN = 0x1;
    public static final short POLLERR = 0x8;
    public static final short POLLHUP = 0x10;
    public static final short POLLNVAL = 0x20;
    public static final int SHUT_RDWR = 2;

    private static final LibC LIBC;
    private static final Throwable UNAVAILABILITY_CAUSE;

    static
    {
        LibC lib = null;
        Throwable cause = null;
        try
        {
            final Platform platform = Platform.getPlatform();
            if (platform.getOS() != Platform.OS.LINUX || platform.addressSize() != Long.SIZE)
            {
                throw new UnsupportedOperationException("hyperdmabuf needs 64-bit Linux, found " +
                    platform.getOS() + "/" + platform.getCPU());
            }
            // The process's global symbols: the C library the JVM itself runs on, whatever its file name.
            lib = new LibC(Library.getDefault());
        }
        catch (final Throwable t)
        {
            cause = t;
        }
        LIBC = lib;
        UNAVAILABILITY_CAUSE = cause;
    }

    private Native()
    {
    }

    public static boolean isAvailable()
    {
        return UNAVAILABILITY_CAUSE == null;
    }

    @SuppressFBWarnings(value = "MS_EXPOSE_REP",
        justification = "the load failure, handed out to be reported")
    public static Throwable unavailabilityCause()
    {
        return UNAVAILABILITY_CAUSE;
    }

    public static void ensureAvailability()
    {
        if (UNAVAILABILITY_CAUSE != null)
        {
            throw new IllegalStateException("native layer unavailable", UNAVAILABILITY_CAUSE);
        }
    }

    @SuppressFBWarnings(value = "MS_EXPOSE_REP",
        justification = "the one libc binding, stateless, shared by every caller")
    public static LibC libc()
    {
        ensureAvailability();
        return LIBC;
    }

    /** errno of the last failed call on this thread. Only meaningful right after a failure. */
    public static int errno()
    {
        return LastError.getInstance().get();
    }

    /** Throws a {@link NativeIoException} for the current errno if {@code result < 0}. */
    public static long check(final long result, final String op) throws NativeIoException
    {
        if (result < 0)
        {
            throw new NativeIoException(op, errno());
        }
        return result;
    }

    public static int check(final int result, final String op) throws NativeIoException
    {
        if (result < 0)
        {
            throw new NativeIoException(op, errno());
        }
        return result;
    }

    /** Native address of a direct buffer's first byte. */
    public static long address(final ByteBuffer direct)
    {
        if (!direct.isDirect())
        {
            throw new IllegalArgumentException("buffer must be direct");
        }
        return MemoryIO.getInstance().getDirectBufferAddress(direct);
    }

    /** A direct ByteBuffer viewing {@code length} bytes of native memory at {@code address}. */
    public static ByteBuffer wrap(final long address, final int length)
    {
        return MemoryIO.getInstance().newDirectByteBuffer(address, length);
    }

    /** Closes an fd, ignoring errors; for cleanup paths. */
    public static void closeQuietly(final int fd)
    {
        if (fd >= 0)
        {
            libc().close(fd);
        }
    }
}
