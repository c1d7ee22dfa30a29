/* SPDX-License-Identifier: MIT */
#include "formats.h"

#include <stddef.h>
#include <stdio.h>
#include <wayland-client-protocol.h>

#define FOURCC(a, b, c, d) ((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)

/*
 * wl_shm codes equal DRM fourccs except the two mandatory formats, which are 0 and 1.
 * Only single-plane, 4-byte formats: what pixman shows without conversion.
 */
static const struct format formats[] = {
    { FOURCC('A', 'R', '2', '4'), WL_SHM_FORMAT_ARGB8888, 4 },
    { FOURCC('X', 'R', '2', '4'), WL_SHM_FORMAT_XRGB8888, 4 },
    { FOURCC('A', 'B', '2', '4'), WL_SHM_FORMAT_ABGR8888, 4 },
    { FOURCC('X', 'B', '2', '4'), WL_SHM_FORMAT_XBGR8888, 4 },
};

const struct format *format_from_fourcc(uint32_t fourcc)
{
    for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
        if (formats[i].fourcc == fourcc)
            return &formats[i];
    }
    return NULL;
}

const struct format *format_from_wl_shm(uint32_t code)
{
    for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
        if (formats[i].wl_shm == code)
            return &formats[i];
    }
    return NULL;
}

unsigned format_index(const struct format *f)
{
    return (unsigned)(f - formats);
}

const char *fourcc_name(uint32_t fourcc, char buf[11])
{
    for (int i = 0; i < 4; i++) {
        unsigned char c = (unsigned char)(fourcc >> (8 * i));
        if (c < 0x20 || c > 0x7e) {
            snprintf(buf, 11, "0x%08x", (unsigned)fourcc);
            return buf;
        }
        buf[i] = (char)c;
    }
    buf[4] = '\0';
    return buf;
}

const char *format_names(void)
{
    return "AR24 (ARGB8888), XR24 (XRGB8888), AB24 (ABGR8888), XB24 (XBGR8888)";
}
