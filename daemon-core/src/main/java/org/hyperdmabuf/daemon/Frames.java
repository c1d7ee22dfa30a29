package org.hyperdmabuf.daemon;

import com.google.protobuf.CodedOutputStream;
import com.google.protobuf.MessageLite;

/** Encodes one message as a frame: varint32 length, then the message bytes. */
public final class Frames
{
    private Frames()
    {
    }

    public static byte[] encode(final MessageLite message)
    {
        final int size = message.getSerializedSize();
        final byte[] frame = new byte[CodedOutputStream.computeUInt32SizeNoTag(size) + size];
        final CodedOutputStream out = CodedOutputStream.newInstance(frame);
        try
        {
            out.writeUInt32NoTag(size);
            message.writeTo(out);
            out.checkNoSpaceLeft();
        }
        catch (final java.io.IOException e)
        {
            throw new IllegalStateException("encoding into an exactly sized array cannot fail", e);
        }
        return frame;
    }
}
