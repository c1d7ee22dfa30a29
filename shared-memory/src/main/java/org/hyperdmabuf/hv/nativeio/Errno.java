package org.hyperdmabuf.hv.nativeio;

/** errno values the native layer branches on, and names for messages. */
public final class Errno
{
    public static final int EPERM = 1;
    public static final int ENOENT = 2;
    public static final int ESRCH = 3;
    public static final int EINTR = 4;
    public static final int EIO = 5;
    public static final int ENXIO = 6;
    public static final int E2BIG = 7;
    public static final int EBADF = 9;
    public static final int EAGAIN = 11;
    public static final int ENOMEM = 12;
    public static final int EACCES = 13;
    public static final int EFAULT = 14;
    public static final int EBUSY = 16;
    public static final int EEXIST = 17;
    public static final int ENODEV = 19;
    public static final int EINVAL = 22;
    public static final int ENFILE = 23;
    public static final int EMFILE = 24;
    public static final int ENOTTY = 25;
    public static final int ENOSPC = 28;
    public static final int EROFS = 30;
    public static final int EPIPE = 32;
    public static final int ENOSYS = 38;
    public static final int EPROTO = 71;
    public static final int EBADMSG = 74;
    public static final int EOVERFLOW = 75;
    public static final int ENOTSOCK = 88;
    public static final int EMSGSIZE = 90;
    /** ENOTSUP and EOPNOTSUPP are one value on Linux. */
    public static final int EOPNOTSUPP = 95;
    public static final int EADDRINUSE = 98;
    public static final int ECONNRESET = 104;
    public static final int ENOTCONN = 107;
    public static final int ETIMEDOUT = 110;
    public static final int ECONNREFUSED = 111;
    public static final int EDQUOT = 122;

    private Errno()
    {
    }

    public static String name(final int errno)
    {
        switch (errno)
        {
            case EPERM: return "EPERM";
            case ENOENT: return "ENOENT";
            case ESRCH: return "ESRCH";
            case EINTR: return "EINTR";
            case EIO: return "EIO";
            case ENXIO: return "ENXIO";
            case E2BIG: return "E2BIG";
            case EBADF: return "EBADF";
            case EAGAIN: return "EAGAIN";
            case ENOMEM: return "ENOMEM";
            case EACCES: return "EACCES";
            case EFAULT: return "EFAULT";
            case EBUSY: return "EBUSY";
            case EEXIST: return "EEXIST";
            case ENODEV: return "ENODEV";
            case EINVAL: return "EINVAL";
            case ENFILE: return "ENFILE";
            case EMFILE: return "EMFILE";
            case ENOTTY: return "ENOTTY";
            case ENOSPC: return "ENOSPC";
            case EROFS: return "EROFS";
            case EPIPE: return "EPIPE";
            case ENOSYS: return "ENOSYS";
            case EPROTO: return "EPROTO";
            case EBADMSG: return "EBADMSG";
            case EOVERFLOW: return "EOVERFLOW";
            case ENOTSOCK: return "ENOTSOCK";
            case EMSGSIZE: return "EMSGSIZE";
            case EOPNOTSUPP: return "EOPNOTSUPP";
            case EADDRINUSE: return "EADDRINUSE";
            case ECONNRESET: return "ECONNRESET";
            case ENOTCONN: return "ENOTCONN";
            case ETIMEDOUT: return "ETIMEDOUT";
            case ECONNREFUSED: return "ECONNREFUSED";
            case EDQUOT: return "EDQUOT";
            default: return "errno " + errno;
        }
    }
}
