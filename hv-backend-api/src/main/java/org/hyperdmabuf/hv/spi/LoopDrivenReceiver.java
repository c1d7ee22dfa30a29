package org.hyperdmabuf.hv.spi;

/**
 * Optional side of a {@link HypervisorBackend} whose receive work can run on the daemon's own event loop
 * instead of the backend's receive thread. A peer message then costs one thread wake-up in the receiving
 * daemon (the loop, woken by the doorbell itself) instead of two (the receive thread, then the loop it hands
 * the message to), on the export → {@code add} path and on every blocking fence wake-up.
 * <p>
 * Protocol: the daemon calls {@link #driveFromLoop()} before {@link HypervisorBackend#start}. If, after
 * {@code start}, {@link #notificationFds()} is not empty, the backend started no receive thread: the daemon
 * watches those fds for readability (level-triggered) and calls {@link #onNotification} when one is readable,
 * {@link #pass()} at least every {@link #passIntervalNanos()}, and {@link #pass()} again soon whenever a call
 * returned true. All three on one thread only, and never after {@link HypervisorBackend#close} began. An empty
 * array means the backend could not be driven (a transport without notification fds polls) and runs its own
 * receive thread as usual. Listener callbacks come on the driving thread.
 */
public interface LoopDrivenReceiver extends BackendCapability
{
    /** Asks the backend not to start a receive thread if it can be driven; before {@code start}. */
    void driveFromLoop();

    /** The notification fds to watch (owned by the backend: never close them); empty if not driven. */
    int[] notificationFds();

    /**
     * {@code notificationFds()[index]} is readable: consume the notification and do the receive work.
     * Returns true if more work may be pending.
     */
    boolean onNotification(int index);

    /** One receive pass without a notification: heartbeats, liveness, missed doorbells. True: more pending. */
    boolean pass();

    /** The longest time between two passes that keeps heartbeats and liveness on time. */
    long passIntervalNanos();
}
