package org.hyperdmabuf.sink;

import org.hyperdmabuf.abi.BufferIds;
import org.hyperdmabuf.abi.Limits;
import org.hyperdmabuf.abi.v1.Access;
import org.hyperdmabuf.abi.v1.BufferId;
import org.hyperdmabuf.abi.v1.Exported;
import org.hyperdmabuf.abi.v1.Match;
import org.hyperdmabuf.abi.v1.MatchRule;
import org.hyperdmabuf.client.Allocation;
import org.hyperdmabuf.client.HdmabufClient;
import org.hyperdmabuf.client.ReceivedEvent;
import org.hyperdmabuf.hv.conformance.Await;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.time.Duration;
import java.util.List;

import static org.hyperdmabuf.sink.TwoVms.TIMEOUT;
import static org.hyperdmabuf.sink.TwoVms.metadata;
import static org.hyperdmabuf.sink.TwoVms.nextEvent;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/** The source's event hub through real subscribers: filters, replay, order, and a subscriber that stops reading. */
class EventSubscriptionTest extends TwoVmsTest
{
    private Allocation allocation;

    @BeforeEach
    void allocate() throws Exception
    {
        allocation = producer.alloc(4096);
    }

    private static MatchRule rule(final String key, final String glob, final boolean negate)
    {
        return MatchRule.newBuilder().addMatches(Match.newBuilder().setKey(key).setGlob(glob).setNegate(negate))
            .build();
    }

    private Exported export(final String contentType) throws Exception
    {
        final Allocation a = producer.alloc(4096);
        return producer.export(a.handle(), vms.source.vm(), metadata(contentType, 1), Access.ACCESS_READ_WRITE);
    }

    @Test
    void filtersSelectEventsAndReplayDescribesWhatExists() throws Exception
    {
        final HdmabufClient video = vms.source.connect();
        final HdmabufClient notVideo = vms.source.connect();
        video.subscribe(List.of(rule("CONTENT_TYPE", "video/*", false)), false);
        notVideo.subscribe(List.of(rule("CONTENT_TYPE", "video/*", true)), false);
        final Exported audio = export("audio/pcm");
        final Exported raw = export("video/raw");
        assertEquals(BufferIds.format(raw.getId()), nextEvent(video).event().get("BUFFER"), "video sees video");
        assertEquals(BufferIds.format(audio.getId()), nextEvent(notVideo).event().get("BUFFER"), "the rest the rest");
        producer.unexport(raw.getId());
        assertEquals("remove", nextEvent(video).event().action());
        assertNull(notVideo.nextEvent(Duration.ofMillis(50)), "nothing of the video buffer for the negated filter");

        final HdmabufClient late = vms.source.connect();
        late.subscribe(List.of(), true);
        final ReceivedEvent replayed = nextEvent(late);
        assertEquals("add", replayed.event().action());
        assertEquals(BufferIds.format(audio.getId()), replayed.event().get("BUFFER"), "replay lists what exists");
        assertNull(late.nextEvent(Duration.ofMillis(50)), "and not the removed buffer");
    }

    @Test
    void eventsArriveInOrderWithGrowingSeqnum() throws Exception
    {
        final int revisions = 50;
        for (int i = 1; i <= revisions; i++)
        {
            producer.export(allocation.handle(), vms.source.vm(), metadata("video/raw", i), Access.ACCESS_READ_WRITE);
        }
        long lastSeqnum = 0;
        for (int i = 1; i <= revisions; i++)
        {
            final ReceivedEvent e = nextEvent(consumer);
            assertEquals(i == 1 ? "add" : "change", e.event().action());
            assertEquals(Integer.toString(i), e.event().get("REVISION"), "revisions in order");
            final long seqnum = Long.parseLong(e.event().get("SEQNUM"));
            assertTrue(seqnum > lastSeqnum, "SEQNUM grows: " + seqnum + " after " + lastSeqnum);
            lastSeqnum = seqnum;
        }
    }

    /**
     * A subscriber that stops reading: the daemon queues a bounded number of events for it and counts the rest;
     * once it reads again, events received plus those reported dropped are all that were published.
     */
    @Test
    void aSlowSubscriberGetsAnOverflowMarkerAndLosesNothingSilently() throws Exception
    {
        final HdmabufClient stalled = vms.source.connect();
        stalled.subscribe(List.of(), false);
        final HdmabufClient observer = vms.source.connect();
        final int published = Limits.EVENT_QUEUE_PER_CLIENT + 2000;
        Exported e = null;
        for (int i = 1; i <= published; i++)
        {
            e = producer.export(allocation.handle(), vms.source.vm(), metadata("video/raw", 1).toBuilder()
                .putTags("n", Integer.toString(i)).build(), Access.ACCESS_READ_WRITE);
        }
        final BufferId last = e.getId();
        final String id = BufferIds.format(last);
        // Every announcement handled by the source (each one published an event) before the subscriber reads.
        Await.until(() -> Integer.toString(published).equals(tagAtSource(observer, last)), TIMEOUT,
            () -> "the source to hold the last revision");
        long events = 0;
        long dropped = 0;
        long lastRevision = 0;
        final long deadline = System.nanoTime() + TIMEOUT.toNanos();
        while (events + dropped < published)
        {
            final ReceivedEvent r = stalled.nextEvent(TIMEOUT);
            if (r == null || System.nanoTime() - deadline > 0)
            {
                fail("after " + events + " events and " + dropped + " reported dropped of " + published);
            }
            if (r.isOverflow())
            {
                dropped += r.overflowDropped();
                continue;
            }
            assertEquals(id, r.event().get("BUFFER"));
            final long revision = Long.parseLong(r.event().get("REVISION"));
            assertTrue(revision > lastRevision, "in order: " + revision + " after " + lastRevision);
            lastRevision = revision;
            events++;
        }
        assertEquals(published, events + dropped, "received + reported dropped = published");
        assertTrue(dropped > 0, "the stalled subscriber overflowed");
        assertTrue(events < published, "it was sent at most the bound and what its socket held: " + events);
    }

    private static String tagAtSource(final HdmabufClient observer, final BufferId id)
    {
        try
        {
            return observer.query(id).getMetadata().getTagsMap().get("n");
        }
        catch (final IOException e)
        {
            throw new IllegalStateException(e);
        }
    }
}
