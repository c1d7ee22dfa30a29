/* SPDX-License-Identifier: MIT */
/******************************************************************************
 * hyperdmabuf_shm.h
 *
 * Shared-memory layouts of hyperdmabuf, layout version 1: the region header,
 * the peer table, the SPSC rings and their records, the page table and the
 * fence table of a shared region (a KVM/ACRN ivshmem region today), and the
 * frame header that frame streams keep inside their buffers (every backend).
 *
 * This header is normative together with abi-spec/ABI.md ("Shared region
 * layout"). It mirrors, byte for byte, the Java descriptors in
 * hv-backend-api/src/main/java/org/hyperdmabuf/hv/shm/ (RegionHeaderDescriptor,
 * PeerSlotDescriptor, RingDescriptor, RecordDescriptor, PageTableDescriptor,
 * FenceSlotDescriptor, RegionLayout) and abi-spec/src/main/java/org/hyperdmabuf/
 * abi/FrameHeaderDescriptor; tests/ShmHeaderConformanceTest compiles
 * this file with gcc and checks every value against them.
 *
 * Requirements: C11 (or C++11), <stdint.h>, <stddef.h>. No other dependency.
 * The optional atomic helpers at the end use the GCC/Clang __atomic builtins.
 ******************************************************************************
 */

#ifndef HYPERDMABUF_SHM_H
#define HYPERDMABUF_SHM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#define HDMABUF_STATIC_ASSERT(cond, msg) static_assert(cond, msg)
#else
#define HDMABUF_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#endif

/*
 ******************************************************************************
 *                          General conventions
 ******************************************************************************
 *
 * Byte order
 *   Every multi-byte field of the shared region is LITTLE-ENDIAN. The structs
 *   below overlay the region directly only on a little-endian CPU; a
 *   big-endian implementation must byte-swap every access (define
 *   HDMABUF_SHM_ALLOW_BIG_ENDIAN to use the constants and offsets only).
 *
 * Alignment
 *   Every field is naturally aligned at its offset (u64 fields at multiples
 *   of 8, u32 at multiples of 4) and the structs need no packing attribute:
 *   their layout under the platform ABI is the wire layout, which the
 *   _Static_asserts below pin. 8-byte aligned u64 words can be loaded,
 *   stored and compare-and-swapped atomically by every supported CPU; the
 *   protocol depends on that.
 *
 * Memory ordering (the "ready flag" rule)
 *   Each structure written by one party and read by another has exactly one
 *   ready flag. The writer stores every other field first and then stores
 *   the ready flag with RELEASE semantics; the reader loads the ready flag
 *   with ACQUIRE semantics and only then reads the other fields:
 *
 *     structure       ready flag                 written by
 *     region header   magic                      the formatter
 *     peer slot       state                      the peer the slot describes
 *     ring records    trailer.tail               the ring's producer
 *     ring space      trailer.head               the ring's consumer
 *     fence timeline  *_value (error word first) the timeline's signaller
 *     page table      owner word (CAS)           the claiming peer
 *
 * Trust
 *   Every peer attached to an ivshmem region can read AND WRITE all of it.
 *   Anything another peer can write is validated before use (see the
 *   "Validation" paragraphs below and ABI.md); a receiver never keeps its own
 *   bookkeeping in the shared region.
 *
 * Reserved
 *   Reserved bytes are written as zero by their owner and ignored by readers.
 */

#if !defined(HDMABUF_SHM_ALLOW_BIG_ENDIAN) && defined(__BYTE_ORDER__) && \
    defined(__ORDER_LITTLE_ENDIAN__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "hyperdmabuf_shm.h structs overlay little-endian memory; define HDMABUF_SHM_ALLOW_BIG_ENDIAN and byte-swap"
#endif

/*
 ******************************************************************************
 *                          Region map
 ******************************************************************************
 *
 * A region of region_size bytes is divided as follows; every offset is
 * stored in the header AND derived from the five parameters region_size,
 * page_size, max_peers, ring_capacity and fence_slots by
 * hdmabuf_region_layout_compute() below:
 *
 *  offset                 contents                                 length
 *  0                      region header                            4096
 *  peer_table_offset      peer table, max_peers slots              max_peers * 128
 *  ring_area_offset       max_peers^2 rings (page-aligned start)   max_peers^2 * ring_stride
 *  page_table_offset      page table, one u64 per pool page        pool_pages * 8
 *  fence_table_offset     fence table, fence_slots slots           fence_slots * 192
 *  pool_offset            pool (64 KiB-aligned start)              pool_pages * page_size
 *  ... region_size
 *
 * Everything before pool_offset is the "control area" (mapped by daemons);
 * pool pages are mapped by the clients that use them.
 */

/*
 ******************************************************************************
 *                          Region header
 ******************************************************************************
 *
 * At offset 0, 4096 bytes, written once by the formatter.
 *
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                  magic "HDMABUF1" (ready flag)                |  0
 *  +                                                               +
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |                        layout_version                         |  8
 *  +---------------------------------------------------------------+
 *  |                        header_length                          | 12
 *  +---------------------------------------------------------------+
 *  |                         region_size                           | 16
 *  +                                                               +
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |                          page_size                            | 24
 *  +---------------------------------------------------------------+
 *  |                          max_peers                            | 28
 *  +---------------------------------------------------------------+
 *  |                        ring_capacity                          | 32
 *  +---------------------------------------------------------------+
 *  |                        format_state                           | 36
 *  +---------------------------------------------------------------+
 *  |                 peer_table_offset (u64)                       | 40
 *  +---------------------------------------------------------------+
 *  |                 ring_area_offset (u64)                        | 48
 *  +---------------------------------------------------------------+
 *  |                 ring_stride (u64)                             | 56
 *  +---------------------------------------------------------------+
 *  |                 page_table_offset (u64)                       | 64
 *  +---------------------------------------------------------------+
 *  |                 fence_table_offset (u64)                      | 72
 *  +---------------------------------------------------------------+
 *  |                          fence_slots                          | 80
 *  +---------------------------------------------------------------+
 *  |                        reserved0 (zero)                       | 84
 *  +---------------------------------------------------------------+
 *  |                 pool_offset (u64)                             | 88
 *  +---------------------------------------------------------------+
 *  |                 pool_pages (u64)                              | 96
 *  +---------------------------------------------------------------+
 *  |                 formatter_session (u64)                       |104
 *  +---------------------------------------------------------------+
 *  |                  reserved (zero) up to 4096                   |112
 *  +---------------------------------------------------------------+
 *
 * magic             - HDMABUF_SHM_MAGIC, the bytes "HDMABUF1" read as a
 *                     little-endian u64. READY FLAG of the header: stored
 *                     last, with release; read first, with acquire. The
 *                     value is the same for every layout version.
 * layout_version    - HDMABUF_SHM_LAYOUT_VERSION (1). A peer that finds any
 *                     other value MUST refuse to attach. magic,
 *                     layout_version and header_length keep their offsets
 *                     in every future version.
 * header_length     - HDMABUF_SHM_HEADER_LENGTH (4096).
 * region_size       - size of the whole region in bytes; must equal the size
 *                     the attaching peer mapped.
 * page_size         - pool page size: a power of two in [4096, 2^30].
 * max_peers         - peer table slots; peer ids are 0 .. max_peers-1;
 *                     in [2, 256].
 * ring_capacity     - record bytes of every ring: a power of two in
 *                     [4096, 2^24].
 * format_state      - HDMABUF_FORMAT_STATE_*: 0 blank, 1 formatting,
 *                     2 ready. The formatter wins the region by CAS 0 -> 1.
 * peer_table_offset .. pool_pages
 *                   - the derived layout (see hdmabuf_region_layout_compute).
 * fence_slots       - fence table slots, in [0, 2^20].
 * formatter_session - session id of the daemon that formatted the region
 *                     (informational).
 *
 * Formatting (first daemon to find the region blank):
 *   1. if acquire-load(magic) == MAGIC the region is formatted: attach;
 *   2. CAS format_state 0 -> 1; on failure another peer is formatting:
 *      wait (bounded) for magic, then attach; format_state back at 0 while
 *      waiting means that formatter gave up: retry the CAS;
 *   3. zero the control area [4096, pool_offset) and the header bytes
 *      [112, 4096); write every field except magic and format_state;
 *   4. release-store format_state = 2;
 *   5. release-store magic = HDMABUF_SHM_MAGIC (last);
 *   6. a formatter that cannot finish 3-5 release-stores format_state = 0
 *      (and never magic), leaving the region to the next peer.
 * Attaching:
 *   acquire-load magic; when it equals HDMABUF_SHM_MAGIC, read the header and
 *   call hdmabuf_region_header_validate(): recompute the layout from the
 *   parameters and compare EVERY stored offset; refuse the region on any
 *   mismatch (the header may have been scribbled on by a hostile peer).
 */

/* "HDMABUF1" as a little-endian u64. */
#define HDMABUF_SHM_MAGIC                   UINT64_C(0x31465542414D4448)
#define HDMABUF_SHM_LAYOUT_VERSION          1
#define HDMABUF_SHM_HEADER_LENGTH           4096
/* Bytes of defined header fields; the rest up to HEADER_LENGTH is reserved. */
#define HDMABUF_SHM_HEADER_DEFINED_LENGTH   112

#define HDMABUF_HDR_MAGIC_OFFSET               0
#define HDMABUF_HDR_LAYOUT_VERSION_OFFSET      8
#define HDMABUF_HDR_HEADER_LENGTH_OFFSET       12
#define HDMABUF_HDR_REGION_SIZE_OFFSET         16
#define HDMABUF_HDR_PAGE_SIZE_OFFSET           24
#define HDMABUF_HDR_MAX_PEERS_OFFSET           28
#define HDMABUF_HDR_RING_CAPACITY_OFFSET       32
#define HDMABUF_HDR_FORMAT_STATE_OFFSET        36
#define HDMABUF_HDR_PEER_TABLE_OFFSET_OFFSET   40
#define HDMABUF_HDR_RING_AREA_OFFSET_OFFSET    48
#define HDMABUF_HDR_RING_STRIDE_OFFSET         56
#define HDMABUF_HDR_PAGE_TABLE_OFFSET_OFFSET   64
#define HDMABUF_HDR_FENCE_TABLE_OFFSET_OFFSET  72
#define HDMABUF_HDR_FENCE_SLOTS_OFFSET         80
#define HDMABUF_HDR_RESERVED0_OFFSET           84
#define HDMABUF_HDR_POOL_OFFSET_OFFSET         88
#define HDMABUF_HDR_POOL_PAGES_OFFSET          96
#define HDMABUF_HDR_FORMATTER_SESSION_OFFSET   104

/* format_state values. */
#define HDMABUF_FORMAT_STATE_BLANK       0
#define HDMABUF_FORMAT_STATE_FORMATTING  1
#define HDMABUF_FORMAT_STATE_READY       2

struct hdmabuf_region_header {
    uint64_t magic;               /* ready flag, stored last (release) */
    uint32_t layout_version;
    uint32_t header_length;
    uint64_t region_size;
    uint32_t page_size;
    uint32_t max_peers;
    uint32_t ring_capacity;
    uint32_t format_state;        /* CAS 0 -> 1 by the formatter; 2 when ready */
    uint64_t peer_table_offset;
    uint64_t ring_area_offset;
    uint64_t ring_stride;
    uint64_t page_table_offset;
    uint64_t fence_table_offset;
    uint32_t fence_slots;
    uint32_t reserved0;
    uint64_t pool_offset;
    uint64_t pool_pages;
    uint64_t formatter_session;
    uint8_t  reserved[HDMABUF_SHM_HEADER_LENGTH - HDMABUF_SHM_HEADER_DEFINED_LENGTH];
};

HDMABUF_STATIC_ASSERT(offsetof(struct hdmabuf_region_header, magic) == HDMABUF_HDR_MAGIC_OFFSET, "magic");
HDMABUF_STATIC_ASSERT(offsetof(struct hdmabuf_region_header, layout_version) == HDMABUF_HDR_LAYOUT_VERSION_OFFSET, "layout_version");
HDMABUF_STATIC_ASSERT(offsetof(struct hdmabuf_region_header, header_length) == HDMABUF_HDR_HEADER_LENGTH_OFFSET, "header_length");
HDMABUF_STATIC_ASSERT(offsetof(struct hdmabuf_region_header, region_size) == HDMABUF_HDR_REGION_SIZE_OFFSET, "region_size");
HDMABUF_STATIC_ASSERT(offsetof(struct hdmabuf_region_header, page_size) == HDMABUF_HDR_PAGE_SIZE_OFFSET, "page_size");
HDMABUF_STATIC_ASSERT(offsetof(struct hdmabuf_region_header, max_peers) == HDMABUF_HDR_MAX_PEERS_OFFSET, "max_peers");
HDMABUF_STATIC_ASSERT(offsetof(struct hdmabuf_region_header, ring_capacity) == HDMABUF_HDR_RING_CAPACITY_OFFSET, "ring_capacity");
HDMABUF_STATIC_ASSERT(offsetof(struct hdmabuf_region_header, format_state) == HDMABUF_HDR_FORMAT_STATE_OFFSET, "format_state");
HDMABUF_STATIC_ASSERT(offsetof(struct hdmabuf_region_header, peer_table_offset) == HDMABUF_HDR_PEER_TABLE_OFFSET_OFFSET, "peer_table_offset");
HDMABUF_STATIC_ASSERT(offsetof(struct hdmabuf_region_header, ring_area_offset) == HDMABUF_HDR_RING_AREA_OFFSET_OFFSET, "ring_area_offset");
HDMABUF_STATIC_ASSERT(offsetof(struct hdmabuf_region_header, ring_stride) == HDMABUF_HDR_RING_STRIDE_OFFSET, "ring_stride");
HDMABUF_STATIC_ASSERT(offsetof(struct hdmabuf_region_header, page_table_offset) == HDMABUF_HDR_PAGE_TABLE_OFFSET_OFFSET, "page_table_offset");
HDMABUF_STATIC_ASSERT(offsetof(struct hdmabuf_region_header, fence_table_offset) == HDMABUF_HDR_FENCE_TABLE_OFFSET_OFFSET, "fence_table_offset");
HDMABUF_STATIC_ASSERT(offsetof(struct hdmabuf_region_header, fence_slots) == HDMABUF_HDR_FENCE_SLOTS_OFFSET, "fence_slots");
HDMABUF_STATIC_ASSERT(offsetof(struct hdmabuf_region_header, reserved0) == HDMABUF_HDR_RESERVED0_OFFSET, "reserved0");
HDMABUF_STATIC_ASSERT(offsetof(struct hdmabuf_region_header, pool_offset) == HDMABUF_HDR_POOL_OFFSET_OFFSET, "pool_offset");
HDMABUF_STATIC_ASSERT(offsetof(struct hdmabuf_region_header, pool_pages) == HDMABUF_HDR_POOL_PAGES_OFFSET, "pool_pages");
HDMABUF_STATIC_ASSERT(offsetof(struct hdmabuf_region_header, formatter_session) == HDMABUF_HDR_FORMATTER_SESSION_OFFSET, "formatter_session");
HDMABUF_STATIC_ASSERT(offsetof(struct hdmabuf_region_header, reserved) == HDMABUF_SHM_HEADER_DEFINED_LENGTH, "header defined length");
HDMABUF_STATIC_ASSERT(sizeof(struct hdmabuf_region_header) == HDMABUF_SHM_HEADER_LENGTH, "region header size");

/*
 ******************************************************************************
 *                          Peer table
 ******************************************************************************
 *
 * max_peers slots of 128 bytes at peer_table_offset; slot i describes peer
 * id i (on ivshmem: the id assigned by the ivshmem server, = IVPosition).
 * Written ONLY by the peer it describes.
 *
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |            state (0 free, 1 active, 2 gone) - ready flag      |  0
 *  +---------------------------------------------------------------+
 *  |                           peer_id                             |  4
 *  +---------------------------------------------------------------+
 *  |                          session_id                           |  8
 *  +                                                               +
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |                          heartbeat                            | 16
 *  +                                                               +
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |                         abi_version                           | 24
 *  +---------------------------------------------------------------+
 *  |                roles (bit 0 sink, bit 1 source)               | 28
 *  +---------------------------------------------------------------+
 *  |                      pid (informational)                      | 32
 *  +---------------------------------------------------------------+
 *  |      notify (0 polls fence_bell, 1 woken by the doorbell)     | 36
 *  +---------------------------------------------------------------+
 *  |     claim: holder's ivshmem id (16) | session tag (48)        | 40
 *  +                                                               +
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |                    reserved (zero) up to 64                   | 48
 *  +---------------------------------------------------------------+
 *  |              fence_bell (written by OTHER peers)              | 64
 *  +                                                               +
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |                    reserved (zero) up to 128                  | 72
 *  +---------------------------------------------------------------+
 *
 * state       - HDMABUF_PEER_STATE_*. READY FLAG of the slot.
 * peer_id     - the slot index, repeated (a reader checks it).
 * session_id  - random 64-bit value chosen at every daemon start; a changed
 *               session id means the peer restarted.
 * heartbeat   - counter the owner advances at least once per heartbeat
 *               interval; observers judge liveness by whether it moves, on
 *               their own clock. Plain (non-release) stores suffice.
 * abi_version - the daemon's ABI version (1).
 * roles       - HDMABUF_ROLE_* bits.
 * pid         - the daemon's process id in its VM; informational only.
 * notify      - HDMABUF_PEER_NOTIFY_*: DOORBELL if a fence-vector doorbell
 *               alone wakes this peer (it waits on that eventfd), POLLS
 *               (0) if only fence_bell reaches it. A peer's local clients
 *               ring a DOORBELL peer directly (FENCE_DOORBELL, ABI.md).
 * claim       - ivshmem: which ivshmem peer holds the slot. 0: the one whose
 *               ivshmem id is the slot index. Else bits 63-48 are the
 *               holder's ivshmem id (doorbells and the server's connect and
 *               disconnect messages for the slot use it) and bits 47-0 the
 *               low 48 bits of its session id (1 if those are 0). A peer
 *               whose ivshmem id is not below max_peers claims a free slot by
 *               compare-and-swap of this word (ABI.md "Peer table",
 *               Claiming); a peer that joins the slot of its own id writes
 *               hdmabuf_peer_claim_word(id, session) or 0 before state.
 * fence_bell  - the one word other peers write: atomically incremented by a
 *               peer that rings this peer's fence doorbell.
 *
 * Joining (ABI.md "Peer table"): choose the slot (its own id's, or one
 * claimed through the claim word); skip every incoming ring to its tail;
 * take over every outgoing ring at its tail if head and tail are consistent
 * (reset it only if not); then release-store state = FREE; write peer_id,
 * session_id, heartbeat = 1, abi_version, roles, pid, notify; release-store
 * state = ACTIVE. Leaving: release-store state = GONE.
 * Liveness: a peer whose heartbeat has not moved for the observer's
 * liveness timeout (on the observer's clock) is dead for that session, even
 * if it moves again later (a stopped VM resumed); it comes back only with a
 * new session_id.
 */

#define HDMABUF_PEER_SLOT_LENGTH         128

#define HDMABUF_PEER_STATE_OFFSET        0
#define HDMABUF_PEER_PEER_ID_OFFSET      4
#define HDMABUF_PEER_SESSION_ID_OFFSET   8
#define HDMABUF_PEER_HEARTBEAT_OFFSET    16
#define HDMABUF_PEER_ABI_VERSION_OFFSET  24
#define HDMABUF_PEER_ROLES_OFFSET        28
#define HDMABUF_PEER_PID_OFFSET          32
#define HDMABUF_PEER_NOTIFY_OFFSET       36
#define HDMABUF_PEER_CLAIM_OFFSET        40
#define HDMABUF_PEER_FENCE_BELL_OFFSET   64 /* the one word OTHER peers write (atomic add) */

#define HDMABUF_PEER_STATE_FREE    0
#define HDMABUF_PEER_STATE_ACTIVE  1
#define HDMABUF_PEER_STATE_GONE    2

#define HDMABUF_PEER_NOTIFY_POLLS     0
#define HDMABUF_PEER_NOTIFY_DOORBELL  1

#define HDMABUF_PEER_CLAIM_ID_SHIFT   48
#define HDMABUF_PEER_CLAIM_TAG_MASK   ((UINT64_C(1) << HDMABUF_PEER_CLAIM_ID_SHIFT) - 1)

#define HDMABUF_ROLE_SINK    (1u << 0)
#define HDMABUF_ROLE_SOURCE  (1u << 1)

struct hdmabuf_peer_slot {
    uint32_t state;               /* ready flag, stored last (release) */
    uint32_t peer_id;
    uint64_t session_id;
    uint64_t heartbeat;
    uint32_t abi_version;
    uint32_t roles;
    uint32_t pid;
    uint32_t notify;              /* HDMABUF_PEER_NOTIFY_* */
    uint64_t claim;               /* ivshmem id of the holder << 48 | session tag; 0: the slot index */
    uint8_t  reserved0[HDMABUF_PEER_FENCE_BELL_OFFSET - 48];
    uint64_t fence_bell;          /* incremented by a peer ringing our fence doorbell; polled without interrupts */
    uint8_t  reserved[HDMABUF_PEER_SLOT_LENGTH - 72];
};

HDMABUF_STATIC_ASSERT(offsetof(struct hdmabuf_peer_slot, state) == HDMABUF_PEER_STATE_OFFSET, "state");
HDMABUF_STATIC_ASSERT(offsetof(struct hdmabuf_peer_slot, peer_id) == HDMABUF_PEER_PEER_ID_OFFSET, "peer_id");
HDMABUF_STATIC_ASSERT(offsetof(struct hdmabuf_peer_slot, session_id) == HDMABUF_PEER_SESSION_ID_OFFSET, "session_id");
HDMABUF_STATIC_ASSERT(offsetof(struct hdmabuf_peer_slot, heartbeat) == HDMABUF_PEER_HEARTBEAT_OFFSET, "heartbeat");
HDMABUF_STATIC_ASSERT(offsetof(struct hdmabuf_peer_slot, abi_version) == HDMABUF_PEER_ABI_VERSION_OFFSET, "abi_version");
HDMABUF_STATIC_ASSERT(offsetof(struct hdmabuf_peer_slot, roles) == HDMABUF_PEER_ROLES_OFFSET, "roles");
HDMABUF_STATIC_ASSERT(offsetof(struct hdmabuf_peer_slot, pid) == HDMABUF_PEER_PID_OFFSET, "pid");
HDMABUF_STATIC_ASSERT(offsetof(struct hdmabuf_peer_slot, notify) == HDMABUF_PEER_NOTIFY_OFFSET, "notify");
HDMABUF_STATIC_ASSERT(offsetof(struct hdmabuf_peer_slot, claim) == HDMABUF_PEER_CLAIM_OFFSET, "claim");
HDMABUF_STATIC_ASSERT(offsetof(struct hdmabuf_peer_slot, fence_bell) == HDMABUF_PEER_FENCE_BELL_OFFSET, "fence_bell");
HDMABUF_STATIC_ASSERT(sizeof(struct hdmabuf_peer_slot) == HDMABUF_PEER_SLOT_LENGTH, "peer slot size");

/* The claim word of the ivshmem peer ivshmem_id (0-65535) in session session. */
static inline uint64_t hdmabuf_peer_claim_word(uint32_t ivshmem_id, uint64_t session)
{
    uint64_t tag = session & HDMABUF_PEER_CLAIM_TAG_MASK;
    return ((uint64_t)ivshmem_id << HDMABUF_PEER_CLAIM_ID_SHIFT) | (tag != 0 ? tag : 1);
}

/* The ivshmem id of the holder of slot slot whose claim word is claim: doorbells for the slot go there. */
static inline uint32_t hdmabuf_peer_claim_holder(uint64_t claim, uint32_t slot)
{
    return claim == 0 ? slot : (uint32_t)(claim >> HDMABUF_PEER_CLAIM_ID_SHIFT);
}

/*
 ******************************************************************************
 *                          Rings
 ******************************************************************************
 *
 * One single-producer single-consumer byte ring per ordered pair of peers:
 * the ring carrying records FROM peer i TO peer j starts at
 *
 *     ring_area_offset + (i * max_peers + j) * ring_stride,
 *     ring_stride = ring_capacity + 256
 *
 * (rings i -> i exist but are unused). A ring is ring_capacity bytes of
 * records followed by a 256-byte trailer:
 *
 *  +--------------------------------------------------+
 *  |       records, ring_capacity bytes (2^n)         |  0
 *  +--------------------------------------------------+
 *  | tail u64 | producer_session u64 |                |  ring_capacity + 0
 *  | dropped_session u64 | reserved                   |  ring_capacity + 16
 *  +--------------------------------------------------+
 *  | head u64 | consumer_session u64 | reserved       |  ring_capacity + 128
 *  +--------------------------------------------------+
 *
 * tail and head are byte counters that only grow (modulo 2^64) and are always
 * multiples of 8; the record at counter c starts at index c & (capacity - 1).
 * dropped_session is the consumer session (of peer j) that the producer
 * declared down, 0 if none: a consumer that finds its own session there was
 * dropped while it was stalled and rejoins with a new session (ABI.md
 * "Resync"). A producer clears it when a new daemon takes the ring over.
 * The producer (peer i) owns tail, producer_session and dropped_session; the consumer
 * (peer j) owns head and consumer_session. They sit in separate 128-byte
 * blocks so the two sides never write the same cache line or adjacent-line
 * prefetch pair.
 *
 * Producer:  acquire-load head; validate (tail - head in [0, capacity],
 *            head % 8 == 0 and tail % 8 == 0); if the aligned record does not fit before the
 *            end of the buffer write a PADDING record covering the rest and
 *            continue at index 0; write the record; release-store tail.
 * Consumer:  acquire-load tail; validate (tail - head in [0, capacity],
 *            tail % 8 == 0 and head % 8 == 0); for each record validate length and type (see
 *            "Records"), COPY the payload to private memory before parsing
 *            it; release-store head.
 * tail is the READY FLAG for records; head is the READY FLAG for free space.
 */

#define HDMABUF_RING_TRAILER_LENGTH            256
/* Offsets within the trailer, i.e. relative to ring start + ring_capacity. */
#define HDMABUF_RING_TAIL_OFFSET               0
#define HDMABUF_RING_PRODUCER_SESSION_OFFSET   8
#define HDMABUF_RING_DROPPED_SESSION_OFFSET    16
#define HDMABUF_RING_HEAD_OFFSET               128
#define HDMABUF_RING_CONSUMER_SESSION_OFFSET   136
#define HDMABUF_RING_MIN_CAPACITY              4096
#define HDMABUF_RING_MAX_CAPACITY              (1 << 24)

struct hdmabuf_ring_trailer {
    uint64_t tail;                /* producer; ready flag for records (release) */
    uint64_t producer_session;
    uint64_t dropped_session;     /* producer; the consumer session it declared down (0: none) */
    uint8_t  reserved0[128 - 24];
    uint64_t head;                /* consumer; ready flag for free space (release) */
    uint64_t consumer_session;
    uint8_t  reserved1[128 - 16];
};

HDMABUF_STATIC_ASSERT(offsetof(struct hdmabuf_ring_trailer, tail) == HDMABUF_RING_TAIL_OFFSET, "tail");
HDMABUF_STATIC_ASSERT(offsetof(struct hdmabuf_ring_trailer, producer_session) == HDMABUF_RING_PRODUCER_SESSION_OFFSET, "producer_session");
HDMABUF_STATIC_ASSERT(offsetof(struct hdmabuf_ring_trailer, dropped_session) == HDMABUF_RING_DROPPED_SESSION_OFFSET, "dropped_session");
HDMABUF_STATIC_ASSERT(offsetof(struct hdmabuf_ring_trailer, head) == HDMABUF_RING_HEAD_OFFSET, "head");
HDMABUF_STATIC_ASSERT(offsetof(struct hdmabuf_ring_trailer, consumer_session) == HDMABUF_RING_CONSUMER_SESSION_OFFSET, "consumer_session");
HDMABUF_STATIC_ASSERT(sizeof(struct hdmabuf_ring_trailer) == HDMABUF_RING_TRAILER_LENGTH, "ring trailer size");

/* Bytes from one ring to the next. */
static inline uint64_t hdmabuf_ring_stride(uint32_t capacity)
{
    return (uint64_t)capacity + HDMABUF_RING_TRAILER_LENGTH;
}

/* The largest record (header included) a ring accepts: a quarter of it. */
static inline uint32_t hdmabuf_ring_max_record_length(uint32_t capacity)
{
    return capacity / 4;
}

/* 1 if capacity is a power of two in [HDMABUF_RING_MIN_CAPACITY, HDMABUF_RING_MAX_CAPACITY]. */
static inline int hdmabuf_ring_capacity_valid(uint32_t capacity)
{
    return capacity >= HDMABUF_RING_MIN_CAPACITY && capacity <= HDMABUF_RING_MAX_CAPACITY &&
        (capacity & (capacity - 1)) == 0;
}

/* The trailer of a ring whose records start at ring_base. */
static inline struct hdmabuf_ring_trailer *hdmabuf_ring_trailer(void *ring_base, uint32_t capacity)
{
    return (struct hdmabuf_ring_trailer *)((uint8_t *)ring_base + capacity);
}

/*
 ******************************************************************************
 *                          Records
 ******************************************************************************
 *
 * A ring holds a sequence of records, each starting 8-byte aligned:
 *
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                 length (header + payload), u32                |  0
 *  +---------------------------------------------------------------+
 *  |  type, s32 (1 = PeerMessage, 2 = SessionStart, -1 = padding)  |  4
 *  +---------------------------------------------------------------+
 *  |                  payload, length - 8 bytes                   ...  8
 *  +---------------------------------------------------------------+
 *  |             zero to 7 bytes of alignment padding              |
 *  +---------------------------------------------------------------+
 *
 * length counts header and payload but NOT the alignment padding; the next
 * record starts at align8(length). A record never wraps: when align8(length)
 * exceeds the bytes left before the end of the buffer, the producer first
 * writes a PADDING record whose length is exactly the bytes left (a multiple
 * of 8, at least 8) and whose payload is ignored, then the record at index 0.
 *
 * Validation by the consumer, with available = tail - head and
 * index = head & (capacity - 1):
 *   PADDING:      length == capacity - index and length <= available;
 *   other types:  8 <= length <= capacity / 4, align8(length) <= available,
 *                 index + align8(length) <= capacity, type > 0.
 * Any violation (and any type <= 0 other than -1) is a protocol violation.
 * Type 1 payloads are one protobuf hyperdmabuf.v1.PeerMessage (wire.proto).
 * Type 2 (SESSION_START) payloads are struct hdmabuf_session_start (16
 * bytes; a shorter one is a violation, bytes beyond 16 are ignored). Other
 * positive types are reserved: a receiver skips them after validation.
 *
 * Sessions on a ring (ABI.md "Sessions on a ring")
 *   A producer writes a SESSION_START naming its own session_id and the
 *   consumer's session_id (as read from the consumer's peer slot) as its
 *   first record on the ring in each of its sessions, and again before its
 *   next record whenever it starts addressing a new session of the
 *   consumer. A consumer delivers a type-1 record only if the last
 *   SESSION_START it read on that ring names the producer's CURRENT session
 *   (the one in its peer slot) AND the consumer's own session; other
 *   records are discarded (counted). A consumer that reads a SESSION_START
 *   naming a producer session other than the one it currently serves ends
 *   its batch there and re-reads the peer table before reading on, so the
 *   new incarnation's records are delivered once it is brought up.
 */

#define HDMABUF_RECORD_HEADER_LENGTH       8
#define HDMABUF_RECORD_ALIGNMENT           8
#define HDMABUF_RECORD_LENGTH_OFFSET       0
#define HDMABUF_RECORD_TYPE_OFFSET         4
#define HDMABUF_RECORD_TYPE_PADDING        (-1)
#define HDMABUF_RECORD_TYPE_PEER_MESSAGE   1
#define HDMABUF_RECORD_TYPE_SESSION_START  2

/* SESSION_START payload (offsets relative to the payload, i.e. record + 8). */
#define HDMABUF_SESSION_START_LENGTH             16
#define HDMABUF_SESSION_START_PRODUCER_OFFSET    0
#define HDMABUF_SESSION_START_CONSUMER_OFFSET    8

struct hdmabuf_session_start {
    uint64_t producer_session;    /* the writer's session_id */
    uint64_t consumer_session;    /* the reader's session_id, as the writer read it from the peer table */
};

HDMABUF_STATIC_ASSERT(offsetof(struct hdmabuf_session_start, producer_session) == HDMABUF_SESSION_START_PRODUCER_OFFSET, "producer_session");
HDMABUF_STATIC_ASSERT(offsetof(struct hdmabuf_session_start, consumer_session) == HDMABUF_SESSION_START_CONSUMER_OFFSET, "consumer_session");
HDMABUF_STATIC_ASSERT(sizeof(struct hdmabuf_session_start) == HDMABUF_SESSION_START_LENGTH, "session start size");

struct hdmabuf_record_header {
    uint32_t length;              /* header + payload, without alignment padding */
    int32_t  type;                /* HDMABUF_RECORD_TYPE_* */
};

HDMABUF_STATIC_ASSERT(offsetof(struct hdmabuf_record_header, length) == HDMABUF_RECORD_LENGTH_OFFSET, "length");
HDMABUF_STATIC_ASSERT(offsetof(struct hdmabuf_record_header, type) == HDMABUF_RECORD_TYPE_OFFSET, "type");
HDMABUF_STATIC_ASSERT(sizeof(struct hdmabuf_record_header) == HDMABUF_RECORD_HEADER_LENGTH, "record header size");

/* Rounds a record length up to the record alignment. */
static inline uint32_t hdmabuf_record_align(uint32_t length)
{
    return (length + HDMABUF_RECORD_ALIGNMENT - 1) & ~(uint32_t)(HDMABUF_RECORD_ALIGNMENT - 1);
}

/*
 ******************************************************************************
 *                          Page table
 ******************************************************************************
 *
 * pool_pages little-endian u64 owner words at page_table_offset; entry n
 * describes pool page n, i.e. region bytes
 * [pool_offset + n * page_size, pool_offset + (n + 1) * page_size).
 *
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                     owner peer_id + 1                         |  0 (low word)
 *  +---------------------------------------------------------------+
 *  |              low 32 bits of the owner's session_id            |  4 (high word)
 *  +---------------------------------------------------------------+
 *
 * 0 (HDMABUF_PAGE_FREE) means free. A peer claims a page by CAS 0 -> its
 * owner word and frees it by CAS its owner word -> 0. The owner word is the
 * READY FLAG of the claim. Each peer keeps the runs it owns in PRIVATE
 * memory: the table coordinates claims, it is never a peer's bookkeeping.
 * The session half makes pages of a dead or restarted peer recognizable.
 */

#define HDMABUF_PAGE_TABLE_ENTRY_LENGTH  8
#define HDMABUF_PAGE_FREE                UINT64_C(0)

/* The owner word of (peer_id, session_id); never 0 for peer_id < 0xFFFFFFFF. */
static inline uint64_t hdmabuf_owner_word(uint32_t peer_id, uint64_t session_id)
{
    return ((session_id & UINT64_C(0xFFFFFFFF)) << 32) | (((uint64_t)peer_id + 1) & UINT64_C(0xFFFFFFFF));
}

/* The peer id named by an owner word, or -1 for a free entry. */
static inline int32_t hdmabuf_owner_peer(uint64_t owner_word)
{
    if (owner_word == HDMABUF_PAGE_FREE) {
        return -1;
    }
    return (int32_t)(uint32_t)((owner_word & UINT64_C(0xFFFFFFFF)) - 1);
}

/* The low 32 bits of the owner's session id in an owner word. */
static inline uint32_t hdmabuf_owner_session_low(uint64_t owner_word)
{
    return (uint32_t)(owner_word >> 32);
}

/*
 ******************************************************************************
 *                          Fence table
 ******************************************************************************
 *
 * fence_slots slots of 192 bytes at fence_table_offset. A slot carries the
 * two timelines of one exported buffer; each timeline is on its own 64-byte
 * cache line so the producer and the consumer never write the same line.
 *
 *  +-------------------------------------------------------------------+
 *  | owner u64 (owner word, as in the page table) | reserved           |   0
 *  | export_number u64 | export_nonce u64 | reserved to 64             |  16
 *  +-------------------------------------------------------------------+
 *  | acquire value u64 | acquire error u32 | acquire waiters u32 |      |  64  producer -> consumer
 *  | acquire wake u32  | reserved to 128                                |  80
 *  +-------------------------------------------------------------------+
 *  | release value u64 | release error u32 | release waiters u32 |      | 128  consumer -> producer
 *  | release wake u32  | reserved to 192                                | 144
 *  +-------------------------------------------------------------------+
 *
 * owner          - 0 when free; claimed by CAS 0 -> owner word like a page.
 *                  The claimer zeroes both timelines (values, errors,
 *                  waiters) after the claim and before it publishes the
 *                  slot index; the owner zeroes them again before it
 *                  releases the slot (CAS owner word -> 0).
 * export_number,
 * export_nonce   - the export_number and nonce of the buffer id of the export
 *                  this slot fences, written by the exporting daemon before
 *                  it announces the export and cleared before it releases
 *                  the slot. An importing daemon compares them with the id
 *                  it is asked to IMPORT and refuses a mismatch (ENOENT): the
 *                  export is gone and its pages may hold another buffer.
 * acquire value  - "content ready up to N", written only by the exporting
 *                  (producer) side; only increases.
 * release value  - "done reading up to N", written only by the importing
 *                  (consumer) side; only increases.
 * *_error        - 0, or a hyperdmabuf.v1.ErrorCode value carried by the
 *                  signal. The signaller stores the error word FIRST and
 *                  then release-stores the value (the READY FLAG); a waiter
 *                  acquire-loads the value and then reads the error word.
 * *_waiters      - number of waits blocked in a daemon on this timeline (a
 *                  hint written by both VMs; never trusted for more):
 *                  a daemon that blocks a client increments it (atomic add,
 *                  full barrier) BEFORE re-checking the value, and
 *                  decrements it (not below 0) when the wait ends;
 *                  a signaller stores error, then value (release), then
 *                  issues a FULL FENCE (store-load) and loads waiters; if it
 *                  is non-zero, the signalling side's daemon rings the
 *                  other VM's fence doorbell (HDMABUF_IVSHMEM_VECTOR_FENCE).
 *                  Either the waiter's re-check sees the value or the
 *                  signaller sees the waiter: no wake-up is lost.
 *                  See hdmabuf_fence_signal() / hdmabuf_fence_add_waiter().
 * *_wake         - bit mask of the WAITING VM's doorbell vectors (bit k =
 *                  vector k, k >= HDMABUF_IVSHMEM_VECTOR_FIRST_WAKE) on
 *                  which a client sleeps waiting for this timeline (leased
 *                  with FENCE_WAKE). The client sets its bit (atomic OR,
 *                  full barrier) before it re-checks the value and sleeps,
 *                  and clears it (atomic AND-NOT) when it stops waiting; for
 *                  a read-only import its daemon holds the bit for the whole
 *                  lease. A signaller loads it after the same full fence as
 *                  waiters and rings each vector it names. A hint: wrong
 *                  bits cost needless doorbells, never a lost completion.
 * A value lower than one already observed is a protocol violation.
 */

#define HDMABUF_FENCE_SLOT_LENGTH            192
#define HDMABUF_FENCE_OWNER_OFFSET           0
#define HDMABUF_FENCE_EXPORT_NUMBER_OFFSET   16
#define HDMABUF_FENCE_EXPORT_NONCE_OFFSET    24
#define HDMABUF_FENCE_ACQUIRE_VALUE_OFFSET   64
#define HDMABUF_FENCE_ACQUIRE_ERROR_OFFSET   72
#define HDMABUF_FENCE_ACQUIRE_WAITERS_OFFSET 76
#define HDMABUF_FENCE_RELEASE_VALUE_OFFSET   128
#define HDMABUF_FENCE_RELEASE_ERROR_OFFSET   136
#define HDMABUF_FENCE_RELEASE_WAITERS_OFFSET 140
#define HDMABUF_FENCE_ACQUIRE_WAKE_OFFSET    80
#define HDMABUF_FENCE_RELEASE_WAKE_OFFSET    144

struct hdmabuf_fence_slot {
    uint64_t owner;
    uint8_t  reserved_owner[16 - 8];
    uint64_t export_number;       /* of the buffer id this slot fences (exporter writes) */
    uint64_t export_nonce;
    uint8_t  reserved0[64 - 32];
    uint64_t acquire_value;       /* ready flag of the acquire timeline (release) */
    uint32_t acquire_error;       /* stored before acquire_value */
    uint32_t acquire_waiters;     /* waits blocked in a daemon (hint) */
    uint32_t acquire_wake;        /* waiting VM's leased wake vectors (hint) */
    uint8_t  reserved1[64 - 20];
    uint64_t release_value;       /* ready flag of the release timeline (release) */
    uint32_t release_error;       /* stored before release_value */
    uint32_t release_waiters;     /* waits blocked in a daemon (hint) */
    uint32_t release_wake;        /* waiting VM's leased wake vectors (hint) */
    uint8_t  reserved2[64 - 20];
};

HDMABUF_STATIC_ASSERT(offsetof(struct hdmabuf_fence_slot, owner) == HDMABUF_FENCE_OWNER_OFFSET, "owner");
HDMABUF_STATIC_ASSERT(offsetof(struct hdmabuf_fence_slot, export_number) == HDMABUF_FENCE_EXPORT_NUMBER_OFFSET, "export_number");
HDMABUF_STATIC_ASSERT(offsetof(struct hdmabuf_fence_slot, export_nonce) == HDMABUF_FENCE_EXPORT_NONCE_OFFSET, "export_nonce");
HDMABUF_STATIC_ASSERT(offsetof(struct hdmabuf_fence_slot, acquire_value) == HDMABUF_FENCE_ACQUIRE_VALUE_OFFSET, "acquire_value");
HDMABUF_STATIC_ASSERT(offsetof(struct hdmabuf_fence_slot, acquire_error) == HDMABUF_FENCE_ACQUIRE_ERROR_OFFSET, "acquire_error");
HDMABUF_STATIC_ASSERT(offsetof(struct hdmabuf_fence_slot, acquire_waiters) == HDMABUF_FENCE_ACQUIRE_WAITERS_OFFSET, "acquire_waiters");
HDMABUF_STATIC_ASSERT(offsetof(struct hdmabuf_fence_slot, release_value) == HDMABUF_FENCE_RELEASE_VALUE_OFFSET, "release_value");
HDMABUF_STATIC_ASSERT(offsetof(struct hdmabuf_fence_slot, release_error) == HDMABUF_FENCE_RELEASE_ERROR_OFFSET, "release_error");
HDMABUF_STATIC_ASSERT(offsetof(struct hdmabuf_fence_slot, release_waiters) == HDMABUF_FENCE_RELEASE_WAITERS_OFFSET, "release_waiters");
HDMABUF_STATIC_ASSERT(offsetof(struct hdmabuf_fence_slot, acquire_wake) == HDMABUF_FENCE_ACQUIRE_WAKE_OFFSET, "acquire_wake");
HDMABUF_STATIC_ASSERT(offsetof(struct hdmabuf_fence_slot, release_wake) == HDMABUF_FENCE_RELEASE_WAKE_OFFSET, "release_wake");
HDMABUF_STATIC_ASSERT(sizeof(struct hdmabuf_fence_slot) == HDMABUF_FENCE_SLOT_LENGTH, "fence slot size");

/*
 ******************************************************************************
 *                          Frame header (frame streams)
 ******************************************************************************
 *
 * Per-frame data of a frame stream (ABI.md "Frame headers"): one 512-byte
 * header inside EACH buffer of the stream, at the byte offset the export's
 * tag "frame_header" names (decimal). It lives in the buffer's own pages,
 * not in the fence table, so it exists on every backend (on Xen the fence
 * slot is a separate page, on ivshmem a 192-byte table entry with no room)
 * and needs no change of the region layout.
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                      sequence (u64)                           |   0
 * +---------------------------------------------------------------+
 * |                       pts_ns (u64)                            |   8
 * +---------------------------------------------------------------+
 * |                     duration_ns (u64)                         |  16
 * +---------------------------------------------------------------+
 * |                    payload_length (u64)                       |  24
 * +---------------------------------------------------------------+
 * |                         flags                                 |  32
 * +---------------------------------------------------------------+
 * |                     private_length                            |  36
 * +---------------------------------------------------------------+
 * |                   metadata_revision                           |  40
 * +---------------------------------------------------------------+
 * |                   reserved (20 bytes)                         |  44
 * +---------------------------------------------------------------+
 * |                private_data (256 bytes)                       |  64
 * +---------------------------------------------------------------+
 * |                   reserved (192 bytes)                        | 320
 * +---------------------------------------------------------------+
 *                                                                   512
 *
 * Placement (tag "frame_header" = offset), checked by the consumer at import:
 *   offset % HDMABUF_FRAME_HEADER_ALIGNMENT == 0, offset >= metadata.size
 *   (the header never overlaps content) and offset + 512 <= buffer length.
 *   Producers use offset = align_up(metadata.size, 64).
 *
 * sequence       - the frame's number n in the stream (0, 1, 2, ...; frame
 *                  n travels in buffer n % K). A consumer rejects a header
 *                  whose sequence is not the n it waits for.
 * pts_ns         - presentation time, CLOCK_REALTIME nanoseconds since the
 *                  Unix epoch of the producer's VM; 0 = none.
 * duration_ns    - how long the frame is presented; 0 = unknown.
 * payload_length - bytes of the buffer this frame uses, from offset 0;
 *                  at most metadata.size (the stream's frame capacity).
 * flags          - HDMABUF_FRAME_FLAG_*. Undefined bits are written as 0 and
 *                  ignored by readers.
 * private_length - bytes of private_data used, at most 256.
 * metadata_revision - the REVISION of the export's metadata the frame was
 *                  written for (the revision EXPORT's answer Exported names:
 *                  1 for the first export, +1 per re-export); 0 = not stated
 *                  (a producer older than this field). A consumer that holds
 *                  revision R of the buffer's metadata and reads a larger
 *                  metadata_revision does not interpret the payload with its
 *                  metadata R: it waits for the "change" event (re-querying if
 *                  needed) and only then delivers the frame.
 * private_data   - codec-specific bytes of this frame (e.g. a slice header).
 *
 * Ordering: the fence's acquire value is the header's ready flag. The
 * producer writes the header (and the payload) while it owns the buffer
 * (release >= round) and only then signals acquire = round + 1 (release
 * store); the consumer reads it after its wait saw acquire >= round + 1
 * (acquire load), copies it to private memory once, validates the copy
 * (sequence, payload_length, private_length) and uses only the copy.
 *
 * End of stream: the last frame carries HDMABUF_FRAME_FLAG_END_OF_STREAM
 * (with or without payload). The producer publishes no frame after it; the
 * consumer delivers it like any frame and reports the end at its next wait.
 */

#define HDMABUF_FRAME_HEADER_TAG              "frame_header"
#define HDMABUF_FRAME_HEADER_LENGTH           512
#define HDMABUF_FRAME_HEADER_ALIGNMENT        64
#define HDMABUF_FRAME_SEQUENCE_OFFSET         0
#define HDMABUF_FRAME_PTS_OFFSET              8
#define HDMABUF_FRAME_DURATION_OFFSET         16
#define HDMABUF_FRAME_PAYLOAD_LENGTH_OFFSET   24
#define HDMABUF_FRAME_FLAGS_OFFSET            32
#define HDMABUF_FRAME_PRIVATE_LENGTH_OFFSET   36
#define HDMABUF_FRAME_METADATA_REVISION_OFFSET 40
#define HDMABUF_FRAME_PRIVATE_DATA_OFFSET     64
/* Bytes a consumer copies: everything defined (the reserved tail is not read). */
#define HDMABUF_FRAME_DEFINED_LENGTH          320
#define HDMABUF_FRAME_PRIVATE_MAX             256

/* Decodable without earlier frames (an IDR / key frame). */
#define HDMABUF_FRAME_FLAG_KEY_FRAME          (1u << 0)
/* Frames are missing before this one, or its timestamps jump: reset timing. */
#define HDMABUF_FRAME_FLAG_DISCONTINUITY      (1u << 1)
/* The last frame of the stream; none follows. */
#define HDMABUF_FRAME_FLAG_END_OF_STREAM      (1u << 2)
#define HDMABUF_FRAME_FLAGS_DEFINED           0x7u

struct hdmabuf_frame_header {
    uint64_t sequence;            /* the frame's number in the stream */
    uint64_t pts_ns;              /* CLOCK_REALTIME ns since the epoch; 0 = none */
    uint64_t duration_ns;         /* 0 = unknown */
    uint64_t payload_length;      /* <= metadata.size */
    uint32_t flags;               /* HDMABUF_FRAME_FLAG_* */
    uint32_t private_length;      /* <= HDMABUF_FRAME_PRIVATE_MAX */
    uint32_t metadata_revision;   /* the export's metadata revision it was written for; 0 = not stated */
    uint8_t  reserved0[HDMABUF_FRAME_PRIVATE_DATA_OFFSET - 44];
    uint8_t  private_data[HDMABUF_FRAME_PRIVATE_MAX];
    uint8_t  reserved[HDMABUF_FRAME_HEADER_LENGTH - HDMABUF_FRAME_DEFINED_LENGTH];
};

HDMABUF_STATIC_ASSERT(offsetof(struct hdmabuf_frame_header, sequence) == HDMABUF_FRAME_SEQUENCE_OFFSET, "sequence");
HDMABUF_STATIC_ASSERT(offsetof(struct hdmabuf_frame_header, pts_ns) == HDMABUF_FRAME_PTS_OFFSET, "pts_ns");
HDMABUF_STATIC_ASSERT(offsetof(struct hdmabuf_frame_header, duration_ns) == HDMABUF_FRAME_DURATION_OFFSET, "duration_ns");
HDMABUF_STATIC_ASSERT(offsetof(struct hdmabuf_frame_header, payload_length) == HDMABUF_FRAME_PAYLOAD_LENGTH_OFFSET,
    "payload_length");
HDMABUF_STATIC_ASSERT(offsetof(struct hdmabuf_frame_header, flags) == HDMABUF_FRAME_FLAGS_OFFSET, "flags");
HDMABUF_STATIC_ASSERT(offsetof(struct hdmabuf_frame_header, private_length) == HDMABUF_FRAME_PRIVATE_LENGTH_OFFSET,
    "private_length");
HDMABUF_STATIC_ASSERT(offsetof(struct hdmabuf_frame_header, metadata_revision) ==
    HDMABUF_FRAME_METADATA_REVISION_OFFSET, "metadata_revision");
HDMABUF_STATIC_ASSERT(offsetof(struct hdmabuf_frame_header, private_data) == HDMABUF_FRAME_PRIVATE_DATA_OFFSET,
    "private_data");
HDMABUF_STATIC_ASSERT(offsetof(struct hdmabuf_frame_header, reserved) == HDMABUF_FRAME_DEFINED_LENGTH, "reserved");
HDMABUF_STATIC_ASSERT(sizeof(struct hdmabuf_frame_header) == HDMABUF_FRAME_HEADER_LENGTH, "frame header size");

/*
 * 1 if a frame header may sit at byte offset of a buffer of buffer_length
 * bytes whose metadata.size is content_size (see "Placement"); else 0.
 */
static inline int hdmabuf_frame_header_placement_valid(uint64_t offset, uint64_t content_size,
    uint64_t buffer_length)
{
    return offset % HDMABUF_FRAME_HEADER_ALIGNMENT == 0 && offset >= content_size &&
        offset <= buffer_length && buffer_length - offset >= HDMABUF_FRAME_HEADER_LENGTH;
}

/*
 * 1 if a private copy of a header is acceptable as frame `sequence` of a
 * stream whose frames hold at most content_size bytes; else 0.
 */
static inline int hdmabuf_frame_header_valid(const struct hdmabuf_frame_header *h, uint64_t sequence,
    uint64_t content_size)
{
    return h->sequence == sequence && h->payload_length <= content_size &&
        h->private_length <= HDMABUF_FRAME_PRIVATE_MAX;
}

/*
 ******************************************************************************
 *                          ivshmem doorbell vectors
 ******************************************************************************
 *
 * On KVM/ACRN ivshmem a doorbell is (target peer id << 16) | vector.
 * Doorbells are hints: a receiver must also poll, and never depends on one
 * arriving (QEMU drops doorbells to unconnected peers or vectors).
 */

/* Rung by a ring producer after publishing records to the target peer. */
#define HDMABUF_IVSHMEM_VECTOR_CONTROL  0
/* Rung after signalling a fence timeline a peer may be blocked on. */
#define HDMABUF_IVSHMEM_VECTOR_FENCE    1
/* Vectors from here up are wake vectors: each is leased by its VM's daemon
 * to one client polling a timeline itself (the timeline's *_wake bit). The
 * embedded ivshmem server gives 16 vectors per peer by default. */
#define HDMABUF_IVSHMEM_VECTOR_FIRST_WAKE 2

/* The value a daemon stores into a timeline to close it (the other VM is gone,
 * the export was unexported); the timeline's error word says why. */
#define HDMABUF_FENCE_POISON_VALUE UINT64_C(0x7fffffffffffffff)

/*
 ******************************************************************************
 *                          Layout computation
 ******************************************************************************
 *
 * Every peer derives the layout from the five parameters with exactly this
 * algorithm (RegionLayout.compute in Java); all arithmetic is exact in
 * signed 64 bits:
 *
 *   peer_table_offset  = 4096
 *   ring_area_offset   = align_up(4096 + max_peers * 128, page_size)
 *   ring_stride        = ring_capacity + 256
 *   page_table_offset  = ring_area_offset + max_peers^2 * ring_stride
 *   fixed              = page_table_offset + fence_slots * 192 + 65536
 *   pool_pages         = floor((region_size - fixed) / (page_size + 8))
 *                        (division truncating toward zero)
 *   while pool_pages > 0:
 *       fence_table_offset = page_table_offset + pool_pages * 8
 *       pool_offset        = align_up(fence_table_offset + fence_slots * 192, 65536)
 *       if pool_offset + pool_pages * page_size <= region_size: done
 *       pool_pages -= 1
 *   no pool page fits: the region is too small (HDMABUF_LAYOUT_EREGION_SIZE)
 */

#define HDMABUF_LAYOUT_DEFAULT_MAX_PEERS      8
#define HDMABUF_LAYOUT_DEFAULT_RING_CAPACITY  (64 * 1024)
#define HDMABUF_LAYOUT_DEFAULT_FENCE_SLOTS    8192
#define HDMABUF_LAYOUT_MIN_MAX_PEERS          2
#define HDMABUF_LAYOUT_MAX_PEERS_LIMIT        256
#define HDMABUF_LAYOUT_MIN_PAGE_SIZE          4096
/* page_size is a signed 32-bit quantity in the reference implementation. */
#define HDMABUF_LAYOUT_MAX_PAGE_SIZE          (UINT32_C(1) << 30)
#define HDMABUF_LAYOUT_MAX_FENCE_SLOTS        (1 << 20)
#define HDMABUF_POOL_ALIGNMENT                (64 * 1024)

struct hdmabuf_region_layout {
    uint64_t region_size;
    uint32_t page_size;
    uint32_t max_peers;
    uint32_t ring_capacity;
    uint32_t fence_slots;
    uint64_t peer_table_offset;
    uint64_t ring_area_offset;
    uint64_t ring_stride;
    uint64_t page_table_offset;
    uint64_t fence_table_offset;
    uint64_t pool_offset;
    uint64_t pool_pages;
};

/* Results of hdmabuf_region_layout_compute(): the parameter that is invalid. */
enum hdmabuf_layout_status {
    HDMABUF_LAYOUT_OK = 0,
    HDMABUF_LAYOUT_EPAGE_SIZE = 1,      /* not a power of two in [4096, 2^30] */
    HDMABUF_LAYOUT_EMAX_PEERS = 2,      /* not in [2, 256] */
    HDMABUF_LAYOUT_ERING_CAPACITY = 3,  /* not a power of two in [4096, 2^24] */
    HDMABUF_LAYOUT_EFENCE_SLOTS = 4,    /* more than 2^20 */
    HDMABUF_LAYOUT_EREGION_SIZE = 5     /* too small for the rest, or >= 2^63 */
};

static inline int64_t hdmabuf_align_up_i64(int64_t value, int64_t alignment)
{
    return (value + alignment - 1) & ~(alignment - 1);
}

/*
 * Computes the layout for the given parameters into *out. Returns
 * HDMABUF_LAYOUT_OK, or the status naming the first invalid parameter
 * (checked in the order page_size, max_peers, ring_capacity, fence_slots,
 * region_size); *out is untouched on error.
 */
static inline enum hdmabuf_layout_status hdmabuf_region_layout_compute(struct hdmabuf_region_layout *out,
    uint64_t region_size, uint32_t page_size, uint32_t max_peers, uint32_t ring_capacity, uint32_t fence_slots)
{
    int64_t region, peer_table, ring_area, stride, page_table, fixed, pages;

    if (page_size < HDMABUF_LAYOUT_MIN_PAGE_SIZE || page_size > HDMABUF_LAYOUT_MAX_PAGE_SIZE ||
        (page_size & (page_size - 1)) != 0) {
        return HDMABUF_LAYOUT_EPAGE_SIZE;
    }
    if (max_peers < HDMABUF_LAYOUT_MIN_MAX_PEERS || max_peers > HDMABUF_LAYOUT_MAX_PEERS_LIMIT) {
        return HDMABUF_LAYOUT_EMAX_PEERS;
    }
    if (!hdmabuf_ring_capacity_valid(ring_capacity)) {
        return HDMABUF_LAYOUT_ERING_CAPACITY;
    }
    if (fence_slots > HDMABUF_LAYOUT_MAX_FENCE_SLOTS) {
        return HDMABUF_LAYOUT_EFENCE_SLOTS;
    }
    if (region_size > (uint64_t)INT64_MAX) {
        return HDMABUF_LAYOUT_EREGION_SIZE;
    }
    region = (int64_t)region_size;
    peer_table = HDMABUF_SHM_HEADER_LENGTH;
    ring_area = hdmabuf_align_up_i64(peer_table + (int64_t)max_peers * HDMABUF_PEER_SLOT_LENGTH, page_size);
    stride = (int64_t)hdmabuf_ring_stride(ring_capacity);
    page_table = ring_area + (int64_t)max_peers * max_peers * stride;
    /* Each pool page costs page_size bytes plus one 8-byte page-table entry. */
    fixed = page_table + (int64_t)fence_slots * HDMABUF_FENCE_SLOT_LENGTH + HDMABUF_POOL_ALIGNMENT;
    pages = (region - fixed) / ((int64_t)page_size + HDMABUF_PAGE_TABLE_ENTRY_LENGTH);
    while (pages > 0) {
        int64_t fence_table = page_table + pages * HDMABUF_PAGE_TABLE_ENTRY_LENGTH;
        int64_t pool = hdmabuf_align_up_i64(fence_table + (int64_t)fence_slots * HDMABUF_FENCE_SLOT_LENGTH,
            HDMABUF_POOL_ALIGNMENT);
        if (pool + pages * (int64_t)page_size <= region) {
            out->region_size = region_size;
            out->page_size = page_size;
            out->max_peers = max_peers;
            out->ring_capacity = ring_capacity;
            out->fence_slots = fence_slots;
            out->peer_table_offset = (uint64_t)peer_table;
            out->ring_area_offset = (uint64_t)ring_area;
            out->ring_stride = (uint64_t)stride;
            out->page_table_offset = (uint64_t)page_table;
            out->fence_table_offset = (uint64_t)fence_table;
            out->pool_offset = (uint64_t)pool;
            out->pool_pages = (uint64_t)pages;
            return HDMABUF_LAYOUT_OK;
        }
        pages--;
    }
    return HDMABUF_LAYOUT_EREGION_SIZE;
}

/* Offset of the ring carrying records from peer `from` to peer `to` (both < max_peers). */
static inline uint64_t hdmabuf_ring_offset(const struct hdmabuf_region_layout *layout, uint32_t from, uint32_t to)
{
    return layout->ring_area_offset + ((uint64_t)from * layout->max_peers + to) * layout->ring_stride;
}

static inline uint64_t hdmabuf_peer_slot_offset(const struct hdmabuf_region_layout *layout, uint32_t peer_id)
{
    return layout->peer_table_offset + (uint64_t)peer_id * HDMABUF_PEER_SLOT_LENGTH;
}

static inline uint64_t hdmabuf_page_table_entry_offset(const struct hdmabuf_region_layout *layout, uint64_t page)
{
    return layout->page_table_offset + page * HDMABUF_PAGE_TABLE_ENTRY_LENGTH;
}

static inline uint64_t hdmabuf_fence_slot_offset(const struct hdmabuf_region_layout *layout, uint32_t slot)
{
    return layout->fence_table_offset + (uint64_t)slot * HDMABUF_FENCE_SLOT_LENGTH;
}

/* Region offset of the first byte of pool page n. */
static inline uint64_t hdmabuf_pool_page_offset(const struct hdmabuf_region_layout *layout, uint64_t page)
{
    return layout->pool_offset + page * layout->page_size;
}

/* Bytes of the control area (everything before the pool). */
static inline uint64_t hdmabuf_control_length(const struct hdmabuf_region_layout *layout)
{
    return layout->pool_offset;
}

static inline uint64_t hdmabuf_pool_bytes(const struct hdmabuf_region_layout *layout)
{
    return layout->pool_pages * layout->page_size;
}

/*
 ******************************************************************************
 *                          Header helpers
 ******************************************************************************
 */

/* Results of hdmabuf_region_header_validate(). */
enum hdmabuf_header_status {
    HDMABUF_HEADER_OK = 0,
    HDMABUF_HEADER_EMAGIC = 1,          /* magic is not HDMABUF_SHM_MAGIC (not formatted) */
    HDMABUF_HEADER_EVERSION = 2,        /* layout_version != 1: refuse to attach */
    HDMABUF_HEADER_ESIZE = 3,           /* header_length or region_size differ from the mapping */
    HDMABUF_HEADER_EPARAMS = 4,         /* parameters rejected by hdmabuf_region_layout_compute */
    HDMABUF_HEADER_EOFFSETS = 5         /* a stored offset differs from the computed layout */
};

/*
 * Validates a formatted header against the size of the region the caller
 * mapped, as an attaching peer must (after acquire-loading magic). On
 * HDMABUF_HEADER_OK *out holds the recomputed layout. The caller should
 * copy the header to private memory first so a concurrent writer cannot
 * change it between the check and the use.
 */
static inline enum hdmabuf_header_status hdmabuf_region_header_validate(const struct hdmabuf_region_header *h,
    uint64_t mapped_size, struct hdmabuf_region_layout *out)
{
    struct hdmabuf_region_layout l;

    if (h->magic != HDMABUF_SHM_MAGIC) {
        return HDMABUF_HEADER_EMAGIC;
    }
    if (h->layout_version != HDMABUF_SHM_LAYOUT_VERSION) {
        return HDMABUF_HEADER_EVERSION;
    }
    if (h->header_length != HDMABUF_SHM_HEADER_LENGTH || h->region_size != mapped_size) {
        return HDMABUF_HEADER_ESIZE;
    }
    if (hdmabuf_region_layout_compute(&l, mapped_size, h->page_size, h->max_peers, h->ring_capacity,
            h->fence_slots) != HDMABUF_LAYOUT_OK) {
        return HDMABUF_HEADER_EPARAMS;
    }
    if (h->peer_table_offset != l.peer_table_offset || h->ring_area_offset != l.ring_area_offset ||
        h->ring_stride != l.ring_stride || h->page_table_offset != l.page_table_offset ||
        h->fence_table_offset != l.fence_table_offset || h->pool_offset != l.pool_offset ||
        h->pool_pages != l.pool_pages) {
        return HDMABUF_HEADER_EOFFSETS;
    }
    *out = l;
    return HDMABUF_HEADER_OK;
}

/*
 * Formatting step 3 for the header: zeroes the reserved bytes and writes
 * every field except magic and format_state, which the formatter then
 * release-stores (format_state = READY, then magic) itself.
 */
static inline void hdmabuf_region_header_fill(struct hdmabuf_region_header *h,
    const struct hdmabuf_region_layout *l, uint64_t formatter_session)
{
    size_t i;

    for (i = 0; i < sizeof(h->reserved); i++) {
        h->reserved[i] = 0;
    }
    h->layout_version = HDMABUF_SHM_LAYOUT_VERSION;
    h->header_length = HDMABUF_SHM_HEADER_LENGTH;
    h->region_size = l->region_size;
    h->page_size = l->page_size;
    h->max_peers = l->max_peers;
    h->ring_capacity = l->ring_capacity;
    h->peer_table_offset = l->peer_table_offset;
    h->ring_area_offset = l->ring_area_offset;
    h->ring_stride = l->ring_stride;
    h->page_table_offset = l->page_table_offset;
    h->fence_table_offset = l->fence_table_offset;
    h->fence_slots = l->fence_slots;
    h->reserved0 = 0;
    h->pool_offset = l->pool_offset;
    h->pool_pages = l->pool_pages;
    h->formatter_session = formatter_session;
}

/*
 ******************************************************************************
 *                          Atomic helpers (GCC / Clang)
 ******************************************************************************
 *
 * Optional. Any equivalent (C11 <stdatomic.h>, inline assembly) that gives
 * single-copy-atomic 4/8-byte accesses with the stated ordering is conformant.
 */
#if defined(__GNUC__) || defined(__clang__)

static inline uint64_t hdmabuf_load_acquire_u64(const volatile uint64_t *p)
{
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline void hdmabuf_store_release_u64(volatile uint64_t *p, uint64_t v)
{
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static inline uint32_t hdmabuf_load_acquire_u32(const volatile uint32_t *p)
{
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline void hdmabuf_store_release_u32(volatile uint32_t *p, uint32_t v)
{
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}

/* Sequentially consistent compare-and-swap; returns 1 on success. */
static inline int hdmabuf_cas_u64(volatile uint64_t *p, uint64_t expected, uint64_t desired)
{
    return __atomic_compare_exchange_n(p, &expected, desired, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

static inline int hdmabuf_cas_u32(volatile uint32_t *p, uint32_t expected, uint32_t desired)
{
    return __atomic_compare_exchange_n(p, &expected, desired, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

/*
 * Fence timeline helpers (see "Fence table"). Pass &slot->acquire_value,
 * &slot->acquire_error, &slot->acquire_waiters (or the release_* fields).
 *
 * hdmabuf_fence_signal() stores the error word, then release-stores the
 * value, then issues a full fence and loads waiters. Returns 1 if a wait is
 * blocked in a daemon: have the other VM's fence doorbell rung. It does not
 * look at the wake word: prefer hdmabuf_fence_signal_rings(), or waiters
 * sleeping on a wake vector only see the signal at their next re-check.
 */
static inline int hdmabuf_fence_signal(volatile uint64_t *value, volatile uint32_t *error,
    const volatile uint32_t *waiters, uint64_t new_value, uint32_t error_code)
{
    __atomic_store_n(error, error_code, __ATOMIC_RELAXED);
    __atomic_store_n(value, new_value, __ATOMIC_RELEASE);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    return __atomic_load_n(waiters, __ATOMIC_RELAXED) != 0;
}

/*
 * As hdmabuf_fence_signal(), and loads the timeline's wake word after the
 * same fence (&slot->acquire_wake or &slot->release_wake). Returns the
 * vectors of the other VM to ring, as a mask: bit HDMABUF_IVSHMEM_VECTOR_FENCE
 * if a wait is blocked in its daemon, bits >= HDMABUF_IVSHMEM_VECTOR_FIRST_WAKE
 * for its leased wake vectors (FENCE_DOORBELL{id, vector} fds); 0: none.
 */
static inline uint32_t hdmabuf_fence_signal_rings(volatile uint64_t *value, volatile uint32_t *error,
    const volatile uint32_t *waiters, const volatile uint32_t *wake, uint64_t new_value, uint32_t error_code)
{
    uint32_t rings = hdmabuf_fence_signal(value, error, waiters, new_value, error_code) ?
        (1u << HDMABUF_IVSHMEM_VECTOR_FENCE) : 0;
    uint32_t w = __atomic_load_n(wake, __ATOMIC_RELAXED);
    return rings | (w & ~((1u << HDMABUF_IVSHMEM_VECTOR_FIRST_WAKE) - 1));
}

/*
 * The same signal as one compare-and-exchange, for a signaller that remembers
 * the value it last stored or saw (*last). It does not load the value first:
 * that load would fetch the line the other VM spins on only to give it up again
 * for the store, a second cache-line transfer per signal. The locked exchange
 * is the full fence; waiters and wake are then loaded as above.
 * Returns 1 with *rings as hdmabuf_fence_signal_rings() returns them, and
 * *last = new_value. Returns 0 if the timeline did not hold *last (another
 * writer advanced it, or it was closed): nothing was stored, *last now holds
 * what the timeline held; check new_value against it and try again. The error
 * word is the caller's to store before, as for hdmabuf_fence_signal().
 */
static inline int hdmabuf_fence_signal_exchange(volatile uint64_t *value, const volatile uint32_t *waiters,
    const volatile uint32_t *wake, uint64_t *last, uint64_t new_value, uint32_t *rings)
{
    uint32_t w;
    if (!__atomic_compare_exchange_n(value, last, new_value, 0, __ATOMIC_SEQ_CST, __ATOMIC_ACQUIRE)) {
        return 0;
    }
    *last = new_value;
    w = __atomic_load_n(wake, __ATOMIC_SEQ_CST);
    *rings = (__atomic_load_n(waiters, __ATOMIC_SEQ_CST) != 0 ? (1u << HDMABUF_IVSHMEM_VECTOR_FENCE) : 0)
        | (w & ~((1u << HDMABUF_IVSHMEM_VECTOR_FIRST_WAKE) - 1));
    return 1;
}

/* A daemon about to block a wait: announce it, then re-check the value. */
static inline void hdmabuf_fence_add_waiter(volatile uint32_t *waiters)
{
    __atomic_fetch_add(waiters, 1, __ATOMIC_SEQ_CST);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/* The wait ended (completed, timed out or cancelled). Never goes below 0. */
static inline void hdmabuf_fence_remove_waiter(volatile uint32_t *waiters)
{
    uint32_t n = __atomic_load_n(waiters, __ATOMIC_RELAXED);
    while (n != 0 && !__atomic_compare_exchange_n(waiters, &n, n - 1, 0, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) {
    }
}

#endif /* __GNUC__ || __clang__ */

#ifdef __cplusplus
}
#endif

#endif /* HYPERDMABUF_SHM_H */
