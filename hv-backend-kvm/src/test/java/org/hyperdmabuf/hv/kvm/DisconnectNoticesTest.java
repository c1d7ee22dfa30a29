package org.hyperdmabuf.hv.kvm;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A server's disconnect notice against the peer's heartbeat, on a clock the test drives. */
class DisconnectNoticesTest
{
    private static final long MS = 1_000_000L;
    private static final long SESSION = 0x5e55;

    private final DisconnectNotices notices = new DisconnectNotices(8, 1500 * MS, 10 * MS);

    @Test
    void theWindowIsHalfTheLivenessTimeoutPlusAScan()
    {
        assertEquals(760 * MS, notices.windowNs(), "the longest heartbeat interval a peer may have, plus a scan");
    }

    @Test
    void aNoticeWhoseHeartbeatStandsStillForTheWindowIsConfirmed()
    {
        notices.notice(3, SESSION, 42, 0);
        assertFalse(notices.confirmed(3, SESSION, 42, 759 * MS), "within the window");
        assertTrue(notices.confirmed(3, SESSION, 42, 760 * MS), "still for the whole window: gone");
        assertFalse(notices.confirmed(3, SESSION, 42, 2000 * MS), "confirmed once");
    }

    @Test
    void aMovingHeartbeatDropsTheNotice()
    {
        notices.notice(3, SESSION, 42, 0);
        assertFalse(notices.confirmed(3, SESSION, 43, 100 * MS), "the peer lives (the server stopped)");
        assertFalse(notices.confirmed(3, SESSION, 43, 5000 * MS), "the dropped notice never fires");
        notices.notice(3, SESSION, 43, 6000 * MS);
        assertTrue(notices.confirmed(3, SESSION, 43, 6760 * MS), "a new notice starts a new window");
    }

    @Test
    void aNoticeConcernsOneSessionAndARepeatDoesNotRestartTheWindow()
    {
        notices.notice(3, SESSION, 42, 0);
        notices.notice(3, SESSION, 42, 500 * MS);
        assertTrue(notices.confirmed(3, SESSION, 42, 760 * MS), "the window runs from the first notice");
        notices.notice(4, SESSION, 7, 0);
        assertFalse(notices.confirmed(4, SESSION + 1, 7, 1000 * MS), "another session of the peer (a restart)");
        assertFalse(notices.confirmed(4, SESSION, 7, 2000 * MS), "dropped with the restart");
        assertFalse(notices.confirmed(5, SESSION, 7, 2000 * MS), "no notice");
    }

    @Test
    void timeTheObserverDidNotRunDoesNotCount()
    {
        notices.notice(3, SESSION, 42, 0);
        notices.discount(700 * MS);
        assertFalse(notices.confirmed(3, SESSION, 42, 800 * MS), "700 ms of the 800 were a stall of ours");
        assertTrue(notices.confirmed(3, SESSION, 42, 1460 * MS));
    }
}
