package org.hyperdmabuf.daemon;

import com.google.protobuf.InvalidProtocolBufferException;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.netty.channel.unix.DomainSocketAddress;
import io.netty.util.ReferenceCountUtil;
import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.abi.v1.Request;
import org.hyperdmabuf.hv.nativeio.Native;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The daemon's client socket: netty's epoll domain-socket server for accepting, reading and framing;
 * every connection is served on the single daemon event loop, so daemon state needs no locks.
 * The socket file is created with mode 0660 (ABI.md "Client API"; SECURITY.md "Local clients").
 */
public final class ApiServer implements AutoCloseable
{
    private static final Logger LOG = LoggerFactory.getLogger(ApiServer.class);

    private final Path path;
    private final EventLoop loop;
    private final RequestDispatcher dispatcher;
    private final AtomicLong connectionIds = new AtomicLong();
    private final Refusals refusals = new Refusals();
    private Channel serverChannel;

    public ApiServer(final Path path, final EventLoopGroup group, final EventLoop loop,
        final RequestDispatcher dispatcher)
    {
        this.path = path;
        this.loop = loop;
        this.dispatcher = dispatcher;
        bind(group);
    }

    public Path path()
    {
        return path;
    }

    private void bind(final EventLoopGroup group)
    {
        try
        {
            final Path directory = path.toAbsolutePath().getParent(); // null only for "/", which is no socket path
            if (directory != null)
            {
                Files.createDirectories(directory);
            }
            if (Files.exists(path))
            {
                // A stale socket of a dead daemon; a live daemon would still accept on it.
                if (isLive(path))
                {
                    throw new IllegalStateException("another daemon is serving " + path);
                }
                Files.delete(path);
            }
        }
        catch (final IOException e)
        {
            throw new IllegalStateException("cannot prepare socket path " + path + ": " + IoErrors.describe(e), e);
        }
        serverChannel = new ServerBootstrap()
            .group(group, loop)
            .channel(EpollServerDomainSocketChannel.class)
            .childOption(ChannelOption.WRITE_BUFFER_WATER_MARK, new WriteBufferWaterMark(64 * 1024, 256 * 1024))
            .childHandler(new ChannelInitializer<>()
            {
                @Override
                protected void initChannel(final Channel ch)
                {
                    ch.pipeline().addLast(new FrameDecoder(), new ConnectionHandler());
                }
            })
            .bind(new DomainSocketAddress(path.toString()))
            .syncUninterruptibly()
            .channel();
        if (Native.libc().chmod(path.toString(), 0660) < 0)
        {
            LOG.warn("chmod 0660 {} failed: errno {}", path, Native.errno());
        }
        LOG.info("listening on {}", path);
    }

    @SuppressWarnings("try") // the connection is the probe: opening it is all there is to do
    private static boolean isLive(final Path socket)
    {
        try (var s = org.hyperdmabuf.hv.nativeio.UnixSocket.connect(socket.toString()))
        {
            return true;
        }
        catch (final IOException e)
        {
            return false;
        }
    }

    @Override
    public void close()
    {
        if (serverChannel != null)
        {
            serverChannel.close().syncUninterruptibly();
            try
            {
                Files.deleteIfExists(path);
            }
            catch (final IOException e)
            {
                LOG.debug("cannot delete {}: {}", path, e.toString());
            }
        }
    }

    private final class ConnectionHandler extends ChannelInboundHandlerAdapter
    {
        private final ArrayDeque<Object> held = new ArrayDeque<>();
        private ClientConnection client;
        private boolean serving;

        @Override
        public void channelActive(final ChannelHandlerContext ctx)
        {
            client = new ClientConnection(connectionIds.incrementAndGet(), ctx.channel(), refusals);
            client.onDrained(() -> serveHeld(ctx));
            LOG.debug("{} connected", client);
            dispatcher.onConnected(client);
        }

        @Override
        public void channelRead(final ChannelHandlerContext ctx, final Object msg)
        {
            held.add(msg);
            serveHeld(ctx);
        }

        /**
         * Serves decoded frames in order while the client's responses are leaving; frames read while it is
         * backlogged wait here (at most one read's worth, since reading stops) until it reads again.
         */
        private void serveHeld(final ChannelHandlerContext ctx)
        {
            if (serving)
            {
                return; // re-entered from a flush inside serve(); the outer loop goes on
            }
            serving = true;
            try
            {
                while (!held.isEmpty() && ctx.channel().isOpen() && !client.isBacklogged())
                {
                    serve(ctx, held.poll());
                }
            }
            finally
            {
                serving = false;
            }
            ctx.channel().config().setAutoRead(held.isEmpty() && !client.isBacklogged());
        }

        private void serve(final ChannelHandlerContext ctx, final Object msg)
        {
            if (client.isRefused())
            {
                ReferenceCountUtil.release(msg);
                return;
            }
            if (msg instanceof FrameDecoder.BadFrame bad)
            {
                LOG.info("{}: {}; closing the connection", client, bad.reason());
                client.refuse(ErrorCode.EMSGSIZE, bad.reason());
                return;
            }
            final ByteBuf frame = (ByteBuf)msg;
            final Request request;
            try
            {
                request = Request.parseFrom(frame.nioBuffer());
            }
            catch (final InvalidProtocolBufferException e)
            {
                client.replyError(0, ErrorCode.EBADMSG, "frame is not a valid Request: " + e.getMessage());
                return;
            }
            finally
            {
                frame.release();
            }
            try
            {
                dispatcher.onRequest(client, request);
            }
            catch (final RuntimeException e)
            {
                LOG.error("{}: request {} failed unexpectedly", client, request.getOpCase(), e);
                client.replyError(request.getRequestId(), ErrorCode.EIO, "internal error: " + e);
            }
        }

        @Override
        public void channelWritabilityChanged(final ChannelHandlerContext ctx)
        {
            // Back-pressure: a client that does not read its responses stops being read and served.
            client.pumpEvents();
            serveHeld(ctx);
            ctx.fireChannelWritabilityChanged();
        }

        @Override
        public void channelInactive(final ChannelHandlerContext ctx)
        {
            LOG.debug("{} disconnected", client);
            client.closeQueued();
            held.forEach(ReferenceCountUtil::release);
            held.clear();
            dispatcher.onDisconnected(client);
        }

        @Override
        public void exceptionCaught(final ChannelHandlerContext ctx, final Throwable cause)
        {
            if (cause instanceof Error)
            {
                // Not the client's doing (out of memory, a class that failed to load): say why it lost its
                // connection instead of dropping it silently.
                LOG.error("{}: {} while serving it; closing its connection", client, cause.toString());
            }
            else
            {
                LOG.debug("{}: {}", client, cause.toString());
            }
            ctx.close();
        }
    }
}
