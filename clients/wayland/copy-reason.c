/* SPDX-License-Identifier: MIT */
#include "copy-reason.h"

#include <string.h>

const char *copy_reason(bool forced, const char *backend, const struct hdmabuf_mapping *buffers, uint32_t k)
{
    if (forced)
        return "--copy";
    if (k < 3)
        return "the stream has fewer than 3 buffers, and the compositor holds one until the next is attached";
    if (strcmp(backend, "xen") == 0)
        return "the xen backend's fd (gntdev) cannot be mapped by the compositor at the buffer's offset";
    for (uint32_t i = 0; i < k; i++) {
        if (buffers[i].read_only)
            return "the imports are read-only, and the compositor maps wl_shm pools read-write";
        /* wl_shm_create_pool's size and the buffer's offset are int32; the pool spans [0, end). */
        if (buffers[i].offset > INT32_MAX || buffers[i].length > INT32_MAX - buffers[i].offset)
            return "a buffer ends beyond 2^31-1 bytes into its fd, past wl_shm's int32 pool size";
    }
    return NULL;
}
