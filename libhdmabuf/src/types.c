/* SPDX-License-Identifier: MIT */
/* Ids, error names, metadata conversion and mappings. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "private.h"

const char *hdmabuf_strerror(int code)
{
    const char *s;
    if (code < 0) {
        code = -code;
    }
    switch (code) {
    case 0: return "OK";
    case EPERM: return "EPERM: operation not permitted";
    case ENOENT: return "ENOENT: no such buffer, handle, import or subscription";
    case ESRCH: return "ESRCH: no such process";
    case EINTR: return "EINTR: interrupted system call";
    case EIO: return "EIO: the daemon or its hypervisor backend failed";
    case ENXIO: return "ENXIO: no such device or address";
    case E2BIG: return "E2BIG: argument list too long";
    case EBADF: return "EBADF: bad file descriptor";
    case EAGAIN: return "EAGAIN: temporarily out of room, retry";
    case ENOMEM: return "ENOMEM: out of memory";
    case EACCES: return "EACCES: denied by policy";
    case EFAULT: return "EFAULT: bad address";
    case EBUSY: return "EBUSY: every wake vector is leased, or this one already is";
    case EEXIST: return "EEXIST: already exists";
    case ENODEV: return "ENODEV: no such device (the backend's device is missing)";
    case EINVAL: return "EINVAL: invalid or out-of-range input";
    case ENFILE: return "ENFILE: too many open files in the system";
    case EMFILE: return "EMFILE: too many open files";
    case ENOTTY: return "ENOTTY: inappropriate ioctl for the device";
    case ENOSPC: return "ENOSPC: no room in the pool, fence table or subscription limits";
    case EROFS: return "EROFS: read-only file system";
    case EPIPE: return "EPIPE: broken pipe";
    case ENOSYS: return "ENOSYS: function not implemented";
    case EPROTO: return "EPROTO: the daemon broke the protocol";
    case EBADMSG: return "EBADMSG: a frame did not parse as a Request";
    case EOVERFLOW: return "EOVERFLOW: value too large for its type";
    case ENOTSOCK: return "ENOTSOCK: not a socket";
    case EMSGSIZE: return "EMSGSIZE: message too large";
    case ENOTSUP: return "ENOTSUP: not supported by this daemon or backend";
    case EADDRINUSE: return "EADDRINUSE: address already in use";
    case ECONNRESET: return "ECONNRESET: connection reset by peer";
    case ENOTCONN: return "ENOTCONN: not connected";
    case ETIMEDOUT: return "ETIMEDOUT: timed out";
    case ECONNREFUSED: return "ECONNREFUSED: connection refused";
    case EDQUOT: return "EDQUOT: a policy quota would be exceeded";
    case HDMABUF_EPEERLOST: return "EPEERLOST: the peer VM or its daemon is gone";
    case HDMABUF_ENOPEER: return "ENOPEER: the target VM is not reachable";
    default:
        s = strerrordesc_np(code);
        return s != NULL ? s : "unknown error";
    }
}

char *hdmabuf_id_format(const struct hdmabuf_id *id, char buf[HDMABUF_ID_STRLEN])
{
    snprintf(buf, HDMABUF_ID_STRLEN, "%08" PRIx32 "-%08" PRIx32 "-%016" PRIx64, id->exporter_vm, id->export_number,
        id->nonce);
    return buf;
}

static int parse_hex(const char *s, size_t digits, uint64_t *out)
{
    uint64_t v = 0;
    for (size_t i = 0; i < digits; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
            c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) {
            return -EINVAL;
        }
        v = v << 4 | (uint64_t)d;
    }
    *out = v;
    return 0;
}

int hdmabuf_id_parse(const char *text, struct hdmabuf_id *id)
{
    uint64_t e, n, r;
    if (text == NULL || strlen(text) != HDMABUF_ID_STRLEN - 1 || text[8] != '-' || text[17] != '-' ||
        parse_hex(text, 8, &e) || parse_hex(text + 9, 8, &n) || parse_hex(text + 18, 16, &r)) {
        return -EINVAL;
    }
    id->exporter_vm = (uint32_t)e;
    id->export_number = (uint32_t)n;
    id->nonce = r;
    return 0;
}

void id_to_pb(const struct hdmabuf_id *id, Hyperdmabuf__V1__BufferId *pb)
{
    hyperdmabuf__v1__buffer_id__init(pb);
    pb->exporter_vm = id->exporter_vm;
    pb->export_number = id->export_number;
    pb->nonce = id->nonce;
}

int id_from_pb(const Hyperdmabuf__V1__BufferId *pb, struct hdmabuf_id *id)
{
    if (pb == NULL) {
        return -EPROTO;
    }
    id->exporter_vm = pb->exporter_vm;
    id->export_number = pb->export_number;
    id->nonce = pb->nonce;
    return 0;
}

static const char *str_or_empty(const char *s)
{
    return s != NULL ? s : "";
}

int md_from_pb(const Hyperdmabuf__V1__Metadata *pb, struct md_store *store, struct hdmabuf_metadata *out)
{
    memset(store, 0, sizeof(*store));
    memset(out, 0, sizeof(*out));
    out->content_type = "";
    if (pb == NULL) {
        return 0; /* no metadata */
    }
    out->version = pb->version;
    out->content_type = str_or_empty(pb->content_type);
    out->size = pb->size;
    if (pb->n_tags > 0) {
        store->tags = calloc(pb->n_tags, sizeof(*store->tags));
        if (store->tags == NULL) {
            return -ENOMEM;
        }
        for (size_t i = 0; i < pb->n_tags; i++) {
            const Hyperdmabuf__V1__Metadata__TagsEntry *e = pb->tags[i];
            store->tags[i].key = e != NULL ? str_or_empty(e->key) : "";
            store->tags[i].value = e != NULL ? str_or_empty(e->value) : "";
        }
        out->n_tags = pb->n_tags;
        out->tags = store->tags;
    }
    if (pb->private_data.len > 0 && pb->private_data.data != NULL) {
        out->private_data = pb->private_data.data;
        out->private_size = pb->private_data.len;
    }
    if (pb->image != NULL) {
        const Hyperdmabuf__V1__ImageInfo *im = pb->image;
        if (im->n_planes > HDMABUF_MAX_PLANES) {
            md_store_clear(store);
            return -EPROTO;
        }
        store->image.width = im->width;
        store->image.height = im->height;
        store->image.fourcc = im->fourcc;
        store->image.modifier = im->modifier;
        store->image.n_planes = (uint32_t)im->n_planes;
        for (size_t i = 0; i < im->n_planes; i++) {
            if (im->planes[i] != NULL) {
                store->image.planes[i].offset = im->planes[i]->offset;
                store->image.planes[i].stride = im->planes[i]->stride;
            }
        }
        out->image = &store->image;
    }
    if (pb->audio != NULL) {
        store->audio.rate = pb->audio->rate;
        store->audio.channels = pb->audio->channels;
        store->audio.sample_format = str_or_empty(pb->audio->sample_format);
        store->audio.frames = pb->audio->frames;
        out->audio = &store->audio;
    }
    return 0;
}

void md_store_clear(struct md_store *store)
{
    free(store->tags);
    store->tags = NULL;
}

int md_to_pb(const struct hdmabuf_metadata *in, struct md_pb *p)
{
    memset(p, 0, sizeof(*p));
    hyperdmabuf__v1__metadata__init(&p->md);
    if (in == NULL) {
        return 0;
    }
    p->md.version = in->version;
    p->md.content_type = (char *)str_or_empty(in->content_type);
    p->md.size = in->size;
    if (in->n_tags > 0) {
        if (in->tags == NULL || in->n_tags > CLIENT_MAX_FRAME) {
            return -EINVAL;
        }
        p->entries = calloc(in->n_tags, sizeof(*p->entries));
        p->entry_ptrs = calloc(in->n_tags, sizeof(*p->entry_ptrs));
        if (p->entries == NULL || p->entry_ptrs == NULL) {
            md_pb_clear(p);
            return -ENOMEM;
        }
        for (size_t i = 0; i < in->n_tags; i++) {
            hyperdmabuf__v1__metadata__tags_entry__init(&p->entries[i]);
            p->entries[i].key = (char *)str_or_empty(in->tags[i].key);
            p->entries[i].value = (char *)str_or_empty(in->tags[i].value);
            p->entry_ptrs[i] = &p->entries[i];
        }
        p->md.n_tags = in->n_tags;
        p->md.tags = p->entry_ptrs;
    }
    if (in->private_size > 0) {
        if (in->private_data == NULL) {
            md_pb_clear(p);
            return -EINVAL;
        }
        p->md.private_data.data = (uint8_t *)in->private_data;
        p->md.private_data.len = in->private_size;
    }
    if (in->image != NULL) {
        if (in->image->n_planes > HDMABUF_MAX_PLANES) {
            md_pb_clear(p);
            return -EINVAL;
        }
        hyperdmabuf__v1__image_info__init(&p->image);
        p->image.width = in->image->width;
        p->image.height = in->image->height;
        p->image.fourcc = in->image->fourcc;
        p->image.modifier = in->image->modifier;
        for (uint32_t i = 0; i < in->image->n_planes; i++) {
            hyperdmabuf__v1__plane__init(&p->planes[i]);
            p->planes[i].offset = in->image->planes[i].offset;
            p->planes[i].stride = in->image->planes[i].stride;
            p->plane_ptrs[i] = &p->planes[i];
        }
        p->image.n_planes = in->image->n_planes;
        p->image.planes = p->plane_ptrs;
        p->md.image = &p->image;
    }
    if (in->audio != NULL) {
        hyperdmabuf__v1__audio_info__init(&p->audio);
        p->audio.rate = in->audio->rate;
        p->audio.channels = in->audio->channels;
        p->audio.sample_format = (char *)str_or_empty(in->audio->sample_format);
        p->audio.frames = in->audio->frames;
        p->md.audio = &p->audio;
    }
    return 0;
}

void md_pb_clear(struct md_pb *p)
{
    free(p->entries);
    free(p->entry_ptrs);
    p->entries = NULL;
    p->entry_ptrs = NULL;
}

const char *hdmabuf_metadata_tag(const struct hdmabuf_metadata *md, const char *key)
{
    for (size_t i = 0; md != NULL && i < md->n_tags; i++) {
        if (md->tags[i].key != NULL && strcmp(md->tags[i].key, key) == 0) {
            return md->tags[i].value;
        }
    }
    return NULL;
}

int hdmabuf_map(struct hdmabuf_mapping *m)
{
    void *p;
    int r;
    if (m->data != NULL) {
        return 0;
    }
    if (m->fd < 0) {
        return -EBADF;
    }
    r = check_fd_range(m->fd, m->offset, m->length);
    if (r < 0) {
        return r == -EPROTO ? -EINVAL : r;
    }
    p = mmap(NULL, (size_t)m->length, PROT_READ | (m->read_only ? 0 : PROT_WRITE), MAP_SHARED, m->fd,
        (off_t)m->offset);
    if (p == MAP_FAILED) {
        return -errno;
    }
    m->data = p;
    return 0;
}

void hdmabuf_unmap(struct hdmabuf_mapping *m)
{
    if (m->data != NULL) {
        munmap(m->data, (size_t)m->length);
        m->data = NULL;
    }
    if (m->fd >= 0) {
        close(m->fd);
        m->fd = -1;
    }
}
