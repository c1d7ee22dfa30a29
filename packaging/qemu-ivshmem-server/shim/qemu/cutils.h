/* Stand-in for QEMU's qemu/cutils.h. */
#ifndef HDMABUF_SHIM_CUTILS_H
#define HDMABUF_SHIM_CUTILS_H

int parse_uint_full(const char *s, unsigned long long *value, int base);

#endif
