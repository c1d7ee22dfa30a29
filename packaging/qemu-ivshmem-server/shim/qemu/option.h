/* Stand-in for QEMU's qemu/option.h. */
#ifndef HDMABUF_SHIM_OPTION_H
#define HDMABUF_SHIM_OPTION_H

#include <stdbool.h>
#include <stdint.h>
#include "qapi/error.h"

bool parse_option_size(const char *name, const char *value, uint64_t *ret, Error **errp);

#endif
