package org.hyperdmabuf.bench;

import sun.misc.Unsafe;

import java.lang.reflect.Field;
import java.nio.Buffer;
import java.nio.ByteBuffer;

/**
 * The consumers' read loop: sums a direct buffer's bytes as native-order 64-bit words with four accumulators,
 * the loop of the C baselines ({@code read_frame} in {@code bench_stats.h}). It reads through
 * {@code sun.misc.Unsafe} at the buffer's address, as Agrona's {@code UnsafeBuffer} does: the range is checked
 * once per frame instead of once per word. Through {@code ByteBuffer.getLong} or a {@code LongBuffer} view the
 * same loop ran at ~0.6x of C on JDK 17 (a bounds and byte-order check per load); through {@code Unsafe} it
 * runs at the C loop's speed.
 */
final class DirectWords
{
    private static final Unsafe UNSAFE;
    private static final long ADDRESS_OFFSET;

    static
    {
        try
        {
            final Field theUnsafe = Unsafe.class.getDeclaredField("theUnsafe");
            theUnsafe.setAccessible(true);
            UNSAFE = (Unsafe)theUnsafe.get(null);
            ADDRESS_OFFSET = UNSAFE.objectFieldOffset(Buffer.class.getDeclaredField("address"));
        }
        catch (final ReflectiveOperationException e)
        {
            throw new ExceptionInInitializerError(e);
        }
    }

    private DirectWords()
    {
    }

    /** Sums the first {@code length} bytes of {@code frame} (a direct buffer; {@code length} a multiple of 8). */
    static long sum(final ByteBuffer frame, final int length)
    {
        if (!frame.isDirect() || length < 0 || length > frame.capacity() || (length & 7) != 0)
        {
            throw new IllegalArgumentException("need a direct buffer of at least " + length + " bytes, a multiple " +
                "of 8; got " + frame);
        }
        final long start = UNSAFE.getLong(frame, ADDRESS_OFFSET);
        final long end = start + length;
        long a0 = 0;
        long a1 = 0;
        long a2 = 0;
        long a3 = 0;
        long p = start;
        for (; p + 32 <= end; p += 32)
        {
            a0 += UNSAFE.getLong(p);
            a1 += UNSAFE.getLong(p + 8);
            a2 += UNSAFE.getLong(p + 16);
            a3 += UNSAFE.getLong(p + 24);
        }
        for (; p < end; p += 8)
        {
            a0 += UNSAFE.getLong(p);
        }
        return a0 + a1 + a2 + a3;
    }
}
