package org.hyperdmabuf.hv.spi;

import java.nio.ByteBuffer;

/** Callbacks from a backend's receive thread. Implementations must not block for long. */
public interface BackendListener
{
    /** A peer joined (or restarted: then {@link #onPeerDown} for the old session came first). */
    void onPeerUp(PeerInfo peer);

    /** A peer left, died or restarted; {@code reason} is "gone", "restarted" or "corrupt". */
    void onPeerDown(int vm, long sessionId, String reason);

    /** One message from {@code vm}; {@code payload} is valid only during the call. */
    void onMessage(int vm, ByteBuffer payload, int length);
}
