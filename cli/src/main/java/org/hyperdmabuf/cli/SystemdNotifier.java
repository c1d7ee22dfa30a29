package org.hyperdmabuf.cli;

import org.hyperdmabuf.hv.nativeio.NativeIoException;
import org.hyperdmabuf.hv.nativeio.UnixDatagram;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Map;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * sd_notify(3) for a daemon started by systemd with {@code Type=notify}: one datagram per state change on
 * {@code $NOTIFY_SOCKET} (a path or an abstract {@code @name}); does nothing when the variable is unset. The
 * watchdog pings run on the thread that does the work (a daemon's event loop, the ivshmem server's poll loop), so a
 * wedged one stops them and systemd restarts the process.
 */
final class SystemdNotifier
{
    private static final Logger LOG = LoggerFactory.getLogger(SystemdNotifier.class);
    /**
     * How often the STATUS= text is looked at; it is sent when it changed (a peer came or went, a buffer was
     * exported or unexported), so at most once per period however busy the daemon is.
     */
    private static final long STATUS_PERIOD_MS = 1000;

    private final String socket;
    private final long watchdogMicros;
    private volatile boolean failed;
    private String lastStatus;

    private SystemdNotifier(final String socket, final long watchdogMicros)
    {
        this.socket = socket;
        this.watchdogMicros = watchdogMicros;
    }

    /** From {@code NOTIFY_SOCKET}, {@code WATCHDOG_USEC} and {@code WATCHDOG_PID} (the watchdog is ours if unset). */
    static SystemdNotifier fromEnvironment()
    {
        return of(System.getenv(), ProcessHandle.current().pid());
    }

    static SystemdNotifier of(final Map<String, String> env, final long pid)
    {
        final String socket = env.get("NOTIFY_SOCKET");
        long watchdog = 0;
        final String usec = env.get("WATCHDOG_USEC");
        final String watchdogPid = env.get("WATCHDOG_PID");
        if (usec != null && (watchdogPid == null || watchdogPid.equals(Long.toString(pid))))
        {
            try
            {
                watchdog = Long.parseLong(usec.trim());
            }
            catch (final NumberFormatException e)
            {
                LOG.warn("WATCHDOG_USEC is not a number ('{}'): no watchdog pings", usec);
            }
        }
        return new SystemdNotifier(socket == null || socket.isEmpty() ? null : socket, Math.max(0, watchdog));
    }

    boolean enabled()
    {
        return socket != null;
    }

    /** READY=1 with the first STATUS= line. */
    void ready(final String status)
    {
        lastStatus = status;
        send("READY=1\nSTATUS=" + status);
    }

    /** RELOADING=1 with the monotonic time systemd uses to match it (System.nanoTime is CLOCK_MONOTONIC). */
    void reloading()
    {
        send("RELOADING=1\nMONOTONIC_USEC=" + System.nanoTime() / 1000 + "\nSTATUS=reloading the policy");
    }

    /** READY=1 after a reload. */
    void reloaded()
    {
        send("READY=1\nSTATUS=" + (lastStatus == null ? "running" : lastStatus));
    }

    void stopping()
    {
        send("STOPPING=1\nSTATUS=stopping");
    }

    /**
     * How often {@link #watchdog()} must run for a thread that pings on its own: half of {@code WATCHDOG_USEC} in
     * milliseconds (at least 1), or 0 with no watchdog or no socket.
     */
    long watchdogPeriodMillis()
    {
        return socket == null || watchdogMicros == 0 ? 0 : Math.max(1, watchdogMicros / 2000);
    }

    /** WATCHDOG=1: the thread that calls this is alive. */
    void watchdog()
    {
        send("WATCHDOG=1");
    }

    /**
     * Sends WATCHDOG=1 every half of {@code WATCHDOG_USEC} and refreshes STATUS= from {@code status}, both as tasks of
     * {@code loop}: if the loop stops running its tasks, the pings stop. Nothing is scheduled without a socket.
     */
    void attach(final ScheduledExecutorService loop, final Supplier<String> status)
    {
        if (socket == null)
        {
            return;
        }
        if (watchdogMicros > 0)
        {
            final long period = Math.max(1, watchdogMicros / 2);
            // Fixed delay, not rate: a loop that was stuck must not catch up with a burst of pings.
            final ScheduledFuture<?> pings = loop.scheduleWithFixedDelay(this::watchdog, period, period,
                TimeUnit.MICROSECONDS);
            LOG.debug("watchdog: WATCHDOG=1 every {} us from the event loop ({})", period, pings);
        }
        loop.scheduleAtFixedRate(() ->
        {
            final String now = status.get();
            if (!now.equals(lastStatus))
            {
                lastStatus = now;
                send("STATUS=" + now);
            }
        }, STATUS_PERIOD_MS, STATUS_PERIOD_MS, TimeUnit.MILLISECONDS);
    }

    private void send(final String message)
    {
        if (socket == null)
        {
            return;
        }
        try
        {
            UnixDatagram.send(socket, message);
        }
        catch (final NativeIoException e)
        {
            // systemd gone or the socket not ours: say it once, keep running.
            if (!failed)
            {
                failed = true;
                LOG.warn("cannot notify systemd on {}: {}", socket, e.getMessage());
            }
        }
    }
}
