/* SPDX-License-Identifier: MIT */
/*
 * wl_shm buffers in a memfd of this client's own: where a stream's buffers cannot be lent
 * to the compositor, each frame is copied into one of them (and the last frame is kept in
 * one when the producer goes away).
 */
#ifndef HDMABUF_WAYLAND_COPY_POOL_H
#define HDMABUF_WAYLAND_COPY_POOL_H

#include "window.h"

#define COPY_POOL_MAX 3 /* one shown, one the compositor has not released yet, one to fill */

struct copy_pool {
    int fd;
    void *data;
    size_t size;
    struct wl_shm_pool *pool;
    struct shm_buffer buffers[COPY_POOL_MAX];
    unsigned n;
    uint32_t width, height, stride;
};

int copy_pool_init(struct copy_pool *p, struct wl_shm *shm, unsigned n, uint32_t width, uint32_t height,
    const struct format *f);
/* A buffer the compositor does not hold and its pixels, or NULL if all are held. */
struct shm_buffer *copy_pool_take(struct copy_pool *p, uint8_t **pixels);
/* Copies an image row by row (the strides may differ). */
void copy_image(uint8_t *dst, uint32_t dst_stride, const uint8_t *src, uint32_t src_stride, uint32_t row_bytes,
    uint32_t rows);
/* Destroys the buffers (after the commit that replaced them) and unmaps. Idempotent. */
void copy_pool_fini(struct copy_pool *p);

#endif
