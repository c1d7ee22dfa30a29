/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness: the uevent record of an Event (ABI.md "Record details"), as the
 * library splits it into action, devpath and properties. Input: the record bytes.
 */
#include <stdint.h>
#include <string.h>

#include "private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Hyperdmabuf__V1__Event pb = HYPERDMABUF__V1__EVENT__INIT;
    struct hdmabuf_event *ev;
    size_t total = 0;
    pb.uevent.data = (uint8_t *)data;
    pb.uevent.len = size;
    pb.overflow_dropped = size > 0 && data[0] == 'O'; /* a marker that also carries a record */
    if (event_from_pb(&pb, &ev) != 0) {
        return 0;
    }
    total += strlen(ev->action) + strlen(ev->devpath);
    for (size_t i = 0; i < ev->n_properties; i++) {
        total += strlen(ev->keys[i]) + strlen(ev->values[i]);
        if (hdmabuf_event_get(ev, ev->keys[i]) == NULL) {
            __builtin_trap(); /* a key the record holds must be found */
        }
    }
    if (total > 2 * size + 2) {
        __builtin_trap();
    }
    hdmabuf_event_free(ev);
    return 0;
}
