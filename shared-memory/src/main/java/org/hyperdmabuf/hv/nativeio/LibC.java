package org.hyperdmabuf.hv.nativeio;

import jnr.ffi.types.intptr_t;
import jnr.ffi.types.off_t;
import jnr.ffi.types.size_t;
import jnr.ffi.types.ssize_t;

/**
 * The libc functions hyperdmabuf needs beyond the JDK: memfd, eventfd, mmap and Unix sockets
 * with {@code SCM_RIGHTS}. Pointers are passed as raw addresses ({@code @intptr_t long}) so
 * callers use pre-allocated native scratch memory and no call allocates.
 * <p>
 * Use {@link Native#libc()}; errno is read with {@link Native#errno()} right after a failing call.
 */
public interface LibC
{
    int close(int fd);

    @ssize_t long read(int fd, @intptr_t long buf, @size_t long count);

    @ssize_t long write(int fd, @intptr_t long buf, @size_t long count);

    int memfd_create(String name, int flags);

    int ftruncate(int fd, @off_t long length);

    int fallocate(int fd, int mode, @off_t long offset, @off_t long length);

    @off_t long lseek(int fd, @off_t long offset, int whence);

    /**
     * {@code addr} is a Pointer (always null here): with a {@code long} first argument jnr-ffi 2.2's
     * six-argument fast path passed garbage and mmap failed with EINVAL.
     */
    @intptr_t long mmap(jnr.ffi.Pointer addr, @size_t long length, int prot, int flags, int fd, @off_t long offset);

    int munmap(@intptr_t long addr, @size_t long length);

    int madvise(@intptr_t long addr, @size_t long length, int advice);

    int eventfd(int initval, int flags);

    int socket(int domain, int type, int protocol);

    int bind(int fd, @intptr_t long addr, int addrlen);

    int listen(int fd, int backlog);

    int accept4(int fd, @intptr_t long addr, @intptr_t long addrlen, int flags);

    int connect(int fd, @intptr_t long addr, int addrlen);

    int shutdown(int fd, int how);

    @ssize_t long sendmsg(int fd, @intptr_t long msghdr, int flags);

    @ssize_t long recvmsg(int fd, @intptr_t long msghdr, int flags);

    int poll(@intptr_t long fds, long nfds, int timeoutMillis);

    int fcntl(int fd, int cmd, int arg);

    int dup(int fd);

    int open(String path, int flags, int mode);

    int unlink(String path);

    int chmod(String path, int mode);

    int getsockopt(int fd, int level, int optname, @intptr_t long optval, @intptr_t long optlen);

    int getpid();

    /** {@code ioctl(fd, request, arg)}: {@code arg} is a pointer or an integer, as the request defines. */
    int ioctl(int fd, long request, @intptr_t long arg);

    @ssize_t long pread(int fd, @intptr_t long buf, @size_t long count, @off_t long offset);

    @ssize_t long pwrite(int fd, @intptr_t long buf, @size_t long count, @off_t long offset);
}
