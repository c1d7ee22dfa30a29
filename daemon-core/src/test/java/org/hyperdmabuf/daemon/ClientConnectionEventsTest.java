package org.hyperdmabuf.daemon;

import org.hyperdmabuf.abi.Limits;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.embedded.EmbeddedChannel;
import org.hyperdmabuf.abi.v1.ServerFrame;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Event delivery of one connection under back-pressure, on an embedded channel whose watermarks make every
 * write flip writability, so netty re-enters {@link ClientConnection#pumpEvents()} from inside its own writes
 * (as the epoll channel does when a slow client's socket drains).
 */
class ClientConnectionEventsTest
{
    /**
     * Regression: the overflow markers were sent while iterating the drop counts, and the nested pump sent them
     * again and cleared the map under the iterator (a duplicate count, or a ConcurrentModificationException that
     * closed the connection instead of reporting the drops).
     */
    @Test
    void everyEventIsDeliveredOrCountedOnceInOrderWhenWritabilityFlipsDuringWrites() throws IOException
    {
        final EmbeddedChannel channel = new EmbeddedChannel();
        channel.config().setWriteBufferWaterMark(new WriteBufferWaterMark(1, 2));
        final ClientConnection client = new ClientConnection(1, channel, new Refusals());
        channel.pipeline().addLast(new ChannelInboundHandlerAdapter()
        {
            @Override
            public void channelWritabilityChanged(final ChannelHandlerContext ctx)
            {
                client.pumpEvents(); // what ApiServer does
            }
        });
        channel.unsafe().outboundBuffer().setUserDefinedWritability(1, false); // a client that stopped reading
        final int perSubscription = Limits.EVENT_QUEUE_PER_CLIENT;
        for (int i = 0; i < perSubscription; i++)
        {
            for (long sub = 1; sub <= 3; sub++)
            {
                client.deliverEvent(sub, ("change@/x\0SEQ=" + sub + "." + i + "\0").getBytes(StandardCharsets.UTF_8));
            }
        }
        channel.unsafe().outboundBuffer().setUserDefinedWritability(1, true); // it reads again
        channel.runPendingTasks(); // netty fires this writability change later on the loop
        channel.checkException();

        final long[] received = new long[4];
        final long[] dropped = new long[4];
        final int[] lastSeen = {-1, -1, -1, -1};
        ByteBuf frame;
        while ((frame = channel.readOutbound()) != null)
        {
            final byte[] bytes = new byte[frame.readableBytes()];
            frame.readBytes(bytes);
            frame.release();
            final ServerFrame f = ServerFrame.parseDelimitedFrom(new java.io.ByteArrayInputStream(bytes));
            final int sub = (int)f.getEvent().getSubscriptionId();
            if (f.getEvent().getOverflowDropped() > 0)
            {
                dropped[sub] += f.getEvent().getOverflowDropped();
                continue;
            }
            final String text = f.getEvent().getUevent().toStringUtf8();
            final int seq = Integer.parseInt(text.substring(text.indexOf('.') + 1, text.length() - 1));
            assertTrue(seq > lastSeen[sub], "subscription " + sub + ": event " + seq + " after " + lastSeen[sub]);
            lastSeen[sub] = seq;
            received[sub]++;
        }
        for (int sub = 1; sub <= 3; sub++)
        {
            assertEquals(perSubscription, received[sub] + dropped[sub], "subscription " + sub + ": received " +
                received[sub] + " + reported dropped " + dropped[sub]);
            assertTrue(dropped[sub] > 0, "subscription " + sub + " overflowed");
        }
        assertTrue(channel.isOpen(), "the connection stays open");
        channel.finishAndReleaseAll();
    }
}
