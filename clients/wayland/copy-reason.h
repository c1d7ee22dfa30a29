/* SPDX-License-Identifier: MIT */
/*
 * Whether a stream's buffers can be lent to the compositor as wl_shm pools, or why each frame
 * must be copied instead. Apart from Wayland, so that it is tested without a compositor.
 */
#ifndef HDMABUF_WAYLAND_COPY_REASON_H
#define HDMABUF_WAYLAND_COPY_REASON_H

#include <hyperdmabuf/hdmabuf.h>
#include <stdbool.h>
#include <stdint.h>

/*
 * NULL: lend the k buffers (their mappings: fd, offset, length, read_only); else why not.
 * forced: --copy; backend: the source daemon's backend ("xen", "ivshmem", ...).
 */
const char *copy_reason(bool forced, const char *backend, const struct hdmabuf_mapping *buffers, uint32_t k);

#endif
