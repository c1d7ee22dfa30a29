package org.hyperdmabuf.cli;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.lang.reflect.Proxy;

/**
 * SIGHUP for a daemon: {@code sun.misc.Signal}, reached reflectively. The JDK has no supported API for signals, and
 * a compile-time reference to it draws a warning that no javac option silences (the build treats warnings as
 * errors).
 */
final class Hangup
{
    private static final Logger LOG = LoggerFactory.getLogger(Hangup.class);

    private Hangup()
    {
    }

    /** Runs {@code action} on every SIGHUP; logs a warning (and does nothing else) where that is not possible. */
    static void onHangup(final Runnable action)
    {
        try
        {
            final Class<?> signal = Class.forName("sun.misc.Signal");
            final Class<?> handler = Class.forName("sun.misc.SignalHandler");
            final Object hup = signal.getConstructor(String.class).newInstance("HUP");
            final Object proxy = Proxy.newProxyInstance(handler.getClassLoader(), new Class<?>[] {handler},
                (self, method, args) ->
                {
                    if (method.getDeclaringClass() == Object.class)
                    {
                        return method.getName().equals("equals") ? self == args[0] :
                            method.getName().equals("hashCode") ? System.identityHashCode(self) : "SIGHUP handler";
                    }
                    action.run();
                    return null;
                });
            signal.getMethod("handle", signal, handler).invoke(null, hup, proxy);
        }
        catch (final ReflectiveOperationException | IllegalArgumentException e)
        {
            LOG.warn("SIGHUP cannot reload the policy here ({}); changes to the policy files still do", e.toString());
        }
    }
}
