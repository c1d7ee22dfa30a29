/*
 * Prints every ioctl number, struct size and field offset the Java Xen descriptors use, as
 * "Class.FIELD=value" lines, from the kernel's uapi headers (linux-libc-dev: /usr/include/xen).
 * gntdev.h and evtchn.h use grant_ref_t/domid_t without defining them.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/ioctl.h>

typedef uint32_t grant_ref_t;
typedef uint16_t domid_t;

#include <xen/gntalloc.h>
#include <xen/gntdev.h>
#include <xen/evtchn.h>

#define P(cls, name, value) printf("%s.%s=%lu\n", #cls, #name, (unsigned long)(value))

int main(void)
{
    P(GntallocDescriptor, ALLOC_DOMID_OFFSET, offsetof(struct ioctl_gntalloc_alloc_gref, domid));
    P(GntallocDescriptor, ALLOC_FLAGS_OFFSET, offsetof(struct ioctl_gntalloc_alloc_gref, flags));
    P(GntallocDescriptor, ALLOC_COUNT_OFFSET, offsetof(struct ioctl_gntalloc_alloc_gref, count));
    P(GntallocDescriptor, ALLOC_INDEX_OFFSET, offsetof(struct ioctl_gntalloc_alloc_gref, index));
    P(GntallocDescriptor, ALLOC_GREF_IDS_OFFSET, offsetof(struct ioctl_gntalloc_alloc_gref, gref_ids));
    P(GntallocDescriptor, ALLOC_LENGTH, sizeof(struct ioctl_gntalloc_alloc_gref));
    P(GntallocDescriptor, FLAG_WRITABLE, GNTALLOC_FLAG_WRITABLE);
    P(GntallocDescriptor, DEALLOC_INDEX_OFFSET, offsetof(struct ioctl_gntalloc_dealloc_gref, index));
    P(GntallocDescriptor, DEALLOC_COUNT_OFFSET, offsetof(struct ioctl_gntalloc_dealloc_gref, count));
    P(GntallocDescriptor, DEALLOC_LENGTH, sizeof(struct ioctl_gntalloc_dealloc_gref));
    P(GntallocDescriptor, NOTIFY_INDEX_OFFSET, offsetof(struct ioctl_gntalloc_unmap_notify, index));
    P(GntallocDescriptor, NOTIFY_ACTION_OFFSET, offsetof(struct ioctl_gntalloc_unmap_notify, action));
    P(GntallocDescriptor, NOTIFY_PORT_OFFSET, offsetof(struct ioctl_gntalloc_unmap_notify, event_channel_port));
    P(GntallocDescriptor, NOTIFY_LENGTH, sizeof(struct ioctl_gntalloc_unmap_notify));
    P(GntallocDescriptor, UNMAP_NOTIFY_CLEAR_BYTE, UNMAP_NOTIFY_CLEAR_BYTE);
    P(GntallocDescriptor, UNMAP_NOTIFY_SEND_EVENT, UNMAP_NOTIFY_SEND_EVENT);
    P(GntallocDescriptor, IOCTL_ALLOC_GREF, IOCTL_GNTALLOC_ALLOC_GREF);
    P(GntallocDescriptor, IOCTL_DEALLOC_GREF, IOCTL_GNTALLOC_DEALLOC_GREF);
    P(GntallocDescriptor, IOCTL_SET_UNMAP_NOTIFY, IOCTL_GNTALLOC_SET_UNMAP_NOTIFY);

    P(GntdevDescriptor, GRANT_REF_DOMID_OFFSET, offsetof(struct ioctl_gntdev_grant_ref, domid));
    P(GntdevDescriptor, GRANT_REF_REF_OFFSET, offsetof(struct ioctl_gntdev_grant_ref, ref));
    P(GntdevDescriptor, GRANT_REF_LENGTH, sizeof(struct ioctl_gntdev_grant_ref));
    P(GntdevDescriptor, MAP_COUNT_OFFSET, offsetof(struct ioctl_gntdev_map_grant_ref, count));
    P(GntdevDescriptor, MAP_INDEX_OFFSET, offsetof(struct ioctl_gntdev_map_grant_ref, index));
    P(GntdevDescriptor, MAP_REFS_OFFSET, offsetof(struct ioctl_gntdev_map_grant_ref, refs));
    P(GntdevDescriptor, MAP_LENGTH, sizeof(struct ioctl_gntdev_map_grant_ref));
    P(GntdevDescriptor, UNMAP_INDEX_OFFSET, offsetof(struct ioctl_gntdev_unmap_grant_ref, index));
    P(GntdevDescriptor, UNMAP_COUNT_OFFSET, offsetof(struct ioctl_gntdev_unmap_grant_ref, count));
    P(GntdevDescriptor, UNMAP_LENGTH, sizeof(struct ioctl_gntdev_unmap_grant_ref));
    P(GntdevDescriptor, VADDR_VADDR_OFFSET, offsetof(struct ioctl_gntdev_get_offset_for_vaddr, vaddr));
    P(GntdevDescriptor, VADDR_OFFSET_OFFSET, offsetof(struct ioctl_gntdev_get_offset_for_vaddr, offset));
    P(GntdevDescriptor, VADDR_COUNT_OFFSET, offsetof(struct ioctl_gntdev_get_offset_for_vaddr, count));
    P(GntdevDescriptor, VADDR_LENGTH, sizeof(struct ioctl_gntdev_get_offset_for_vaddr));
    P(GntdevDescriptor, NOTIFY_INDEX_OFFSET, offsetof(struct ioctl_gntdev_unmap_notify, index));
    P(GntdevDescriptor, NOTIFY_ACTION_OFFSET, offsetof(struct ioctl_gntdev_unmap_notify, action));
    P(GntdevDescriptor, NOTIFY_PORT_OFFSET, offsetof(struct ioctl_gntdev_unmap_notify, event_channel_port));
    P(GntdevDescriptor, NOTIFY_LENGTH, sizeof(struct ioctl_gntdev_unmap_notify));
    P(GntdevDescriptor, IOCTL_MAP_GRANT_REF, IOCTL_GNTDEV_MAP_GRANT_REF);
    P(GntdevDescriptor, IOCTL_UNMAP_GRANT_REF, IOCTL_GNTDEV_UNMAP_GRANT_REF);
    P(GntdevDescriptor, IOCTL_GET_OFFSET_FOR_VADDR, IOCTL_GNTDEV_GET_OFFSET_FOR_VADDR);
    P(GntdevDescriptor, IOCTL_SET_UNMAP_NOTIFY, IOCTL_GNTDEV_SET_UNMAP_NOTIFY);

    P(EvtchnDescriptor, BIND_INTERDOMAIN_REMOTE_DOMAIN_OFFSET,
      offsetof(struct ioctl_evtchn_bind_interdomain, remote_domain));
    P(EvtchnDescriptor, BIND_INTERDOMAIN_REMOTE_PORT_OFFSET,
      offsetof(struct ioctl_evtchn_bind_interdomain, remote_port));
    P(EvtchnDescriptor, BIND_INTERDOMAIN_LENGTH, sizeof(struct ioctl_evtchn_bind_interdomain));
    P(EvtchnDescriptor, BIND_UNBOUND_LENGTH, sizeof(struct ioctl_evtchn_bind_unbound_port));
    P(EvtchnDescriptor, UNBIND_LENGTH, sizeof(struct ioctl_evtchn_unbind));
    P(EvtchnDescriptor, NOTIFY_LENGTH, sizeof(struct ioctl_evtchn_notify));
    P(EvtchnDescriptor, PORT_LENGTH, sizeof(unsigned int));
    P(EvtchnDescriptor, IOCTL_BIND_INTERDOMAIN, IOCTL_EVTCHN_BIND_INTERDOMAIN);
    P(EvtchnDescriptor, IOCTL_BIND_UNBOUND_PORT, IOCTL_EVTCHN_BIND_UNBOUND_PORT);
    P(EvtchnDescriptor, IOCTL_UNBIND, IOCTL_EVTCHN_UNBIND);
    P(EvtchnDescriptor, IOCTL_NOTIFY, IOCTL_EVTCHN_NOTIFY);
    P(EvtchnDescriptor, IOCTL_RESET, IOCTL_EVTCHN_RESET);
    return 0;
}
