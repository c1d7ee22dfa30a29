package org.hyperdmabuf.daemon;

import org.hyperdmabuf.abi.Limits;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;

import java.util.List;

/**
 * Splits the client byte stream into frames: a varint32 length, then that many bytes (ABI.md "Framing").
 * A length over {@link Limits#MAX_FRAME_BYTES} or a malformed varint cannot be resynchronized; it is
 * reported as a {@link BadFrame} (answered with an error, then the connection is closed).
 */
public final class FrameDecoder extends ByteToMessageDecoder
{
    /** A stream that cannot be framed any more. */
    public record BadFrame(String reason)
    {
    }

    private boolean broken;

    @Override
    protected void decode(final ChannelHandlerContext ctx, final ByteBuf in, final List<Object> out)
    {
        while (!broken && in.isReadable())
        {
            in.markReaderIndex();
            long length = 0; // a fifth byte above 0x0F makes it 2^32 or more: over the limit, not wrapped
            int shift = 0;
            boolean complete = false;
            while (in.isReadable())
            {
                final byte b = in.readByte();
                length |= (long)(b & 0x7f) << shift;
                if (b >= 0)
                {
                    complete = true;
                    break;
                }
                shift += 7;
                if (shift >= 35)
                {
                    broken = true;
                    out.add(new BadFrame("malformed varint length prefix"));
                    return;
                }
            }
            if (!complete)
            {
                in.resetReaderIndex();
                return;
            }
            if (length > Limits.MAX_FRAME_BYTES)
            {
                broken = true;
                out.add(new BadFrame("frame length " + length + " exceeds the limit of " +
                    Limits.MAX_FRAME_BYTES + " bytes"));
                return;
            }
            if (in.readableBytes() < length)
            {
                in.resetReaderIndex();
                return;
            }
            out.add(in.readRetainedSlice((int)length));
        }
        if (broken)
        {
            in.skipBytes(in.readableBytes());
        }
    }
}
