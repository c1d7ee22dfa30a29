/* SPDX-License-Identifier: MIT */
/* DRM fourccs of the typed image metadata and the wl_shm formats that show them. */
#ifndef HDMABUF_WAYLAND_FORMATS_H
#define HDMABUF_WAYLAND_FORMATS_H

#include <stdint.h>

struct format {
    uint32_t fourcc; /* DRM fourcc, as in hdmabuf_image.fourcc */
    uint32_t wl_shm; /* enum wl_shm_format */
    uint32_t bpp;    /* bytes per pixel */
};

/* The formats this client shows; NULL for any other fourcc. */
const struct format *format_from_fourcc(uint32_t fourcc);

/* Index of f in the table (for a bitmask of what the compositor advertises). */
unsigned format_index(const struct format *f);

/* The table's entry showing wl_shm format code, or NULL. */
const struct format *format_from_wl_shm(uint32_t code);

/* "AR24", or "0x12345678" when not printable; buf is 11 bytes. */
const char *fourcc_name(uint32_t fourcc, char buf[11]);

/* The supported fourccs, space-separated, for messages. */
const char *format_names(void);

#endif
