/* Stand-in for QEMU's qemu/osdep.h: the system headers and helpers contrib/ivshmem-server uses. */
#ifndef HDMABUF_SHIM_OSDEP_H
#define HDMABUF_SHIM_OSDEP_H

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>
#include <glib.h>

int qemu_daemon(int nochdir, int noclose);

#endif
