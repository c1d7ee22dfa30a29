/* SPDX-License-Identifier: MIT */
/*
 * The test pattern, as wayland-test.py expects it on screen: four quadrants (red, green,
 * blue, yellow from the top left) and, over the top eighth of the rows, the frame counter
 * as 32 cells across the width, most significant bit first, white for 1 and black for 0.
 */
#ifndef HDMABUF_WAYLAND_PATTERN_H
#define HDMABUF_WAYLAND_PATTERN_H

#include <stdbool.h>
#include <stdint.h>

static inline uint32_t pattern_pixel(bool bgr, uint8_t r, uint8_t g, uint8_t b)
{
    /* AR24/XR24 are 0xAARRGGBB words, AB24/XB24 0xAABBGGRR; little-endian as DRM fourccs. */
    return 0xff000000u | (uint32_t)(bgr ? b : r) << 16 | (uint32_t)g << 8 | (bgr ? r : b);
}

static inline void pattern_render(uint8_t *data, uint32_t width, uint32_t height, uint32_t stride, bool bgr,
    uint32_t counter)
{
    for (uint32_t y = 0; y < height; y++) {
        uint32_t *row = (uint32_t *)(data + (uint64_t)y * stride);
        for (uint32_t x = 0; x < width; x++) {
            bool right = x >= width / 2, bottom = y >= height / 2;
            if (y < height / 8) {
                bool bit = (counter >> (31 - x * 32 / width)) & 1u;
                row[x] = bit ? pattern_pixel(bgr, 255, 255, 255) : pattern_pixel(bgr, 0, 0, 0);
            } else if (!bottom) {
                row[x] = right ? pattern_pixel(bgr, 0, 255, 0) : pattern_pixel(bgr, 255, 0, 0);
            } else {
                row[x] = right ? pattern_pixel(bgr, 255, 255, 0) : pattern_pixel(bgr, 0, 0, 255);
            }
        }
    }
}

#endif
