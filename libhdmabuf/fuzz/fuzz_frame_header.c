/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness: a frame stream's per-frame data as a consumer reads it (ABI.md "Frame
 * headers"): the "frame_header" tag, the header's placement in the buffer, and the header
 * itself, copied once and validated. Input: sequence (u64), content size (u64), buffer
 * length (u64), the tag text up to a NUL, then the header bytes (zero-padded to 512).
 */
#include <stdint.h>
#include <string.h>

#include "private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t sequence, content, length, offset;
    char tag[64];
    const uint8_t *nul;
    size_t tag_len;
    _Alignas(64) unsigned char shm[HDMABUF_FRAME_HEADER_LENGTH];
    struct hdmabuf_frame_header h;

    if (size < 24) {
        return 0;
    }
    memcpy(&sequence, data, 8);
    memcpy(&content, data + 8, 8);
    memcpy(&length, data + 16, 8);
    data += 24;
    size -= 24;
    nul = memchr(data, '\0', size);
    tag_len = nul != NULL ? (size_t)(nul - data) : size;
    if (tag_len >= sizeof(tag)) {
        return 0;
    }
    memcpy(tag, data, tag_len);
    tag[tag_len] = '\0';
    data += tag_len + (nul != NULL);
    size -= tag_len + (nul != NULL);
    if (frame_header_parse_offset(tag, &offset) == 0 &&
        hdmabuf_frame_header_placement_valid(offset, content, length) &&
        (offset % HDMABUF_FRAME_HEADER_ALIGNMENT != 0 || offset < content || offset > length ||
         length - offset < HDMABUF_FRAME_HEADER_LENGTH)) {
        __builtin_trap(); /* a placement the rules refuse was accepted */
    }
    memset(shm, 0, sizeof(shm));
    memcpy(shm, data, size < sizeof(shm) ? size : sizeof(shm));
    if (frame_header_read(shm, sequence, content, &h) == 0) {
        if (h.sequence != sequence || h.payload_length > content || h.private_length > HDMABUF_FRAME_PRIVATE_MAX) {
            __builtin_trap();
        }
        for (size_t i = h.private_length; i < HDMABUF_FRAME_PRIVATE_MAX; i++) {
            if (h.private_data[i] != 0) {
                __builtin_trap(); /* bytes past private_length must not leak stale data */
            }
        }
    }
    return 0;
}
