package org.hyperdmabuf.cli;

import io.netty.channel.epoll.Epoll;
import org.hyperdmabuf.hv.nativeio.Native;
import org.slf4j.LoggerFactory;

import java.util.Set;

/**
 * Loads the native layers a daemon needs before READY on a thread of their own, while the main thread is still in
 * picocli: jnr-ffi's libc binding (jffi's stub library, then a class and native stubs generated per function) and
 * netty's epoll transport take about as long as parsing the command line, and on two cores both run at once. The
 * daemon's own first use of either waits for the class initialisation under way; a failure is left for that use to
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

    static void start(final String command)
    {
        if (command == null || !NATIVE.contains(command))
        {
            return;
        }
        // slf4j first, here: initialised by two threads at once (netty's logger there, ours here) it queues the early
        // calls and prints a warning about replaying them.
        LoggerFactory.getILoggerFactory();
        final Thread t = new Thread(() ->
        {
            Native.isAvailable();
            if (EVENT_LOOP.contains(command))
            {
                Epoll.isAvailable();
            }
        }, "native-warm-up");
        t.setDaemon(true);
        t.start();
    }
}
