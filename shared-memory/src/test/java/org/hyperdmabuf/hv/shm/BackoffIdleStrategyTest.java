package org.hyperdmabuf.hv.shm;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class BackoffIdleStrategyTest
{
    @Test
    void spinsThenYieldsThenParksWithDoublingBoundedTimeAndResetsOnWork()
    {
        final BackoffIdleStrategy idle = new BackoffIdleStrategy(2, 1, 1_000, 4_000);
        idle.idle(0);
        idle.idle(0);
        assertEquals(0, idle.nextParkNs(), "still yielding");
        idle.idle(0);
        assertEquals(1_000, idle.nextParkNs());
        idle.idle(0);
        assertEquals(2_000, idle.nextParkNs());
        idle.idle(0);
        idle.idle(0);
        assertEquals(4_000, idle.nextParkNs(), "bounded by maxParkNs");
        idle.idle(1);
        assertEquals(0, idle.nextParkNs(), "work resets to spinning");
        assertThrows(IllegalArgumentException.class, () -> new BackoffIdleStrategy(0, 0, 10, 5));
    }
}
