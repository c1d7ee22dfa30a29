package org.hyperdmabuf.hv.inmemory;

import org.hyperdmabuf.hv.spi.BackendListener;
import org.hyperdmabuf.hv.spi.PeerInfo;

import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * What one endpoint of an {@link InMemoryFabric} receives, and its receive thread: peer events and messages in
 * the order they came, a coalesced fence doorbell and the fence tick every 10 ms, all delivered to the listener
 * from that one thread, as a real backend's receive thread does. Each sender's channel holds at most
 * {@link #CHANNEL_BYTES} undelivered bytes (a message being delivered still counts), like a ring in shared memory.
 */
final class Inbox
{
    static final int CHANNEL_BYTES = 64 << 10;
    private static final long TICK_NANOS = TimeUnit.MILLISECONDS.toNanos(10);

    private record PeerUp(PeerInfo peer)
    {
    }

    private record PeerDown(int vm, long session, String reason)
    {
    }

    private record Message(int from, byte[] bytes)
    {
    }

    private final ArrayDeque<Object> queue = new ArrayDeque<>();
    private final Map<Integer, Integer> inFlight = new HashMap<>();
    private boolean doorbell;
    private boolean running;
    private Thread thread;

    synchronized void peerUp(final PeerInfo peer)
    {
        queue.add(new PeerUp(peer));
        notifyAll();
    }

    synchronized void peerDown(final int vm, final long session, final String reason)
    {
        queue.add(new PeerDown(vm, session, reason));
        notifyAll();
    }

    /** Queues a message from {@code from}; false if its channel is full (nothing queued). */
    synchronized boolean offer(final int from, final byte[] bytes)
    {
        final int held = inFlight.getOrDefault(from, 0);
        if (held + bytes.length > CHANNEL_BYTES)
        {
            return false;
        }
        inFlight.put(from, held + bytes.length);
        queue.add(new Message(from, bytes));
        notifyAll();
        return true;
    }

    synchronized void ring()
    {
        doorbell = true;
        notifyAll();
    }

    synchronized void start(final BackendListener listener, final String name)
    {
        running = true;
        thread = new Thread(() -> run(listener), name);
        thread.setDaemon(true);
        thread.start();
    }

    /** Stops delivering; waits for the receive thread unless called from it. */
    void stop()
    {
        final Thread t;
        synchronized (this)
        {
            running = false;
            notifyAll();
            t = thread;
        }
        if (t != null && t != Thread.currentThread())
        {
            try
            {
                t.join(TimeUnit.SECONDS.toMillis(10));
            }
            catch (final InterruptedException e)
            {
                Thread.currentThread().interrupt();
            }
        }
    }

    private void run(final BackendListener listener)
    {
        long nextTick = System.nanoTime() + TICK_NANOS;
        while (true)
        {
            final Object item;
            final boolean bell;
            synchronized (this)
            {
                long wait;
                while (running && queue.isEmpty() && !doorbell && (wait = nextTick - System.nanoTime()) > 0)
                {
                    try
                    {
                        TimeUnit.NANOSECONDS.timedWait(this, wait);
                    }
                    catch (final InterruptedException e)
                    {
                        return;
                    }
                }
                if (!running)
                {
                    return;
                }
                item = queue.poll();
                bell = item == null && doorbell;
                doorbell &= !bell;
            }
            if (item != null)
            {
                deliver(listener, item);
            }
            else if (bell)
            {
                listener.onFenceDoorbell();
            }
            if (System.nanoTime() - nextTick >= 0)
            {
                listener.onFenceTick();
                nextTick = System.nanoTime() + TICK_NANOS;
            }
        }
    }

    private void deliver(final BackendListener listener, final Object item)
    {
        if (item instanceof PeerUp up)
        {
            listener.onPeerUp(up.peer());
        }
        else if (item instanceof PeerDown down)
        {
            listener.onPeerDown(down.vm(), down.session(), down.reason());
        }
        else if (item instanceof Message m)
        {
            try
            {
                listener.onMessage(m.from(), ByteBuffer.wrap(m.bytes()), m.bytes().length);
            }
            finally
            {
                synchronized (this)
                {
                    inFlight.merge(m.from(), -m.bytes().length, Integer::sum);
                }
            }
        }
    }
}
