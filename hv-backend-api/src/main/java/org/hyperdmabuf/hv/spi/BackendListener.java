package org.hyperdmabuf.hv.spi;

import java.nio.ByteBuffer;

/** Callbacks from a backend's receive thread. Implementations must not block for long. */
public interface BackendListener
{
    /**
     * The reason {@link #onPeerDown} gives for every peer when this daemon itself starts a new session because a
     * peer declared its current one down (ABI.md "Resync"): everything tied to the old session goes, as after a
     * restart, and the peers come back up with the new one.
     */
    String REASON_RESYNC = "resync";

    /** A peer joined (or restarted: then {@link #onPeerDown} for the old session came first). */
    void onPeerUp(PeerInfo peer);

    /**
     * A peer left, died or restarted; {@code reason} is "gone" (it left, or the transport reported it gone),
     * "restarted" (a new session id replaced this one), "timeout" (its heartbeat stopped) or "corrupt" (it
     * broke the shared-memory protocol), or {@link #REASON_RESYNC}. A session reported down for any other reason
     * never comes back up: the peer returns only with a new session id, through {@link #onPeerUp}.
     */
    void onPeerDown(int vm, long sessionId, String reason);

    /** One message from {@code vm}; {@code payload} is valid only during the call. */
    void onMessage(int vm, ByteBuffer payload, int length);

    /**
     * Our fence doorbell rang: a peer signalled a timeline that a wait blocked in this daemon may be waiting
     * for. Doorbells are hints (coalesced, possibly lost); re-check every blocked wait.
     */
    default void onFenceDoorbell()
    {
    }

    /**
     * The periodic safety net for lost fence doorbells: called from the receive thread about every 10 ms
     * (never more often), whether or not anything happened; less often by a backend whose doorbells always reach
     * it (kvm-ivshmem guest mode with interrupts: at its scan interval), so that it can sleep when idle. Cheap
     * when nothing waits.
     */
    default void onFenceTick()
    {
    }
}
