package org.hyperdmabuf.client;

import org.hyperdmabuf.abi.UEvent;

/**
 * An event from a subscription: a uevent, or (when {@code overflowDropped > 0}) a marker that the daemon
 * dropped that many events because this client did not read fast enough; {@code event} is then null.
 */
public record ReceivedEvent(long subscriptionId, UEvent event, long overflowDropped)
{
    public boolean isOverflow()
    {
        return overflowDropped > 0;
    }
}
