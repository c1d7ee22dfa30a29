package org.hyperdmabuf.tests.support;

import com.google.protobuf.InvalidProtocolBufferException;
import org.hyperdmabuf.abi.v1.ServerFrame;

import java.nio.ByteBuffer;

/** Splits what a daemon sends into frames (ABI.md "Framing"), for test clients that read the socket by hand. */
public final class ServerFrames
{
    private ServerFrames()
    {
    }

    /**
     * The next complete frame in {@code in} (position to limit), advancing past it; null, with the position
     * unchanged, if the frame is not complete yet.
     *
     * @throws InvalidProtocolBufferException if the length prefix is longer than 5 bytes or above 2^31 - 1, or
     *                                        the frame is not a ServerFrame
     */
    public static ServerFrame next(final ByteBuffer in) throws InvalidProtocolBufferException
    {
        final int start = in.position();
        long length = 0; // a fifth byte above 0x0F is 2^32 or more, never a frame length
        int shift = 0;
        while (true)
        {
            if (!in.hasRemaining())
            {
                in.position(start);
                return null;
            }
            final byte b = in.get();
            length |= (long)(b & 0x7f) << shift;
            if (b >= 0)
            {
                break;
            }
            shift += 7;
            if (shift >= 35)
            {
                throw new InvalidProtocolBufferException("a length prefix longer than 5 bytes");
            }
        }
        if (length > Integer.MAX_VALUE)
        {
            throw new InvalidProtocolBufferException("a frame length of " + length + " bytes");
        }
        if (in.remaining() < length)
        {
            in.position(start);
            return null;
        }
        final ByteBuffer body = in.slice(in.position(), (int)length);
        in.position(in.position() + (int)length);
        return ServerFrame.parseFrom(body);
    }
}
