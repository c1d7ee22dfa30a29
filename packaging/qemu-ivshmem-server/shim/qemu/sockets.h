/* Stand-in for QEMU's qemu/sockets.h. */
#ifndef HDMABUF_SHIM_SOCKETS_H
#define HDMABUF_SHIM_SOCKETS_H

#include <sys/socket.h>

int qemu_accept(int s, struct sockaddr *addr, socklen_t *addrlen);
void qemu_socket_set_nonblock(int fd);

#endif
