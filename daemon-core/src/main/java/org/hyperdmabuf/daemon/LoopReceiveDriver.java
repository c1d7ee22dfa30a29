package org.hyperdmabuf.daemon;

import io.netty.channel.IoEvent;
import io.netty.channel.IoEventLoop;
import io.netty.channel.IoRegistration;
import io.netty.channel.epoll.EpollIoHandle;
import io.netty.channel.epoll.EpollIoOps;
import io.netty.channel.unix.FileDescriptor;
import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.hv.spi.BackendException;
import org.hyperdmabuf.hv.spi.LoopDrivenReceiver;

import java.util.concurrent.TimeUnit;

/**
 * Runs a backend's receive work on the daemon's event loop ({@link LoopDrivenReceiver}): the backend's
 * notification eventfds sit in the loop's epoll set next to the client sockets, so a doorbell wakes the thread
 * that runs the roles directly, without a receive thread handing each message over. A periodic pass keeps
 * heartbeats and liveness on time; a pass that found work is followed by another before the loop sleeps.
 */
final class LoopReceiveDriver
{
    private final IoEventLoop loop;
    private final LoopDrivenReceiver receiver;
    private final Runnable passTask = this::pass;
    private boolean passQueued;

    private LoopReceiveDriver(final IoEventLoop loop, final LoopDrivenReceiver receiver)
    {
        this.loop = loop;
        this.receiver = receiver;
    }

    /** Registers the started backend's notification fds on {@code loop}; false if it runs its own thread. */
    static boolean attach(final IoEventLoop loop, final LoopDrivenReceiver receiver) throws BackendException
    {
        final int[] fds = receiver.notificationFds();
        if (fds.length == 0)
        {
            return false;
        }
        final LoopReceiveDriver driver = new LoopReceiveDriver(loop, receiver);
        for (int i = 0; i < fds.length; i++)
        {
            final io.netty.util.concurrent.Future<IoRegistration> f = loop.register(driver.new Notification(fds[i], i))
                .awaitUninterruptibly();
            if (!f.isSuccess())
            {
                throw new BackendException(ErrorCode.EIO,
                    "cannot watch backend notification fd " + fds[i] + " on the event " +
                    "loop: " + f.cause(), f.cause());
            }
            f.getNow().submit(EpollIoOps.EPOLLIN);
        }
        final long interval = receiver.passIntervalNanos();
        loop.scheduleAtFixedRate(driver.passTask, interval, interval, TimeUnit.NANOSECONDS);
        return true;
    }

    private void pass()
    {
        passQueued = false;
        more(receiver.pass());
    }

    private void more(final boolean pending)
    {
        if (pending && !passQueued)
        {
            passQueued = true; // after the loop's other ready work, before it sleeps
            loop.execute(passTask);
        }
    }

    /** One watched notification fd; the backend owns it, so closing the handle leaves it open. */
    private final class Notification implements EpollIoHandle
    {
        private final FileDescriptor fd;
        private final int index;

        Notification(final int fd, final int index)
        {
            this.fd = new FileDescriptor(fd);
            this.index = index;
        }

        @Override
        public FileDescriptor fd()
        {
            return fd;
        }

        @Override
        public void handle(final IoRegistration registration, final IoEvent event)
        {
            more(receiver.onNotification(index));
        }

        @Override
        public void close()
        {
        }
    }
}
