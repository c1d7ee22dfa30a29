package org.hyperdmabuf.daemon;

import io.netty.buffer.ByteBuf;
import io.netty.channel.embedded.EmbeddedChannel;
import org.hyperdmabuf.abi.Limits;
import org.hyperdmabuf.abi.UEvent;
import org.hyperdmabuf.abi.v1.ErrorCode;
import org.hyperdmabuf.abi.v1.Match;
import org.hyperdmabuf.abi.v1.MatchRule;
import org.hyperdmabuf.abi.v1.ServerFrame;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@link EventHub} on connections over embedded channels: who gets which event, in which order, at what cost. */
@Timeout(30)
class EventHubTest
{
    private final EventHub hub = new EventHub();
    private final List<EmbeddedChannel> channels = new ArrayList<>();

    @AfterEach
    void closeChannels()
    {
        channels.forEach(EmbeddedChannel::finishAndReleaseAll);
    }

    private ClientConnection client()
    {
        final EmbeddedChannel channel = new EmbeddedChannel();
        channels.add(channel);
        return new ClientConnection(channels.size(), channel, new Refusals());
    }

    private static EventFilter filter(final String key, final String glob, final boolean negate) throws ApiException
    {
        return EventFilter.of(List.of(MatchRule.newBuilder().addMatches(Match.newBuilder().setKey(key).setGlob(glob)
            .setNegate(negate)).build()));
    }

    private UEvent event(final String action, final String contentType)
    {
        return hub.newEvent(action, "/devices/virtual/hyperdmabuf/x").put("CONTENT_TYPE", contentType).build();
    }

    /** The events written to {@code client}'s channel so far: "subscription:ACTION:SEQNUM". */
    private List<String> received(final ClientConnection client) throws IOException
    {
        final EmbeddedChannel channel = channels.get((int)client.id() - 1);
        final List<String> out = new ArrayList<>();
        ByteBuf frame;
        while ((frame = channel.readOutbound()) != null)
        {
            final byte[] bytes = new byte[frame.readableBytes()];
            frame.readBytes(bytes);
            frame.release();
            final ServerFrame f = ServerFrame.parseDelimitedFrom(new ByteArrayInputStream(bytes));
            final UEvent e = UEvent.decode(f.getEvent().getUevent().toByteArray());
            out.add(f.getEvent().getSubscriptionId() + ":" + e.action() + ":" + e.get(UEvent.SEQNUM));
        }
        return out;
    }

    @Test
    void eachSubscriptionGetsTheEventsItsFilterMatchesInPublishingOrder() throws Exception
    {
        final ClientConnection a = client();
        final ClientConnection b = client();
        final long video = hub.subscribe(a, filter("CONTENT_TYPE", "video/*", false));
        final long everything = hub.subscribe(a, EventFilter.of(List.of()));
        final long notVideo = hub.subscribe(b, filter("CONTENT_TYPE", "video/*", true));
        hub.publish(event("add", "video/raw"));
        hub.publish(event("add", "audio/pcm"));
        hub.publish(event("remove", "video/raw"));
        assertEquals(List.of(video + ":add:1", everything + ":add:1", everything + ":add:2", video + ":remove:3",
            everything + ":remove:3"), received(a));
        assertEquals(List.of(notVideo + ":add:2"), received(b));
    }

    @Test
    void seqnumCountsEventsNobodySawAndPublishToReachesOneClientOnly() throws Exception
    {
        final ClientConnection a = client();
        final ClientConnection b = client();
        final long subA = hub.subscribe(a, EventFilter.of(List.of()));
        hub.subscribe(b, EventFilter.of(List.of()));
        hub.publishUnseen();
        hub.publishTo(a, event("change", "video/raw"));
        assertEquals(List.of(subA + ":change:2"), received(a), "SEQNUM 1 went to nobody");
        assertEquals(List.of(), received(b));
        assertTrue(hub.hasSubscriptions(a));
    }

    @Test
    void unsubscribingAndRemovingAClientStopDeliveryAndFreeItsBudget() throws Exception
    {
        final ClientConnection a = client();
        final ClientConnection b = client();
        final long sub = hub.subscribe(a, EventFilter.of(List.of()));
        assertFalse(hub.unsubscribe(b, sub), "only the owner unsubscribes");
        assertTrue(hub.unsubscribe(a, sub));
        assertFalse(hub.unsubscribe(a, sub), "once");
        hub.subscribe(b, EventFilter.of(List.of()));
        hub.removeClient(b);
        hub.publish(event("add", "video/raw"));
        assertEquals(List.of(), received(a));
        assertEquals(List.of(), received(b));
        assertFalse(hub.hasSubscriptions(a));
        assertEquals(List.of(), hub.subscriptionsOf(b));
    }

    @Test
    void aConnectionHoldsABoundedNumberOfSubscriptions() throws Exception
    {
        final ClientConnection a = client();
        final List<Long> ids = new ArrayList<>();
        for (int i = 0; i < Limits.MAX_SUBSCRIPTIONS_PER_CLIENT; i++)
        {
            ids.add(hub.subscribe(a, EventFilter.of(List.of())));
        }
        final ApiException e = assertThrows(ApiException.class, () -> hub.subscribe(a, EventFilter.of(List.of())));
        assertEquals(ErrorCode.ENOSPC, e.code(), e.getMessage());
        assertTrue(hub.unsubscribe(a, ids.get(0)));
        hub.subscribe(a, EventFilter.of(List.of()));
        assertEquals(Limits.MAX_SUBSCRIPTIONS_PER_CLIENT, hub.subscriptionsOf(a).size());
    }
}
