/* Stand-in for QEMU's qemu/host-utils.h. */
#ifndef HDMABUF_SHIM_HOST_UTILS_H
#define HDMABUF_SHIM_HOST_UTILS_H

#include <stdint.h>

/* The smallest power of two >= value (value itself when it is one; 0 stays 0). */
static inline uint64_t pow2ceil(uint64_t value)
{
    uint64_t p = 1;
    if (value <= 1)
    {
        return value;
    }
    while (p < value)
    {
        p <<= 1;
    }
    return p;
}

#endif
