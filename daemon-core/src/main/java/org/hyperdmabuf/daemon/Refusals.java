package org.hyperdmabuf.daemon;

import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.socket.DuplexChannel;
import io.netty.util.concurrent.ScheduledFuture;

import java.util.concurrent.TimeUnit;

/**
 * Closes connections the daemon gave up on (refused, or an unframeable stream) so that the client can read why
 * (ABI.md "Framing"). Closing right after the answer would make a client that sends its first request after it
 * fail with EPIPE or ECONNRESET and never read the answer. So the answer is followed by a shutdown of the
 * daemon's sending side (the client reads it, then end of stream), and the socket is closed once the client
 * closes or after {@link #LINGER_MILLIS}; what the client sends meanwhile is read and dropped. At most
 * {@link #MAX_LINGERING} connections linger at once (past that they close as soon as the answer is written), so
 * a flood of refused clients cannot hold more of the daemon than that. Event-loop confined.
 */
final class Refusals
{
    static final long LINGER_MILLIS = 2000;
    static final int MAX_LINGERING = 64;

    private int lingering;

    /** Flushes what is queued for {@code channel} (the answer), then shuts down output and closes as above. */
    void close(final Channel channel)
    {
        if (lingering >= MAX_LINGERING || !(channel instanceof DuplexChannel))
        {
            channel.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
            return;
        }
        lingering++;
        final ScheduledFuture<?> deadline = channel.eventLoop().schedule(() -> channel.close(), LINGER_MILLIS,
            TimeUnit.MILLISECONDS);
        channel.closeFuture().addListener(f ->
        {
            lingering--;
            deadline.cancel(false);
        });
        channel.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(written ->
        {
            if (written.isSuccess())
            {
                ((DuplexChannel)channel).shutdownOutput();
            }
            else
            {
                channel.close();
            }
        });
    }
}
