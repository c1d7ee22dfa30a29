package org.hyperdmabuf.hv.nativeio;

import com.kenai.jffi.CallContext;
import com.kenai.jffi.CallingConvention;
import com.kenai.jffi.Invoker;
import com.kenai.jffi.Library;
import com.kenai.jffi.MemoryIO;
import com.kenai.jffi.Type;

import java.nio.charset.StandardCharsets;

/**
 * The libc functions hyperdmabuf needs beyond the JDK: memfd, eventfd, mmap and Unix sockets with
 * {@code SCM_RIGHTS}, called through jffi, JNR's foreign-call layer: each function is its symbol's address and a
 * call context made once, and a call is one of jffi's native invokers with the arguments as 64-bit integers
 * (jnr-ffi, which builds on jffi, generated a class and native stubs for the same binding at every start: about
 * 130 ms of CPU, a third of a daemon's start-up). Pointers are raw addresses ({@code long}), so callers use
 * pre-allocated native scratch memory and no call allocates; a path ({@code String}) is copied to native memory
 * as UTF-8 for the call. Every context saves errno, which {@link Native#errno()} reads right after a failing call.
 * <p>
 * Use {@link Native#libc()}. Argument types in comments are C's: an {@code int} result takes the low 32 bits of
 * the register, as the C ABI defines it.
 */
public final class LibC
{
    private static final Invoker INVOKER = Invoker.getInstance();

    private final Function close;
    private final Function read;
    private final Function write;
    private final Function memfdCreate;
    private final Function ftruncate;
    private final Function fallocate;
    private final Function lseek;
    private final Function mmap;
    private final Function munmap;
    private final Function madvise;
    private final Function eventfd;
    private final Function socket;
    private final Function bind;
    private final Function listen;
    private final Function accept4;
    private final Function connect;
    private final Function shutdown;
    private final Function sendmsg;
    private final Function recvmsg;
    private final Function poll;
    private final Function fcntl;
    private final Function dup;
    private final Function open;
    private final Function unlink;
    private final Function chmod;
    private final Function getsockopt;
    private final Function getpid;
    private final Function ioctl;
    private final Function pread;
    private final Function pwrite;

    /** Binds every function in {@code library}; a missing one fails here (UnsatisfiedLinkError), not at its call. */
    LibC(final Library library)
    {
        final Type i = Type.SINT;
        final Type l = Type.SLONG;
        final Type p = Type.POINTER;
        final Type z = Type.ULONG;
        close = new Function(library, "close", i, i);
        read = new Function(library, "read", l, i, p, z);
        write = new Function(library, "write", l, i, p, z);
        memfdCreate = new Function(library, "memfd_create", i, p, Type.UINT);
        ftruncate = new Function(library, "ftruncate", i, i, l);
        fallocate = new Function(library, "fallocate", i, i, i, l, l);
        lseek = new Function(library, "lseek", l, i, l, i);
        mmap = new Function(library, "mmap", p, p, z, i, i, i, l);
        munmap = new Function(library, "munmap", i, p, z);
        madvise = new Function(library, "madvise", i, p, z, i);
        eventfd = new Function(library, "eventfd", i, Type.UINT, i);
        socket = new Function(library, "socket", i, i, i, i);
        bind = new Function(library, "bind", i, i, p, Type.UINT);
        listen = new Function(library, "listen", i, i, i);
        accept4 = new Function(library, "accept4", i, i, p, p, i);
        connect = new Function(library, "connect", i, i, p, Type.UINT);
        shutdown = new Function(library, "shutdown", i, i, i);
        sendmsg = new Function(library, "sendmsg", l, i, p, i);
        recvmsg = new Function(library, "recvmsg", l, i, p, i);
        poll = new Function(library, "poll", i, p, z, i);
        fcntl = new Function(library, "fcntl", i, i, i, i);
        dup = new Function(library, "dup", i, i);
        open = new Function(library, "open", i, p, i, Type.UINT);
        unlink = new Function(library, "unlink", i, p);
        chmod = new Function(library, "chmod", i, p, Type.UINT);
        getsockopt = new Function(library, "getsockopt", i, i, i, i, p, p);
        getpid = new Function(library, "getpid", i);
        ioctl = new Function(library, "ioctl", i, i, z, p);
        pread = new Function(library, "pread", l, i, p, z, l);
        pwrite = new Function(library, "pwrite", l, i, p, z, l);
    }

    public int close(final int fd)
    {
        return (int)close.call(fd);
    }

    /** {@code ssize_t read(int fd, void *buf, size_t count)}. */
    public long read(final int fd, final long buf, final long count)
    {
        return read.call(fd, buf, count);
    }

    /** {@code ssize_t write(int fd, const void *buf, size_t count)}. */
    public long write(final int fd, final long buf, final long count)
    {
        return write.call(fd, buf, count);
    }

    public int memfd_create(final String name, final int flags)
    {
        return memfdCreate.callWithPath(name, flags, 0);
    }

    /** {@code int ftruncate(int fd, off_t length)}. */
    public int ftruncate(final int fd, final long length)
    {
        return (int)ftruncate.call(fd, length);
    }

    /** {@code int fallocate(int fd, int mode, off_t offset, off_t len)}. */
    public int fallocate(final int fd, final int mode, final long offset, final long length)
    {
        return (int)fallocate.call(fd, mode, offset, length);
    }

    /** {@code off_t lseek(int fd, off_t offset, int whence)}. */
    public long lseek(final int fd, final long offset, final int whence)
    {
        return lseek.call(fd, offset, whence);
    }

    /** {@code void *mmap(void *addr, size_t length, int prot, int flags, int fd, off_t offset)}; 0 for NULL. */
    public long mmap(final long addr, final long length, final int prot, final int flags, final int fd,
        final long offset)
    {
        return mmap.call(addr, length, prot, flags, fd, offset);
    }

    /** {@code int munmap(void *addr, size_t length)}. */
    public int munmap(final long addr, final long length)
    {
        return (int)munmap.call(addr, length);
    }

    /** {@code int madvise(void *addr, size_t length, int advice)}. */
    public int madvise(final long addr, final long length, final int advice)
    {
        return (int)madvise.call(addr, length, advice);
    }

    public int eventfd(final int initval, final int flags)
    {
        return (int)eventfd.call(initval, flags);
    }

    public int socket(final int domain, final int type, final int protocol)
    {
        return (int)socket.call(domain, type, protocol);
    }

    /** {@code int bind(int fd, const struct sockaddr *addr, socklen_t addrlen)}. */
    public int bind(final int fd, final long addr, final int addrlen)
    {
        return (int)bind.call(fd, addr, addrlen);
    }

    public int listen(final int fd, final int backlog)
    {
        return (int)listen.call(fd, backlog);
    }

    /** {@code int accept4(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags)}. */
    public int accept4(final int fd, final long addr, final long addrlen, final int flags)
    {
        return (int)accept4.call(fd, addr, addrlen, flags);
    }

    /** {@code int connect(int fd, const struct sockaddr *addr, socklen_t addrlen)}. */
    public int connect(final int fd, final long addr, final int addrlen)
    {
        return (int)connect.call(fd, addr, addrlen);
    }

    public int shutdown(final int fd, final int how)
    {
        return (int)shutdown.call(fd, how);
    }

    /** {@code ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)}. */
    public long sendmsg(final int fd, final long msghdr, final int flags)
    {
        return sendmsg.call(fd, msghdr, flags);
    }

    /** {@code ssize_t recvmsg(int fd, struct msghdr *msg, int flags)}. */
    public long recvmsg(final int fd, final long msghdr, final int flags)
    {
        return recvmsg.call(fd, msghdr, flags);
    }

    /** {@code int poll(struct pollfd *fds, nfds_t nfds, int timeout)}. */
    public int poll(final long fds, final long nfds, final int timeoutMillis)
    {
        return (int)poll.call(fds, nfds, timeoutMillis);
    }

    /** {@code int fcntl(int fd, int cmd, int arg)}: the commands with an integer argument. */
    public int fcntl(final int fd, final int cmd, final int arg)
    {
        return (int)fcntl.call(fd, cmd, arg);
    }

    public int dup(final int fd)
    {
        return (int)dup.call(fd);
    }

    public int open(final String path, final int flags, final int mode)
    {
        return open.callWithPath(path, flags, mode);
    }

    public int unlink(final String path)
    {
        return unlink.callWithPath(path, 0, 0);
    }

    public int chmod(final String path, final int mode)
    {
        return chmod.callWithPath(path, mode, 0);
    }

    /** {@code int getsockopt(int fd, int level, int optname, void *optval, socklen_t *optlen)}. */
    public int getsockopt(final int fd, final int level, final int optname, final long optval, final long optlen)
    {
        return (int)getsockopt.call(fd, level, optname, optval, optlen);
    }

    public int getpid()
    {
        return (int)getpid.call();
    }

    /** {@code ioctl(fd, request, arg)}: {@code arg} is a pointer or an integer, as the request defines. */
    public int ioctl(final int fd, final long request, final long arg)
    {
        return (int)ioctl.call(fd, request, arg);
    }

    /** {@code ssize_t pread(int fd, void *buf, size_t count, off_t offset)}. */
    public long pread(final int fd, final long buf, final long count, final long offset)
    {
        return pread.call(fd, buf, count, offset);
    }

    /** {@code ssize_t pwrite(int fd, const void *buf, size_t count, off_t offset)}. */
    public long pwrite(final int fd, final long buf, final long count, final long offset)
    {
        return pwrite.call(fd, buf, count, offset);
    }

    /** One libc function: its address and the call context (C types, errno saved) jffi calls it with. */
    private static final class Function
    {
        private final long address;
        private final CallContext context;

        Function(final Library library, final String name, final Type result, final Type... parameters)
        {
            address = library.getSymbolAddress(name);
            if (address == 0)
            {
                throw new UnsatisfiedLinkError("libc has no " + name + ": " + Library.getLastError());
            }
            context = CallContext.getCallContext(result, parameters, CallingConvention.DEFAULT, true);
        }

        /**
         * Calls a function whose first parameter is a path, with {@code path} as a NUL-terminated UTF-8 string in
         * native memory for the call, then the next of {@code b} and {@code c} its other parameters take.
         */
        int callWithPath(final String path, final long b, final long c)
        {
            final byte[] bytes = path.getBytes(StandardCharsets.UTF_8);
            final MemoryIO io = MemoryIO.getInstance();
            final long s = io.allocateMemory(bytes.length + 1, false);
            if (s == 0)
            {
                throw new OutOfMemoryError("native memory for a path of " + bytes.length + " bytes");
            }
            try
            {
                io.putZeroTerminatedByteArray(s, bytes, 0, bytes.length);
                final int arity = context.getParameterCount();
                return (int)(arity == 1 ? call(s) : arity == 2 ? call(s, b) : call(s, b, c));
            }
            finally
            {
                io.freeMemory(s);
            }
        }

        long call()
        {
            return INVOKER.invokeN0(context, address);
        }

        long call(final long a)
        {
            return INVOKER.invokeN1(context, address, a);
        }

        long call(final long a, final long b)
        {
            return INVOKER.invokeN2(context, address, a, b);
        }

        long call(final long a, final long b, final long c)
        {
            return INVOKER.invokeN3(context, address, a, b, c);
        }

        long call(final long a, final long b, final long c, final long d)
        {
            return INVOKER.invokeN4(context, address, a, b, c, d);
        }

        long call(final long a, final long b, final long c, final long d, final long e)
        {
            return INVOKER.invokeN5(context, address, a, b, c, d, e);
        }

        long call(final long a, final long b, final long c, final long d, final long e, final long f)
        {
            return INVOKER.invokeN6(context, address, a, b, c, d, e, f);
        }
    }
}
