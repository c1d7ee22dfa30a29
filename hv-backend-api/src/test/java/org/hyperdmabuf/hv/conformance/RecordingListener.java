package org.hyperdmabuf.hv.conformance;

import org.hyperdmabuf.hv.spi.BackendListener;
import org.hyperdmabuf.hv.spi.PeerInfo;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Predicate;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * A {@link BackendListener} that records everything and lets a test await a condition over the record with a
 * deadline. Message delivery can be held back with {@link #closeGate()} to make a backend's channel fill up.
 */
public final class RecordingListener implements BackendListener
{
    /** Longest time a gated delivery waits, so a forgotten gate cannot hang a build. */
    private static final long GATE_LIMIT_MS = 30_000;

    /** A peer up ({@code reason == null}) or down event. */
    public record PeerEvent(boolean up, int vm, long sessionId, String reason)
    {
    }

    /** A delivered message, copied out of the backend's scratch. */
    public record Message(int vm, byte[] bytes)
    {
    }

    private final List<PeerEvent> peerEvents = new ArrayList<>();
    private final List<Message> messages = new ArrayList<>();
    private final List<Object> sequence = new ArrayList<>();
    private boolean gateClosed;
    private boolean tickGateClosed;
    private boolean tickBlocked;
    private long fenceDoorbells;
    private long fenceTicks;

    @Override
    public synchronized void onPeerUp(final PeerInfo peer)
    {
        final PeerEvent e = new PeerEvent(true, peer.vm(), peer.sessionId(), null);
        peerEvents.add(e);
        sequence.add(e);
        notifyAll();
    }

    @Override
    public synchronized void onPeerDown(final int vm, final long sessionId, final String reason)
    {
        final PeerEvent e = new PeerEvent(false, vm, sessionId, reason);
        peerEvents.add(e);
        sequence.add(e);
        notifyAll();
    }

    @Override
    public synchronized void onMessage(final int vm, final ByteBuffer payload, final int length)
    {
        final long deadline = System.currentTimeMillis() + GATE_LIMIT_MS;
        while (gateClosed && System.currentTimeMillis() < deadline)
        {
            try
            {
                wait(Math.max(1, deadline - System.currentTimeMillis()));
            }
            catch (final InterruptedException e)
            {
                Thread.currentThread().interrupt();
                break;
            }
        }
        final byte[] bytes = new byte[length];
        payload.get(0, bytes, 0, length);
        final Message m = new Message(vm, bytes);
        messages.add(m);
        sequence.add(m);
        notifyAll();
    }

    @Override
    public synchronized void onFenceDoorbell()
    {
        fenceDoorbells++;
        notifyAll();
    }

    @Override
    public synchronized void onFenceTick()
    {
        fenceTicks++;
        final long deadline = System.currentTimeMillis() + GATE_LIMIT_MS;
        while (tickGateClosed && System.currentTimeMillis() < deadline)
        {
            tickBlocked = true;
            notifyAll();
            try
            {
                wait(Math.max(1, deadline - System.currentTimeMillis()));
            }
            catch (final InterruptedException e)
            {
                Thread.currentThread().interrupt();
                break;
            }
        }
        tickBlocked = false;
        notifyAll();
    }

    public synchronized long fenceDoorbells()
    {
        return fenceDoorbells;
    }

    public synchronized long fenceTicks()
    {
        return fenceTicks;
    }

    /**
     * Parks the backend's receive thread in its next {@link #onFenceTick()}, between two rounds of its loop
     * (nothing half-delivered), until {@link #openTickGate()}; see {@link #tickBlocked()}.
     */
    public synchronized void closeTickGate()
    {
        tickGateClosed = true;
    }

    public synchronized void openTickGate()
    {
        tickGateClosed = false;
        notifyAll();
    }

    /** True while the receive thread is parked by {@link #closeTickGate()}. */
    public synchronized boolean tickBlocked()
    {
        return tickBlocked;
    }

    /** Peer events and messages in the order they were delivered. */
    public synchronized List<Object> sequence()
    {
        return new ArrayList<>(sequence);
    }

    /** Holds back every delivery (the backend's receive thread blocks in {@link #onMessage}). */
    public synchronized void closeGate()
    {
        gateClosed = true;
    }

    public synchronized void openGate()
    {
        gateClosed = false;
        notifyAll();
    }

    public synchronized List<PeerEvent> peerEvents()
    {
        return new ArrayList<>(peerEvents);
    }

    /** Messages received from {@code vm}, in delivery order. */
    public synchronized List<Message> messagesFrom(final int vm)
    {
        final List<Message> from = new ArrayList<>();
        for (final Message m : messages)
        {
            if (m.vm() == vm)
            {
                from.add(m);
            }
        }
        return from;
    }

    public synchronized int messageCount(final int vm)
    {
        int n = 0;
        for (final Message m : messages)
        {
            if (m.vm() == vm)
            {
                n++;
            }
        }
        return n;
    }

    public synchronized boolean sawPeerUp(final int vm, final long sessionId)
    {
        return peerEvents.contains(new PeerEvent(true, vm, sessionId, null));
    }

    public synchronized PeerEvent peerDown(final int vm, final long sessionId)
    {
        for (final PeerEvent e : peerEvents)
        {
            if (!e.up() && e.vm() == vm && e.sessionId() == sessionId)
            {
                return e;
            }
        }
        return null;
    }

    /** Waits until {@code condition} holds over this listener, failing with {@code what} at the deadline. */
    public synchronized void await(final Predicate<RecordingListener> condition, final Duration timeout,
        final String what)
    {
        final long deadline = System.nanoTime() + timeout.toNanos();
        while (!condition.test(this))
        {
            final long remainingMs = (deadline - System.nanoTime()) / 1_000_000L;
            if (remainingMs <= 0)
            {
                fail("timed out after " + timeout.toMillis() + " ms waiting for " + what + "; peer events: " +
                    peerEvents + ", messages: " + messages.size());
            }
            try
            {
                wait(remainingMs);
            }
            catch (final InterruptedException e)
            {
                Thread.currentThread().interrupt();
                fail("interrupted waiting for " + what);
            }
        }
    }
}
