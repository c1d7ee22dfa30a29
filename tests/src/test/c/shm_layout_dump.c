/* SPDX-License-Identifier: MIT */
/*
 * shm_layout_dump: prints every offset, size and constant of
 * abi-spec/include/hyperdmabuf_shm.h as NAME=VALUE lines (values in signed
 * 64-bit decimal unless noted), for ShmHeaderConformanceTest to compare with
 * the Java descriptors in org.hyperdmabuf.hv.shm.
 *
 * Build: gcc -std=c11 -Wall -Werror -I abi-spec/include shm_layout_dump.c
 *
 * Usage: shm_layout_dump [option]...
 *   --layout R,P,M,C,F         RegionLayout of (region_size, page_size,
 *                              max_peers, ring_capacity, fence_slots) as
 *                              layout[R,P,M,C,F].<field>=...
 *   --owner PEER,SESSION       owner[PEER,SESSION].word/peer/session_low
 *   --check-header FILE,SIZE   validates the 4096-byte header in FILE against
 *                              a mapping of SIZE bytes: check.status=...
 *   --write-header FILE,R,P,M,C,F,SESSION
 *                              formats a header for those parameters into
 *                              FILE (4096 bytes): write.status=...
 * Numbers accept decimal or 0x hex (parsed as unsigned 64-bit).
 * Exit status: 0, or 2 on a usage or I/O error.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hyperdmabuf_shm.h"

#define P(name, value) printf("%s=%" PRId64 "\n", (name), (int64_t)(value))

static void usage(const char *why)
{
    fprintf(stderr, "shm_layout_dump: %s\n", why);
    exit(2);
}

/* Parses exactly n comma-separated unsigned numbers from s; returns 0 on success. */
static int parse_numbers(const char *s, uint64_t *out, int n)
{
    const char *p = s;
    int i;

    for (i = 0; i < n; i++) {
        char *end;
        if (*p == '\0' || *p == '-') {
            return -1;
        }
        out[i] = strtoull(p, &end, 0);
        if (end == p || (i < n - 1 && *end != ',') || (i == n - 1 && *end != '\0')) {
            return -1;
        }
        p = end + 1;
    }
    return 0;
}

static const char *layout_status_name(enum hdmabuf_layout_status s)
{
    switch (s) {
    case HDMABUF_LAYOUT_OK: return "ok";
    case HDMABUF_LAYOUT_EPAGE_SIZE: return "page_size";
    case HDMABUF_LAYOUT_EMAX_PEERS: return "max_peers";
    case HDMABUF_LAYOUT_ERING_CAPACITY: return "ring_capacity";
    case HDMABUF_LAYOUT_EFENCE_SLOTS: return "fence_slots";
    case HDMABUF_LAYOUT_EREGION_SIZE: return "region_size";
    }
    return "unknown";
}

static const char *header_status_name(enum hdmabuf_header_status s)
{
    switch (s) {
    case HDMABUF_HEADER_OK: return "ok";
    case HDMABUF_HEADER_EMAGIC: return "magic";
    case HDMABUF_HEADER_EVERSION: return "version";
    case HDMABUF_HEADER_ESIZE: return "size";
    case HDMABUF_HEADER_EPARAMS: return "params";
    case HDMABUF_HEADER_EOFFSETS: return "offsets";
    }
    return "unknown";
}

static void print_layout(const char *prefix, const struct hdmabuf_region_layout *l)
{
    char name[512];
#define PL(field, value) \
    do { snprintf(name, sizeof name, "%s.%s", prefix, field); P(name, value); } while (0)
    PL("region_size", l->region_size);
    PL("page_size", l->page_size);
    PL("max_peers", l->max_peers);
    PL("ring_capacity", l->ring_capacity);
    PL("fence_slots", l->fence_slots);
    PL("peer_table_offset", l->peer_table_offset);
    PL("ring_area_offset", l->ring_area_offset);
    PL("ring_stride", l->ring_stride);
    PL("page_table_offset", l->page_table_offset);
    PL("fence_table_offset", l->fence_table_offset);
    PL("pool_offset", l->pool_offset);
    PL("pool_pages", l->pool_pages);
    PL("control_length", hdmabuf_control_length(l));
    PL("pool_bytes", hdmabuf_pool_bytes(l));
    PL("ring_offset(0,1)", hdmabuf_ring_offset(l, 0, 1));
    PL("ring_offset(1,0)", hdmabuf_ring_offset(l, 1, 0));
    PL("ring_offset(last,last)", hdmabuf_ring_offset(l, l->max_peers - 1, l->max_peers - 1));
#undef PL
}

static void dump_constants(void)
{
    char magic_bytes[9];
    uint64_t magic = HDMABUF_SHM_MAGIC;
    /* stride and maxRecordLength are compared for these; checkCapacity also for the invalid ones. */
    static const uint32_t capacities[] = { 4096, 8192, 65536, 1u << 20, 1u << 24 };
    static const uint32_t bad_capacities[] = { 0, 8, 4095, 6144, 1u << 25, 0x80000000u, 0xFFFFFFFFu };
    static const uint32_t lengths[] = { 0, 1, 7, 8, 9, 15, 16, 17, 1020, 16383 };
    static const uint32_t peers[] = { 0, 1, 7, 255 };
    /* (offset, content size, buffer length) for hdmabuf_frame_header_placement_valid. */
    static const uint64_t placements[][3] = { { 4096, 4096, 8192 }, { 7680, 7680, 8192 }, { 7744, 7700, 8192 },
        { 7700, 7700, 8192 }, { 64, 100, 8192 }, { 7744, 100, 8192 }, { 8192, 0, 8192 },
        { UINT64_MAX - 63, 0, UINT64_MAX }, { 0, 0, 512 }, { 0, 0, 511 } };
    size_t i;
    char name[128];

    /* Region header (RegionHeaderDescriptor). */
    P("RegionHeaderDescriptor.MAGIC", HDMABUF_SHM_MAGIC);
    P("RegionHeaderDescriptor.LAYOUT_VERSION", HDMABUF_SHM_LAYOUT_VERSION);
    P("RegionHeaderDescriptor.HEADER_LENGTH", HDMABUF_SHM_HEADER_LENGTH);
    P("RegionHeaderDescriptor.DEFINED_LENGTH", HDMABUF_SHM_HEADER_DEFINED_LENGTH);
    P("RegionHeaderDescriptor.MAGIC_OFFSET", offsetof(struct hdmabuf_region_header, magic));
    P("RegionHeaderDescriptor.LAYOUT_VERSION_OFFSET", offsetof(struct hdmabuf_region_header, layout_version));
    P("RegionHeaderDescriptor.HEADER_LENGTH_OFFSET", offsetof(struct hdmabuf_region_header, header_length));
    P("RegionHeaderDescriptor.REGION_SIZE_OFFSET", offsetof(struct hdmabuf_region_header, region_size));
    P("RegionHeaderDescriptor.PAGE_SIZE_OFFSET", offsetof(struct hdmabuf_region_header, page_size));
    P("RegionHeaderDescriptor.MAX_PEERS_OFFSET", offsetof(struct hdmabuf_region_header, max_peers));
    P("RegionHeaderDescriptor.RING_CAPACITY_OFFSET", offsetof(struct hdmabuf_region_header, ring_capacity));
    P("RegionHeaderDescriptor.FORMAT_STATE_OFFSET", offsetof(struct hdmabuf_region_header, format_state));
    P("RegionHeaderDescriptor.PEER_TABLE_OFFSET_OFFSET", offsetof(struct hdmabuf_region_header, peer_table_offset));
    P("RegionHeaderDescriptor.RING_AREA_OFFSET_OFFSET", offsetof(struct hdmabuf_region_header, ring_area_offset));
    P("RegionHeaderDescriptor.RING_STRIDE_OFFSET", offsetof(struct hdmabuf_region_header, ring_stride));
    P("RegionHeaderDescriptor.PAGE_TABLE_OFFSET_OFFSET", offsetof(struct hdmabuf_region_header, page_table_offset));
    P("RegionHeaderDescriptor.FENCE_TABLE_OFFSET_OFFSET", offsetof(struct hdmabuf_region_header, fence_table_offset));
    P("RegionHeaderDescriptor.FENCE_SLOTS_OFFSET", offsetof(struct hdmabuf_region_header, fence_slots));
    P("RegionHeaderDescriptor.POOL_OFFSET_OFFSET", offsetof(struct hdmabuf_region_header, pool_offset));
    P("RegionHeaderDescriptor.POOL_PAGES_OFFSET", offsetof(struct hdmabuf_region_header, pool_pages));
    P("RegionHeaderDescriptor.FORMATTER_SESSION_OFFSET", offsetof(struct hdmabuf_region_header, formatter_session));
    P("RegionHeaderDescriptor.FORMAT_STATE_BLANK", HDMABUF_FORMAT_STATE_BLANK);
    P("RegionHeaderDescriptor.FORMAT_STATE_FORMATTING", HDMABUF_FORMAT_STATE_FORMATTING);
    P("RegionHeaderDescriptor.FORMAT_STATE_READY", HDMABUF_FORMAT_STATE_READY);
    P("sizeof(struct hdmabuf_region_header)", sizeof(struct hdmabuf_region_header));
    P("offsetof(struct hdmabuf_region_header, reserved0)", offsetof(struct hdmabuf_region_header, reserved0));
    P("offsetof(struct hdmabuf_region_header, reserved)", offsetof(struct hdmabuf_region_header, reserved));
    memcpy(magic_bytes, &magic, 8); /* little-endian host: the bytes as stored in the region */
    magic_bytes[8] = '\0';
    printf("magic.bytes=%s\n", magic_bytes);

    /* Peer table (PeerSlotDescriptor). */
    P("PeerSlotDescriptor.SLOT_LENGTH", HDMABUF_PEER_SLOT_LENGTH);
    P("PeerSlotDescriptor.STATE_OFFSET", offsetof(struct hdmabuf_peer_slot, state));
    P("PeerSlotDescriptor.PEER_ID_OFFSET", offsetof(struct hdmabuf_peer_slot, peer_id));
    P("PeerSlotDescriptor.SESSION_ID_OFFSET", offsetof(struct hdmabuf_peer_slot, session_id));
    P("PeerSlotDescriptor.HEARTBEAT_OFFSET", offsetof(struct hdmabuf_peer_slot, heartbeat));
    P("PeerSlotDescriptor.ABI_VERSION_OFFSET", offsetof(struct hdmabuf_peer_slot, abi_version));
    P("PeerSlotDescriptor.ROLES_OFFSET", offsetof(struct hdmabuf_peer_slot, roles));
    P("PeerSlotDescriptor.PID_OFFSET", offsetof(struct hdmabuf_peer_slot, pid));
    P("PeerSlotDescriptor.NOTIFY_OFFSET", offsetof(struct hdmabuf_peer_slot, notify));
    P("PeerSlotDescriptor.CLAIM_OFFSET", offsetof(struct hdmabuf_peer_slot, claim));
    P("PeerSlotDescriptor.CLAIM_ID_SHIFT", HDMABUF_PEER_CLAIM_ID_SHIFT);
    P("PeerSlotDescriptor.CLAIM_TAG_MASK", HDMABUF_PEER_CLAIM_TAG_MASK);
    P("PeerSlotDescriptor.FENCE_BELL_OFFSET", offsetof(struct hdmabuf_peer_slot, fence_bell));
    P("PeerSlotDescriptor.STATE_FREE", HDMABUF_PEER_STATE_FREE);
    P("PeerSlotDescriptor.STATE_ACTIVE", HDMABUF_PEER_STATE_ACTIVE);
    P("PeerSlotDescriptor.STATE_GONE", HDMABUF_PEER_STATE_GONE);
    P("PeerSlotDescriptor.NOTIFY_POLLS", HDMABUF_PEER_NOTIFY_POLLS);
    P("PeerSlotDescriptor.NOTIFY_DOORBELL", HDMABUF_PEER_NOTIFY_DOORBELL);
    P("PeerSlotDescriptor.ROLE_SINK", HDMABUF_ROLE_SINK);
    P("PeerSlotDescriptor.ROLE_SOURCE", HDMABUF_ROLE_SOURCE);
    P("sizeof(struct hdmabuf_peer_slot)", sizeof(struct hdmabuf_peer_slot));
    P("offsetof(struct hdmabuf_peer_slot, claim)", offsetof(struct hdmabuf_peer_slot, claim));
    P("offsetof(struct hdmabuf_peer_slot, reserved0)", offsetof(struct hdmabuf_peer_slot, reserved0));
    P("offsetof(struct hdmabuf_peer_slot, reserved)", offsetof(struct hdmabuf_peer_slot, reserved));

    /* Rings (RingDescriptor). */
    P("RingDescriptor.TRAILER_LENGTH", HDMABUF_RING_TRAILER_LENGTH);
    P("RingDescriptor.TAIL_OFFSET", offsetof(struct hdmabuf_ring_trailer, tail));
    P("RingDescriptor.PRODUCER_SESSION_OFFSET", offsetof(struct hdmabuf_ring_trailer, producer_session));
    P("RingDescriptor.DROPPED_SESSION_OFFSET", offsetof(struct hdmabuf_ring_trailer, dropped_session));
    P("RingDescriptor.HEAD_OFFSET", offsetof(struct hdmabuf_ring_trailer, head));
    P("RingDescriptor.CONSUMER_SESSION_OFFSET", offsetof(struct hdmabuf_ring_trailer, consumer_session));
    P("RingDescriptor.MIN_CAPACITY", HDMABUF_RING_MIN_CAPACITY);
    P("RingDescriptor.MAX_CAPACITY", HDMABUF_RING_MAX_CAPACITY);
    P("sizeof(struct hdmabuf_ring_trailer)", sizeof(struct hdmabuf_ring_trailer));
    for (i = 0; i < sizeof capacities / sizeof capacities[0]; i++) {
        snprintf(name, sizeof name, "RingDescriptor.stride(%" PRIu32 ")", capacities[i]);
        P(name, hdmabuf_ring_stride(capacities[i]));
        snprintf(name, sizeof name, "RingDescriptor.maxRecordLength(%" PRIu32 ")", capacities[i]);
        P(name, hdmabuf_ring_max_record_length(capacities[i]));
        snprintf(name, sizeof name, "RingDescriptor.checkCapacity(%" PRIu32 ")", capacities[i]);
        P(name, hdmabuf_ring_capacity_valid(capacities[i]));
    }
    for (i = 0; i < sizeof bad_capacities / sizeof bad_capacities[0]; i++) {
        snprintf(name, sizeof name, "RingDescriptor.checkCapacity(%" PRIu32 ")", bad_capacities[i]);
        P(name, hdmabuf_ring_capacity_valid(bad_capacities[i]));
    }

    /* Records (RecordDescriptor). */
    P("RecordDescriptor.HEADER_LENGTH", HDMABUF_RECORD_HEADER_LENGTH);
    P("RecordDescriptor.ALIGNMENT", HDMABUF_RECORD_ALIGNMENT);
    P("RecordDescriptor.LENGTH_OFFSET", offsetof(struct hdmabuf_record_header, length));
    P("RecordDescriptor.TYPE_OFFSET", offsetof(struct hdmabuf_record_header, type));
    P("RecordDescriptor.PADDING_TYPE", HDMABUF_RECORD_TYPE_PADDING);
    P("RecordDescriptor.PEER_MESSAGE_TYPE", HDMABUF_RECORD_TYPE_PEER_MESSAGE);
    P("RecordDescriptor.SESSION_START_TYPE", HDMABUF_RECORD_TYPE_SESSION_START);
    P("RecordDescriptor.SESSION_START_LENGTH", sizeof(struct hdmabuf_session_start));
    P("RecordDescriptor.SESSION_START_PRODUCER_OFFSET", offsetof(struct hdmabuf_session_start, producer_session));
    P("RecordDescriptor.SESSION_START_CONSUMER_OFFSET", offsetof(struct hdmabuf_session_start, consumer_session));
    P("sizeof(struct hdmabuf_record_header)", sizeof(struct hdmabuf_record_header));
    P("limit.HDMABUF_SESSION_START_LENGTH", HDMABUF_SESSION_START_LENGTH);
    for (i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
        snprintf(name, sizeof name, "RecordDescriptor.align(%" PRIu32 ")", lengths[i]);
        P(name, hdmabuf_record_align(lengths[i]));
    }

    /* Page table (PageTableDescriptor). */
    P("PageTableDescriptor.ENTRY_LENGTH", HDMABUF_PAGE_TABLE_ENTRY_LENGTH);
    P("PageTableDescriptor.FREE", HDMABUF_PAGE_FREE);
    P("PageTableDescriptor.ownerPeer(0)", hdmabuf_owner_peer(HDMABUF_PAGE_FREE));

    /* Fence table (FenceSlotDescriptor). */
    P("FenceSlotDescriptor.SLOT_LENGTH", HDMABUF_FENCE_SLOT_LENGTH);
    P("FenceSlotDescriptor.OWNER_OFFSET", offsetof(struct hdmabuf_fence_slot, owner));
    P("FenceSlotDescriptor.EXPORT_NUMBER_OFFSET", offsetof(struct hdmabuf_fence_slot, export_number));
    P("FenceSlotDescriptor.EXPORT_NONCE_OFFSET", offsetof(struct hdmabuf_fence_slot, export_nonce));
    P("FenceSlotDescriptor.ACQUIRE_VALUE_OFFSET", offsetof(struct hdmabuf_fence_slot, acquire_value));
    P("FenceSlotDescriptor.ACQUIRE_ERROR_OFFSET", offsetof(struct hdmabuf_fence_slot, acquire_error));
    P("FenceSlotDescriptor.ACQUIRE_WAITERS_OFFSET", offsetof(struct hdmabuf_fence_slot, acquire_waiters));
    P("FenceSlotDescriptor.RELEASE_VALUE_OFFSET", offsetof(struct hdmabuf_fence_slot, release_value));
    P("FenceSlotDescriptor.RELEASE_ERROR_OFFSET", offsetof(struct hdmabuf_fence_slot, release_error));
    P("FenceSlotDescriptor.RELEASE_WAITERS_OFFSET", offsetof(struct hdmabuf_fence_slot, release_waiters));
    P("FenceSlotDescriptor.ACQUIRE_WAKE_OFFSET", offsetof(struct hdmabuf_fence_slot, acquire_wake));
    P("FenceSlotDescriptor.RELEASE_WAKE_OFFSET", offsetof(struct hdmabuf_fence_slot, release_wake));
    P("FenceAbi.FIRST_WAKE_VECTOR", HDMABUF_IVSHMEM_VECTOR_FIRST_WAKE);
    P("FenceAbi.MESSAGE_VECTOR", HDMABUF_IVSHMEM_VECTOR_CONTROL);
    P("FenceAbi.FENCE_VECTOR", HDMABUF_IVSHMEM_VECTOR_FENCE);
    P("FenceAbi.POISON_VALUE", HDMABUF_FENCE_POISON_VALUE);
    P("sizeof(struct hdmabuf_fence_slot)", sizeof(struct hdmabuf_fence_slot));
    P("offsetof(struct hdmabuf_fence_slot, reserved1)", offsetof(struct hdmabuf_fence_slot, reserved1));
    P("offsetof(struct hdmabuf_fence_slot, reserved2)", offsetof(struct hdmabuf_fence_slot, reserved2));
    P("macro.HDMABUF_FENCE_ACQUIRE_WAITERS_OFFSET", HDMABUF_FENCE_ACQUIRE_WAITERS_OFFSET);
    P("macro.HDMABUF_FENCE_RELEASE_WAITERS_OFFSET", HDMABUF_FENCE_RELEASE_WAITERS_OFFSET);
    P("macro.HDMABUF_PEER_FENCE_BELL_OFFSET", HDMABUF_PEER_FENCE_BELL_OFFSET);

    /* Frame header of frame streams (FrameHeaderDescriptor). */
    printf("tag.HDMABUF_FRAME_HEADER_TAG=%s\n", HDMABUF_FRAME_HEADER_TAG);
    P("FrameHeaderDescriptor.HEADER_LENGTH", HDMABUF_FRAME_HEADER_LENGTH);
    P("FrameHeaderDescriptor.ALIGNMENT", HDMABUF_FRAME_HEADER_ALIGNMENT);
    P("FrameHeaderDescriptor.SEQUENCE_OFFSET", offsetof(struct hdmabuf_frame_header, sequence));
    P("FrameHeaderDescriptor.PTS_OFFSET", offsetof(struct hdmabuf_frame_header, pts_ns));
    P("FrameHeaderDescriptor.DURATION_OFFSET", offsetof(struct hdmabuf_frame_header, duration_ns));
    P("FrameHeaderDescriptor.PAYLOAD_LENGTH_OFFSET", offsetof(struct hdmabuf_frame_header, payload_length));
    P("FrameHeaderDescriptor.FLAGS_OFFSET", offsetof(struct hdmabuf_frame_header, flags));
    P("FrameHeaderDescriptor.PRIVATE_LENGTH_OFFSET", offsetof(struct hdmabuf_frame_header, private_length));
    P("FrameHeaderDescriptor.METADATA_REVISION_OFFSET", offsetof(struct hdmabuf_frame_header, metadata_revision));
    P("macro.HDMABUF_FRAME_METADATA_REVISION_OFFSET", HDMABUF_FRAME_METADATA_REVISION_OFFSET);
    P("sizeof(hdmabuf_frame_header.metadata_revision)",
        sizeof(((struct hdmabuf_frame_header *)0)->metadata_revision));
    P("FrameHeaderDescriptor.PRIVATE_DATA_OFFSET", offsetof(struct hdmabuf_frame_header, private_data));
    P("FrameHeaderDescriptor.DEFINED_LENGTH", HDMABUF_FRAME_DEFINED_LENGTH);
    P("FrameHeaderDescriptor.PRIVATE_MAX", sizeof(((struct hdmabuf_frame_header *)0)->private_data));
    P("FrameHeaderDescriptor.FLAG_KEY_FRAME", HDMABUF_FRAME_FLAG_KEY_FRAME);
    P("FrameHeaderDescriptor.FLAG_DISCONTINUITY", HDMABUF_FRAME_FLAG_DISCONTINUITY);
    P("FrameHeaderDescriptor.FLAG_END_OF_STREAM", HDMABUF_FRAME_FLAG_END_OF_STREAM);
    P("FrameHeaderDescriptor.FLAGS_DEFINED", HDMABUF_FRAME_FLAGS_DEFINED);
    P("sizeof(struct hdmabuf_frame_header)", sizeof(struct hdmabuf_frame_header));
    P("offsetof(struct hdmabuf_frame_header, reserved0)", offsetof(struct hdmabuf_frame_header, reserved0));
    P("offsetof(struct hdmabuf_frame_header, reserved)", offsetof(struct hdmabuf_frame_header, reserved));
    P("macro.HDMABUF_FRAME_PRIVATE_MAX", HDMABUF_FRAME_PRIVATE_MAX);
    for (i = 0; i < sizeof placements / sizeof placements[0]; i++) {
        snprintf(name, sizeof name, "frame.placementValid(%" PRIu64 ",%" PRIu64 ",%" PRIu64 ")",
            placements[i][0], placements[i][1], placements[i][2]);
        P(name, hdmabuf_frame_header_placement_valid(placements[i][0], placements[i][1], placements[i][2]));
    }
    {
        /* sequence, payload_length, private_length against (frame 5, content 1000). */
        static const uint64_t headers[][3] = { { 5, 1000, 256 }, { 5, 0, 0 }, { 4, 10, 0 }, { 5, 1001, 0 },
            { 5, 10, 257 }, { 5, UINT64_MAX, 0 }, { 5, 10, UINT32_MAX } };
        for (i = 0; i < sizeof headers / sizeof headers[0]; i++) {
            struct hdmabuf_frame_header h;
            memset(&h, 0, sizeof h);
            h.sequence = headers[i][0];
            h.payload_length = headers[i][1];
            h.private_length = (uint32_t)headers[i][2];
            snprintf(name, sizeof name, "frame.valid(%" PRIu64 ",%" PRIu64 ",%" PRIu64 ")", headers[i][0],
                headers[i][1], headers[i][2]);
            P(name, hdmabuf_frame_header_valid(&h, 5, 1000));
        }
    }

    /* Layout parameters (RegionLayout). */
    P("RegionLayout.DEFAULT_MAX_PEERS", HDMABUF_LAYOUT_DEFAULT_MAX_PEERS);
    P("RegionLayout.DEFAULT_RING_CAPACITY", HDMABUF_LAYOUT_DEFAULT_RING_CAPACITY);
    P("RegionLayout.DEFAULT_FENCE_SLOTS", HDMABUF_LAYOUT_DEFAULT_FENCE_SLOTS);
    P("RegionLayout.MAX_FENCE_SLOTS", HDMABUF_LAYOUT_MAX_FENCE_SLOTS);
    P("RegionLayout.MAX_PEERS_LIMIT", HDMABUF_LAYOUT_MAX_PEERS_LIMIT);
    P("RegionLayout.POOL_ALIGNMENT", HDMABUF_POOL_ALIGNMENT);
    P("limit.HDMABUF_LAYOUT_MIN_MAX_PEERS", HDMABUF_LAYOUT_MIN_MAX_PEERS);
    P("limit.HDMABUF_LAYOUT_MIN_PAGE_SIZE", HDMABUF_LAYOUT_MIN_PAGE_SIZE);
    P("limit.HDMABUF_LAYOUT_MAX_PAGE_SIZE", HDMABUF_LAYOUT_MAX_PAGE_SIZE);
    P("limit.HDMABUF_LAYOUT_MAX_FENCE_SLOTS", HDMABUF_LAYOUT_MAX_FENCE_SLOTS);
    for (i = 0; i < sizeof peers / sizeof peers[0]; i++) {
        struct hdmabuf_region_layout l;
        memset(&l, 0, sizeof l);
        /* Java's slotOffset is relative to the peer table. */
        snprintf(name, sizeof name, "PeerSlotDescriptor.slotOffset(%" PRIu32 ")", peers[i]);
        P(name, hdmabuf_peer_slot_offset(&l, peers[i]));
        /* Java's FenceSlotDescriptor.slotOffset is relative to the fence table. */
        snprintf(name, sizeof name, "FenceSlotDescriptor.slotOffset(%" PRIu32 ")", peers[i]);
        P(name, hdmabuf_fence_slot_offset(&l, peers[i]));
        /* Claims: the session's tag (never 0: peer 0's session below has a zero tag), the holder of slot 3. */
        snprintf(name, sizeof name, "PeerSlotDescriptor.claimWord(%" PRIu32 ")", peers[i]);
        P(name, hdmabuf_peer_claim_word(peers[i], UINT64_C(0xABCD000000000000) + peers[i]));
        snprintf(name, sizeof name, "PeerSlotDescriptor.claimHolder(%" PRIu32 ")", peers[i]);
        P(name, hdmabuf_peer_claim_holder(hdmabuf_peer_claim_word(peers[i], UINT64_C(0xABCD000000000000) + peers[i]),
            3));
    }
    P("PeerSlotDescriptor.claimHolder(-1)", hdmabuf_peer_claim_holder(0, 3));

    /* ivshmem doorbell vectors (ABI.md "ivshmem specifics"). */
    P("vector.HDMABUF_IVSHMEM_VECTOR_CONTROL", HDMABUF_IVSHMEM_VECTOR_CONTROL);
    P("vector.HDMABUF_IVSHMEM_VECTOR_FENCE", HDMABUF_IVSHMEM_VECTOR_FENCE);
    P("vector.HDMABUF_IVSHMEM_VECTOR_FIRST_WAKE", HDMABUF_IVSHMEM_VECTOR_FIRST_WAKE);
    {
        /* The signal helper names the rings a signaller owes: fence doorbell if waiters, plus the wake bits. */
        struct hdmabuf_fence_slot f;
        memset(&f, 0, sizeof f);
        f.acquire_waiters = 1;
        f.acquire_wake = 0x0000800dU; /* vectors 0, 2, 3 and 15: 0 is no wake vector and must be dropped */
        P("check.hdmabuf_fence_signal_rings", hdmabuf_fence_signal_rings(&f.acquire_value, &f.acquire_error,
            &f.acquire_waiters, &f.acquire_wake, 7, 0));
        P("check.fence_value_after_signal", f.acquire_value);
        f.acquire_waiters = 0;
        f.acquire_wake = 0;
        P("check.hdmabuf_fence_signal_rings_none", hdmabuf_fence_signal_rings(&f.acquire_value, &f.acquire_error,
            &f.acquire_waiters, &f.acquire_wake, 8, 0));
    }
    {
        /* The exchange form: refused from a stale last value (nothing stored, last updated), then stored. */
        struct hdmabuf_fence_slot f;
        uint64_t last = 3;
        uint32_t rings = 0;
        memset(&f, 0, sizeof f);
        f.acquire_value = 8;
        f.acquire_waiters = 1;
        f.acquire_wake = 0x0000800dU;
        P("check.hdmabuf_fence_signal_exchange_stale", hdmabuf_fence_signal_exchange(&f.acquire_value,
            &f.acquire_waiters, &f.acquire_wake, &last, 9, &rings));
        P("check.exchange_last_after_stale", last);
        P("check.exchange_value_after_stale", f.acquire_value);
        P("check.hdmabuf_fence_signal_exchange", hdmabuf_fence_signal_exchange(&f.acquire_value,
            &f.acquire_waiters, &f.acquire_wake, &last, 9, &rings));
        P("check.exchange_rings", rings);
        P("check.exchange_value_after", f.acquire_value);
        P("check.exchange_last_after", last);
    }
}

static void do_layout(const char *arg)
{
    uint64_t v[5];
    struct hdmabuf_region_layout l;
    enum hdmabuf_layout_status s;
    char prefix[256];

    if (parse_numbers(arg, v, 5) != 0 || v[1] > UINT32_MAX || v[2] > UINT32_MAX || v[3] > UINT32_MAX ||
        v[4] > UINT32_MAX) {
        usage("--layout wants REGION_SIZE,PAGE_SIZE,MAX_PEERS,RING_CAPACITY,FENCE_SLOTS");
    }
    snprintf(prefix, sizeof prefix, "layout[%s]", arg);
    s = hdmabuf_region_layout_compute(&l, v[0], (uint32_t)v[1], (uint32_t)v[2], (uint32_t)v[3], (uint32_t)v[4]);
    printf("%s.status=%s\n", prefix, layout_status_name(s));
    if (s == HDMABUF_LAYOUT_OK) {
        print_layout(prefix, &l);
    }
}

static void do_owner(const char *arg)
{
    uint64_t v[2];
    uint64_t word;
    char name[256];

    if (parse_numbers(arg, v, 2) != 0 || v[0] > UINT32_MAX) {
        usage("--owner wants PEER_ID,SESSION_ID");
    }
    word = hdmabuf_owner_word((uint32_t)v[0], v[1]);
    snprintf(name, sizeof name, "owner[%s].word", arg);
    P(name, word);
    snprintf(name, sizeof name, "owner[%s].peer", arg);
    P(name, hdmabuf_owner_peer(word));
    snprintf(name, sizeof name, "owner[%s].session_low", arg);
    P(name, hdmabuf_owner_session_low(word));
}

static void do_check_header(const char *arg)
{
    char path[4096];
    const char *comma = strrchr(arg, ',');
    uint64_t size;
    struct hdmabuf_region_header h;
    struct hdmabuf_region_layout l;
    enum hdmabuf_header_status s;
    FILE *f;

    if (comma == NULL || (size_t)(comma - arg) >= sizeof path || parse_numbers(comma + 1, &size, 1) != 0) {
        usage("--check-header wants FILE,SIZE");
    }
    memcpy(path, arg, (size_t)(comma - arg));
    path[comma - arg] = '\0';
    f = fopen(path, "rb");
    if (f == NULL || fread(&h, sizeof h, 1, f) != 1) {
        usage("cannot read a 4096-byte header from the --check-header file");
    }
    fclose(f);
    s = hdmabuf_region_header_validate(&h, size, &l);
    printf("check.status=%s\n", header_status_name(s));
    P("check.format_state", h.format_state);
    P("check.formatter_session", h.formatter_session);
    if (s == HDMABUF_HEADER_OK) {
        print_layout("check", &l);
    }
}

static void do_write_header(const char *arg)
{
    char path[4096];
    const char *comma = strchr(arg, ',');
    uint64_t v[6];
    struct hdmabuf_region_header h;
    struct hdmabuf_region_layout l;
    enum hdmabuf_layout_status s;
    FILE *f;

    if (comma == NULL || (size_t)(comma - arg) >= sizeof path || parse_numbers(comma + 1, v, 6) != 0 ||
        v[1] > UINT32_MAX || v[2] > UINT32_MAX || v[3] > UINT32_MAX || v[4] > UINT32_MAX) {
        usage("--write-header wants FILE,REGION_SIZE,PAGE_SIZE,MAX_PEERS,RING_CAPACITY,FENCE_SLOTS,SESSION");
    }
    memcpy(path, arg, (size_t)(comma - arg));
    path[comma - arg] = '\0';
    s = hdmabuf_region_layout_compute(&l, v[0], (uint32_t)v[1], (uint32_t)v[2], (uint32_t)v[3], (uint32_t)v[4]);
    printf("write.status=%s\n", layout_status_name(s));
    if (s != HDMABUF_LAYOUT_OK) {
        return;
    }
    /* Start from garbage so that fill() is shown to write or zero every byte. */
    memset(&h, 0xA5, sizeof h);
    hdmabuf_region_header_fill(&h, &l, v[5]);
    hdmabuf_store_release_u32(&h.format_state, HDMABUF_FORMAT_STATE_READY);
    hdmabuf_store_release_u64(&h.magic, HDMABUF_SHM_MAGIC);
    f = fopen(path, "wb");
    if (f == NULL || fwrite(&h, sizeof h, 1, f) != 1 || fclose(f) != 0) {
        usage("cannot write the --write-header file");
    }
}

int main(int argc, char **argv)
{
    int i;

    dump_constants();
    for (i = 1; i < argc; i++) {
        if (i + 1 >= argc) {
            usage("every option takes an argument");
        }
        if (strcmp(argv[i], "--layout") == 0) {
            do_layout(argv[++i]);
        } else if (strcmp(argv[i], "--owner") == 0) {
            do_owner(argv[++i]);
        } else if (strcmp(argv[i], "--check-header") == 0) {
            do_check_header(argv[++i]);
        } else if (strcmp(argv[i], "--write-header") == 0) {
            do_write_header(argv[++i]);
        } else {
            usage("unknown option");
        }
    }
    return fflush(stdout) == 0 ? 0 : 2;
}
