package org.hyperdmabuf.hv.nativeio;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Linux's {@code /dev/udmabuf}: turns a page-aligned range of a sealed memfd ({@link MemFd#createSealable}) into a
 * dma-buf of exactly that range, sharing its pages (no copy). The dma-buf is always read-write, whatever the memfd
 * fd's mode, and keeps its pages alive after the range is punched or the memfd closed.
 */
public final class UdmaBuf implements AutoCloseable
{
    public static final String DEVICE = "/dev/udmabuf";
    /** The module parameter bounding one dma-buf, in MiB (default 64); root can change it at run time. */
    public static final String SIZE_LIMIT_PARAMETER = "/sys/module/udmabuf/parameters/size_limit_mb";
    /** Longest dma-buf name: DMA_BUF_NAME_LEN (32) with its NUL. */
    public static final int NAME_MAX = 31;

    /** _IOW('u', 0x42, struct udmabuf_create { u32 memfd; u32 flags; u64 offset; u64 size; }), 24 bytes. */
    static final long UDMABUF_CREATE = 0x40187542L;
    /** _IOW('b', 1, const char *): the argument is the name's address itself. */
    static final long DMA_BUF_SET_NAME = 0x40086201L;
    static final int UDMABUF_FLAGS_CLOEXEC = 0x01;
    private static final int CREATE_LENGTH = 24;

    private final int fd;
    private final ByteBuffer create = ByteBuffer.allocateDirect(CREATE_LENGTH).order(ByteOrder.nativeOrder());
    private final ByteBuffer name = ByteBuffer.allocateDirect(NAME_MAX + 1);

    private UdmaBuf(final int fd)
    {
        this.fd = fd;
    }

    /** Opens the device; only the daemon does (clients get dma-bufs over SCM_RIGHTS). */
    public static UdmaBuf open() throws NativeIoException
    {
        return new UdmaBuf(Native.check(Native.libc().open(DEVICE, Native.O_RDWR | Native.O_CLOEXEC, 0),
            "open(" + DEVICE + ")"));
    }

    /** Why this process cannot make udmabuf dma-bufs, or null when it can. */
    public static String unavailability()
    {
        if (!Files.exists(Path.of(DEVICE)))
        {
            return "no " + DEVICE + " (a kernel without CONFIG_UDMABUF, or the udmabuf module not loaded)";
        }
        try
        {
            open().close();
            return null;
        }
        catch (final NativeIoException e)
        {
            return DEVICE + " cannot be opened by the daemon: " + e.getMessage();
        }
    }

    /** {@code size_limit_mb} in bytes, or -1 when the parameter cannot be read. */
    public static long sizeLimitBytes()
    {
        try
        {
            return Long.parseLong(Files.readString(Path.of(SIZE_LIMIT_PARAMETER)).trim()) << 20;
        }
        catch (final IOException | NumberFormatException e)
        {
            return -1;
        }
    }

    /**
     * A new dma-buf (close-on-exec) of {@code [offset, offset + size)} of {@code memfd}, both page-aligned. EINVAL
     * when the range is over {@code size_limit_mb} or the memfd is unsuitable ({@link MemFd#dmaBufUnsuitability}).
     */
    public synchronized int create(final int memfd, final long offset, final long size) throws NativeIoException
    {
        create.putInt(0, memfd).putInt(4, UDMABUF_FLAGS_CLOEXEC).putLong(8, offset).putLong(16, size);
        final int dmaBuf = Native.libc().ioctl(fd, UDMABUF_CREATE, Native.address(create));
        if (dmaBuf < 0)
        {
            throw new NativeIoException("UDMABUF_CREATE(offset " + offset + ", size " + size + ")", Native.errno());
        }
        return dmaBuf;
    }

    /** Names {@code dmaBuf} (fdinfo and /proc/PID/maps show it); at most {@link #NAME_MAX} ASCII bytes. */
    public synchronized void setName(final int dmaBuf, final String text) throws NativeIoException
    {
        final byte[] bytes = text.getBytes(StandardCharsets.US_ASCII);
        if (bytes.length > NAME_MAX)
        {
            throw new NativeIoException("dma-buf name '" + text + "'", Errno.EINVAL, "longer than " + NAME_MAX);
        }
        name.clear();
        name.put(bytes).put((byte)0);
        Native.check(Native.libc().ioctl(dmaBuf, DMA_BUF_SET_NAME, Native.address(name)),
            "DMA_BUF_SET_NAME(" + text + ")");
    }

    @Override
    public void close()
    {
        Native.closeQuietly(fd);
    }
}
