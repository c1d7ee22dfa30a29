package org.hyperdmabuf.cli;

import io.netty.channel.epoll.Epoll;
import org.hyperdmabuf.hv.nativeio.Native;
import org.slf4j.LoggerFactory;

import java.util.Set;
import java.util.concurrent.CountDownLatch;

/**
 * Loads what a daemon needs before READY and the main thread reaches only later, on a thread of its own, while the
 * main thread configures logging, reads the command line and probes the backends: the libc binding (jffi's stub
 * library, the call contexts) and netty's epoll transport. On two cores both threads run at once; more work here
 * (the JDK's security providers) made the start slower, the main thread's own work then waiting for a core. The
 * daemon's own first use of each waits for the class initialisation under way; a failure is left for that use to
 * report, as it would be without this.
 */
final class NativeWarmUp
{
    /** The commands that bind libc before READY, and those of them that also run a netty event loop. */
    private static final Set<String> NATIVE = Set.of("server", "sink", "source", "daemon");
    private static final Set<String> EVENT_LOOP = Set.of("sink", "source", "daemon");

    private NativeWarmUp()
    {
    }

    /**
     * Starts the warm-up for {@code command} (nothing for a command that is not a daemon) and returns what
     * {@link #loggingConfigured} releases: libc's binding needs no logging and starts at once, netty's epoll logs
     * through slf4j and waits for it to be configured (initialised by two threads at once, slf4j queues the early
     * calls and prints a warning about replaying them).
     */
    static CountDownLatch start(final String command)
    {
        final CountDownLatch logging = new CountDownLatch(1);
        if (command == null || !NATIVE.contains(command))
        {
            return logging;
        }
        final Thread t = new Thread(() ->
        {
            Native.isAvailable();
            if (EVENT_LOOP.contains(command))
            {
                try
                {
                    logging.await();
                }
                catch (final InterruptedException e)
                {
                    return;
                }
                Epoll.isAvailable();
            }
        }, "native-warm-up");
        t.setDaemon(true);
        t.start();
        return logging;
    }

    /** Initialises slf4j, then releases the warm-up {@link #start} returned {@code logging} for to what logs. */
    static void loggingConfigured(final CountDownLatch logging)
    {
        LoggerFactory.getILoggerFactory();
        logging.countDown();
    }
}
