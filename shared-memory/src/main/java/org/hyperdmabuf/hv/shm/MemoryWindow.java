package org.hyperdmabuf.hv.shm;

import edu.umd.cs.findbugs.annotations.SuppressFBWarnings;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * A window onto shared memory with explicit memory ordering, in the spirit of Agrona's {@code AtomicBuffer}
 * but on JDK VarHandles only (no {@code --add-opens} for users of the client library). All layouts are
 * little-endian; 8-byte fields are 8-byte aligned, so acquire/release/CAS accesses are atomic.
 * <p>
 * Pair {@code put*Release} in the writer with {@code get*Acquire} in the reader. Bounds are checked by the
 * underlying buffer; callers validate peer-written offsets before use, so an exception here is a bug.
 */
public final class MemoryWindow
{
    private static final VarHandle LONGS = MethodHandles.byteBufferViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);
    private static final VarHandle INTS = MethodHandles.byteBufferViewVarHandle(int[].class, ByteOrder.LITTLE_ENDIAN);
    /** The source of {@link #setMemory}'s zeroing: a bulk copy, not a byte at a time (formatting a region zeroes MiBs). */
    private static final byte[] ZEROS = new byte[4096];

    private final ByteBuffer buffer;

    public MemoryWindow(final ByteBuffer buffer)
    {
        this.buffer = buffer.duplicate().order(ByteOrder.LITTLE_ENDIAN);
    }

    /** A window over {@code [offset, offset + length)} of this one. */
    public MemoryWindow slice(final long offset, final int length)
    {
        return new MemoryWindow(buffer.slice((int)offset, length));
    }

    public int capacity()
    {
        return buffer.capacity();
    }

    /** The raw buffer (little-endian, absolute indexing). */
    @SuppressFBWarnings(value = "EI_EXPOSE_REP",
        justification = "the view of the window itself: callers read and write the shared memory through it (zero copy)")
    public ByteBuffer buffer()
    {
        return buffer;
    }

    public long getLong(final int index)
    {
        return buffer.getLong(index);
    }

    public void putLong(final int index, final long value)
    {
        buffer.putLong(index, value);
    }

    public int getInt(final int index)
    {
        return buffer.getInt(index);
    }

    public void putInt(final int index, final int value)
    {
        buffer.putInt(index, value);
    }

    public long getLongAcquire(final int index)
    {
        return (long)LONGS.getAcquire(buffer, index);
    }

    public void putLongRelease(final int index, final long value)
    {
        LONGS.setRelease(buffer, index, value);
    }

    public long getLongVolatile(final int index)
    {
        return (long)LONGS.getVolatile(buffer, index);
    }

    public void putLongVolatile(final int index, final long value)
    {
        LONGS.setVolatile(buffer, index, value);
    }

    public boolean compareAndSetLong(final int index, final long expected, final long value)
    {
        return LONGS.compareAndSet(buffer, index, expected, value);
    }

    /** A volatile compare-and-exchange: returns the witness value, {@code expected} if it stored {@code value}. */
    public long compareAndExchangeLong(final int index, final long expected, final long value)
    {
        return (long)LONGS.compareAndExchange(buffer, index, expected, value);
    }

    public long getAndAddLong(final int index, final long delta)
    {
        return (long)LONGS.getAndAdd(buffer, index, delta);
    }

    public int getIntAcquire(final int index)
    {
        return (int)INTS.getAcquire(buffer, index);
    }

    public void putIntRelease(final int index, final int value)
    {
        INTS.setRelease(buffer, index, value);
    }

    public int getIntVolatile(final int index)
    {
        return (int)INTS.getVolatile(buffer, index);
    }

    public void putIntVolatile(final int index, final int value)
    {
        INTS.setVolatile(buffer, index, value);
    }

    public int getAndAddInt(final int index, final int delta)
    {
        return (int)INTS.getAndAdd(buffer, index, delta);
    }

    public boolean compareAndSetInt(final int index, final int expected, final int value)
    {
        return INTS.compareAndSet(buffer, index, expected, value);
    }

    /** Atomically ORs {@code bits} into the int at {@code index} (a full barrier); returns the old value. */
    public int getAndBitwiseOrInt(final int index, final int bits)
    {
        return (int)INTS.getAndBitwiseOr(buffer, index, bits);
    }

    /** Atomically ANDs {@code bits} into the int at {@code index} (a full barrier); returns the old value. */
    public int getAndBitwiseAndInt(final int index, final int bits)
    {
        return (int)INTS.getAndBitwiseAnd(buffer, index, bits);
    }

    /** Copies {@code length} bytes at {@code index} into {@code dst} at {@code dstIndex}. */
    public void getBytes(final int index, final ByteBuffer dst, final int dstIndex, final int length)
    {
        dst.put(dstIndex, buffer, index, length);
    }

    /** Copies {@code length} bytes of {@code src} at {@code srcIndex} to {@code index}. */
    public void putBytes(final int index, final ByteBuffer src, final int srcIndex, final int length)
    {
        buffer.put(index, src, srcIndex, length);
    }

    /** Sets {@code length} bytes at {@code index} to {@code value}, a page-sized bulk copy at a time. */
    public void setMemory(final int index, final int length, final byte value)
    {
        final byte[] fill = value == 0 ? ZEROS : new byte[Math.min(length, ZEROS.length)];
        if (value != 0)
        {
            java.util.Arrays.fill(fill, value);
        }
        for (int done = 0; done < length; done += fill.length)
        {
            buffer.put(index + done, fill, 0, Math.min(fill.length, length - done));
        }
    }
}
