package org.hyperdmabuf.hv.shm;

/**
 * One slot of the peer table, indexed by peer id (ABI.md "Peer table"). Written only by the peer it
 * describes; {@code state} is stored last with release semantics. {@code heartbeat} is a counter the owner
 * advances at least every heartbeat interval; observers judge liveness by whether it moves, on their own clock.
 * <pre>
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                 state (0 free, 1 active, 2 gone)              |  0
 *  +---------------------------------------------------------------+
 *  |                           peer_id                             |  4
 *  +---------------------------------------------------------------+
 *  |                          session_id                           |  8
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |                          heartbeat                            | 16
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |                         abi_version                           | 24
 *  +---------------------------------------------------------------+
 *  |                 roles (bit 0 sink, bit 1 source)              | 28
 *  +---------------------------------------------------------------+
 *  |                     pid (informational)                       | 32
 *  +---------------------------------------------------------------+
 *  |        notify (0 polls fence_bell, 1 woken by doorbell)       | 36
 *  +---------------------------------------------------------------+
 *  |     claim: holder's ivshmem id (16) | session tag (48)        | 40
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |                     reserved (zero) to 64                     | 48
 *  +---------------------------------------------------------------+
 *  |                 fence_bell (written by OTHER peers)           | 64
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |                     reserved (zero) to 128                    | 72
 *  +---------------------------------------------------------------+
 * </pre>
 * {@code fence_bell} (own cache line) is the one word of a slot other peers write: a counter a peer atomically
 * increments when it rings this peer's fence doorbell. A peer that cannot receive doorbell interrupts (guest
 * mode, ivshmem-plain) polls it; any change means "check your fence waits". It is a hint like the doorbell
 * itself: a garbage value costs one needless check. It is never reset, so a (re)joining owner starts from the
 * value it finds.
 * <p>
 * {@code notify} says how the owner learns of fence doorbells: {@link #NOTIFY_DOORBELL} (its fence vector is an
 * eventfd it waits on, ivshmem host mode), so a doorbell alone wakes it and a local client may ring it directly
 * (FENCE_DOORBELL in ABI.md); {@link #NOTIFY_POLLS} (0, also what a slot that predates the field holds) when
 * only {@code fence_bell} reaches it.
 * <p>
 * {@code claim} names the ivshmem peer that holds the slot when it is not the one whose id is the slot index: a
 * peer whose ivshmem id is beyond the slots (QEMU's server never reuses ids) claims a free slot by compare-and-swap
 * of this word, and doorbells for the slot then go to the id it names (ABI.md "Peer table", Claiming). Bits 63-48:
 * the holder's ivshmem id; bits 47-0: the low 48 bits of its session id (never 0), so that a claim is never
 * mistaken for an earlier one (no ABA). 0: no claim, the holder's ivshmem id is the slot index. Written before
 * {@code state} by the owner, and by a claiming peer's CAS before it owns the slot.
 */
public final class PeerSlotDescriptor
{
    public static final int SLOT_LENGTH = 128;

    public static final int STATE_OFFSET = 0;
    public static final int PEER_ID_OFFSET = 4;
    public static final int SESSION_ID_OFFSET = 8;
    public static final int HEARTBEAT_OFFSET = 16;
    public static final int ABI_VERSION_OFFSET = 24;
    public static final int ROLES_OFFSET = 28;
    public static final int PID_OFFSET = 32;
    public static final int NOTIFY_OFFSET = 36;
    public static final int CLAIM_OFFSET = 40;
    public static final int FENCE_BELL_OFFSET = 64;

    public static final int STATE_FREE = 0;
    public static final int STATE_ACTIVE = 1;
    public static final int STATE_GONE = 2;

    public static final int NOTIFY_POLLS = 0;
    public static final int NOTIFY_DOORBELL = 1;

    public static final int CLAIM_ID_SHIFT = 48;
    public static final long CLAIM_TAG_MASK = (1L << CLAIM_ID_SHIFT) - 1;

    public static final int ROLE_SINK = 1;
    public static final int ROLE_SOURCE = 2;

    private PeerSlotDescriptor()
    {
    }

    public static int slotOffset(final int peerId)
    {
        return peerId * SLOT_LENGTH;
    }

    /** The claim word of the peer with ivshmem id {@code ivshmemId} (0-65535) and session {@code session}. */
    public static long claimWord(final int ivshmemId, final long session)
    {
        final long tag = session & CLAIM_TAG_MASK;
        return ((long)ivshmemId << CLAIM_ID_SHIFT) | (tag != 0 ? tag : 1);
    }

    /** The ivshmem id of the holder of slot {@code slot} whose claim word is {@code claim}. */
    public static int claimHolder(final long claim, final int slot)
    {
        return claim == 0 ? slot : (int)(claim >>> CLAIM_ID_SHIFT);
    }
}
