/*
 * The QEMU utility functions contrib/ivshmem-server calls, written for this build (not QEMU's code): just
 * what the server needs, with the behaviour it relies on.
 */
#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "qemu/event_notifier.h"
#include "qemu/option.h"
#include "qemu/sockets.h"

#include <sys/eventfd.h>

int qemu_daemon(int nochdir, int noclose)
{
    return daemon(nochdir, noclose);
}

int qemu_accept(int s, struct sockaddr *addr, socklen_t *addrlen)
{
    int fd;
    do
    {
        fd = accept4(s, addr, addrlen, SOCK_CLOEXEC);
    }
    while (fd < 0 && errno == EINTR);
    return fd;
}

void qemu_socket_set_nonblock(int fd)
{
    int flags = fcntl(fd, F_GETFL);
    if (flags >= 0)
    {
        fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    }
}

int event_notifier_init(EventNotifier *e, int active)
{
    int fd = eventfd(active ? 1 : 0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd < 0)
    {
        return -errno;
    }
    e->rfd = fd;
    e->wfd = fd;
    e->initialized = true;
    return 0;
}

void event_notifier_cleanup(EventNotifier *e)
{
    if (!e->initialized)
    {
        return;
    }
    close(e->rfd);
    e->rfd = -1;
    e->wfd = -1;
    e->initialized = false;
}

int event_notifier_get_fd(const EventNotifier *e)
{
    return e->rfd;
}

int parse_uint_full(const char *s, unsigned long long *value, int base)
{
    char *end;
    if (s == NULL || *s == '\0' || *s == '-')
    {
        return -EINVAL;
    }
    errno = 0;
    *value = strtoull(s, &end, base);
    if (errno != 0)
    {
        return -errno;
    }
    return *end == '\0' ? 0 : -EINVAL;
}

bool parse_option_size(const char *name, const char *value, uint64_t *ret, Error **errp)
{
    char *end;
    unsigned long long n;
    int shift = 0;
    errno = 0;
    n = strtoull(value, &end, 0);
    switch (*end)
    {
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    case 't': case 'T': shift = 40; end++; break;
    default: break;
    }
    if (errno != 0 || end == value || *end != '\0' || *value == '-' || (n << shift >> shift) != n)
    {
        Error *err = g_new0(Error, 1);
        err->message = g_strdup_printf("Parameter '%s' expects a non-negative number below 2^64 with an optional "
            "suffix K, M, G or T", name);
        *errp = err;
        return false;
    }
    *ret = n << shift;
    return true;
}

void error_report_err(Error *err)
{
    fprintf(stderr, "%s\n", err->message);
    g_free(err->message);
    g_free(err);
}
