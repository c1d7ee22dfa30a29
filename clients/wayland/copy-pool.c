/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include "copy-pool.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int copy_pool_init(struct copy_pool *p, struct wl_shm *shm, unsigned n, uint32_t width, uint32_t height,
    const struct format *f)
{
    uint64_t stride = (uint64_t)width * f->bpp, size = stride * height * n;
    int e;

    memset(p, 0, sizeof(*p));
    p->fd = -1;
    if (n == 0 || n > COPY_POOL_MAX || size > INT32_MAX)
        return -EINVAL;
    p->fd = memfd_create("hdmabuf-wayland", MFD_CLOEXEC);
    if (p->fd < 0)
        return -errno;
    if (ftruncate(p->fd, (off_t)size) < 0) {
        e = -errno;
        copy_pool_fini(p);
        return e;
    }
    p->data = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, p->fd, 0);
    if (p->data == MAP_FAILED) {
        e = -errno;
        p->data = NULL;
        copy_pool_fini(p);
        return e;
    }
    p->size = size;
    p->width = width;
    p->height = height;
    p->stride = (uint32_t)stride;
    p->pool = wl_shm_create_pool(shm, p->fd, (int32_t)size);
    for (unsigned i = 0; i < n; i++) {
        if ((e = shm_buffer_init(&p->buffers[i], p->pool, (int32_t)(i * stride * height), (int32_t)width,
                 (int32_t)height, (int32_t)stride, f)) != 0) {
            copy_pool_fini(p);
            return e;
        }
        p->n = i + 1;
    }
    return 0;
}

struct shm_buffer *copy_pool_take(struct copy_pool *p, uint8_t **pixels)
{
    for (unsigned i = 0; i < p->n; i++) {
        if (!p->buffers[i].busy) {
            *pixels = (uint8_t *)p->data + (size_t)i * p->stride * p->height;
            return &p->buffers[i];
        }
    }
    return NULL;
}

void copy_image(uint8_t *dst, uint32_t dst_stride, const uint8_t *src, uint32_t src_stride, uint32_t row_bytes,
    uint32_t rows)
{
    if (dst_stride == src_stride && row_bytes == src_stride) {
        memcpy(dst, src, (size_t)row_bytes * rows);
        return;
    }
    for (uint32_t y = 0; y < rows; y++)
        memcpy(dst + (size_t)y * dst_stride, src + (size_t)y * src_stride, row_bytes);
}

void copy_pool_fini(struct copy_pool *p)
{
    for (unsigned i = 0; i < p->n; i++)
        shm_buffer_fini(&p->buffers[i]);
    if (p->pool != NULL)
        wl_shm_pool_destroy(p->pool);
    if (p->data != NULL)
        munmap(p->data, p->size);
    if (p->fd >= 0)
        close(p->fd);
    memset(p, 0, sizeof(*p));
    p->fd = -1;
}
