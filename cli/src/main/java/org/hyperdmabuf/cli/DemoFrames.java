package org.hyperdmabuf.cli;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.LongBuffer;
import java.util.zip.CRC32C;

/**
 * The demo's test pattern: an RGBA frame whose first 8 bytes are the frame sequence number and whose
 * every other 8 bytes depend on it, so a stale, torn or repeated frame fails verification.
 */
final class DemoFrames
{
    static final String CONTENT_TYPE = "video/raw";
    static final int FOURCC_AR24 = 0x34325241;
    private static final long GOLDEN = 0x9E3779B97F4A7C15L;

    private DemoFrames()
    {
    }

    static void fill(final ByteBuffer frame, final long seq, final int length)
    {
        final LongBuffer longs = frame.duplicate().order(ByteOrder.LITTLE_ENDIAN).limit(length).asLongBuffer();
        longs.put(0, seq);
        final long base = seq * GOLDEN;
        for (int i = 1, n = longs.limit(); i < n; i++)
        {
            longs.put(i, base + i);
        }
    }

    /**
     * Index of the first byte (in 8-byte steps) that differs from the pattern of frame {@code seq}, or -1.
     * The 8 bytes at {@code skip} (a timestamp) are not checked.
     */
    static long firstMismatch(final ByteBuffer frame, final long seq, final int length, final int skip)
    {
        final LongBuffer longs = frame.duplicate().order(ByteOrder.LITTLE_ENDIAN).limit(length).asLongBuffer();
        final long base = seq * GOLDEN;
        final int skipIndex = skip / 8;
        for (int i = 1, n = longs.limit(); i < n; i++)
        {
            if (i != skipIndex && longs.get(i) != base + i)
            {
                return 8L * i;
            }
        }
        return -1;
    }

    static long crc32c(final ByteBuffer frame, final int length)
    {
        final CRC32C crc = new CRC32C();
        crc.update(frame.duplicate().limit(length));
        return crc.getValue();
    }

    static long sequenceOf(final ByteBuffer frame)
    {
        return frame.duplicate().order(ByteOrder.LITTLE_ENDIAN).getLong(0);
    }
}
