package org.hyperdmabuf.daemon;

import org.hyperdmabuf.abi.Limits;
import org.hyperdmabuf.abi.UEvent;
import org.hyperdmabuf.abi.v1.ErrorCode;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Subscriptions and uevent delivery. SEQNUM grows by one per published event (like the kernel's), so a
 * subscriber can tell from a gap that it was filtered, and from an overflow marker that it lost events.
 * Event-loop confined.
 */
public final class EventHub
{
    private final Map<Long, Subscription> subscriptions = new LinkedHashMap<>();
    private long nextSubscriptionId = 1;
    private long seqnum;

    private record Subscription(long id, ClientConnection client, EventFilter filter)
    {
    }

    /**
     * Adds a subscription; ENOSPC past {@link Limits#MAX_SUBSCRIPTIONS_PER_CLIENT} subscriptions or
     * {@link Limits#MAX_GLOB_CHARS_PER_CLIENT} glob characters for this client, which bound what one connection
     * costs the daemon per published event.
     */
    public long subscribe(final ClientConnection client, final EventFilter filter) throws ApiException
    {
        if (client.subscriptions >= Limits.MAX_SUBSCRIPTIONS_PER_CLIENT)
        {
            throw new ApiException(ErrorCode.ENOSPC, "this connection already holds " +
                Limits.MAX_SUBSCRIPTIONS_PER_CLIENT + " subscriptions");
        }
        if (client.subscribedGlobChars + filter.cost() > Limits.MAX_GLOB_CHARS_PER_CLIENT)
        {
            throw new ApiException(ErrorCode.ENOSPC, "the subscriptions of this connection would hold " +
                (client.subscribedGlobChars + filter.cost()) + " glob characters, at most " +
                Limits.MAX_GLOB_CHARS_PER_CLIENT + " (each match counts its glob plus one)");
        }
        client.subscriptions++;
        client.subscribedGlobChars += filter.cost();
        final long id = nextSubscriptionId++;
        subscriptions.put(id, new Subscription(id, client, filter));
        return id;
    }

    /** Removes a subscription of {@code client}; false if it has none with that id. */
    public boolean unsubscribe(final ClientConnection client, final long id)
    {
        final Subscription s = subscriptions.get(id);
        if (s == null || s.client != client)
        {
            return false;
        }
        subscriptions.remove(id);
        client.subscriptions--;
        client.subscribedGlobChars -= s.filter.cost();
        return true;
    }

    public void removeClient(final ClientConnection client)
    {
        subscriptions.values().removeIf(s -> s.client == client);
    }

    /** Starts an event with the next SEQNUM. */
    public UEvent.Builder newEvent(final String action, final String devpath)
    {
        return UEvent.builder(action, devpath, ++seqnum);
    }

    /** Delivers to every matching subscription (encoded once, and only if one matches). */
    public void publish(final UEvent event)
    {
        byte[] record = null;
        for (final Iterator<Subscription> it = subscriptions.values().iterator(); it.hasNext(); )
        {
            final Subscription s = it.next();
            if (!s.client.isOpen())
            {
                it.remove();
            }
            else if (s.filter.test(event))
            {
                record = record == null ? event.encode() : record;
                s.client.deliverEvent(s.id, record);
            }
        }
    }

    /** Whether {@code client} has a subscription: if not, an event only for it need not be built. */
    public boolean hasSubscriptions(final ClientConnection client)
    {
        return client.subscriptions > 0;
    }

    /** Takes the SEQNUM of an event published to nobody (not built): SEQNUM still counts every event. */
    public void publishUnseen()
    {
        ++seqnum;
    }

    /** Delivers to the matching subscriptions of one client (events about that client's own exports). */
    public void publishTo(final ClientConnection client, final UEvent event)
    {
        byte[] record = null;
        for (final Subscription s : subscriptions.values())
        {
            if (s.client == client && s.filter.test(event))
            {
                record = record == null ? event.encode() : record;
                client.deliverEvent(s.id, record);
            }
        }
    }

    /** Delivers to one subscription if it matches (replay of existing buffers on subscribe). */
    public void deliverTo(final long subscriptionId, final UEvent event)
    {
        final Subscription s = subscriptions.get(subscriptionId);
        if (s != null && s.filter.test(event))
        {
            s.client.deliverEvent(s.id, event.encode());
        }
    }

    public List<Long> subscriptionsOf(final ClientConnection client)
    {
        final List<Long> ids = new ArrayList<>();
        for (final Subscription s : subscriptions.values())
        {
            if (s.client == client)
            {
                ids.add(s.id);
            }
        }
        return ids;
    }
}
