/* Stand-in for QEMU's qemu/event_notifier.h: one eventfd, read and written through the same fd. */
#ifndef HDMABUF_SHIM_EVENT_NOTIFIER_H
#define HDMABUF_SHIM_EVENT_NOTIFIER_H

#include <stdbool.h>

typedef struct EventNotifier
{
    int rfd;
    int wfd;
    bool initialized;
} EventNotifier;

int event_notifier_init(EventNotifier *e, int active);
void event_notifier_cleanup(EventNotifier *e);
int event_notifier_get_fd(const EventNotifier *e);

#endif
