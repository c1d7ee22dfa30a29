/* SPDX-License-Identifier: MIT */
/* One function per client API operation (ABI.md "Client API"). */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "private.h"

#define REQUEST(name) Hyperdmabuf__V1__Request name = HYPERDMABUF__V1__REQUEST__INIT

#define RESULT(CASE) HYPERDMABUF__V1__RESPONSE__RESULT_##CASE
#define ANY_RESULT HYPERDMABUF__V1__RESPONSE__RESULT__NOT_SET

static void copy_str(char *dst, size_t size, const char *src)
{
    size_t n = src != NULL ? strnlen(src, size - 1) : 0;
    memcpy(dst, src != NULL ? src : "", n);
    dst[n] = '\0';
}

static uint32_t roles_of(char **roles, size_t n)
{
    uint32_t bits = 0;
    for (size_t i = 0; i < n; i++) {
        if (roles[i] != NULL && strcmp(roles[i], "sink") == 0) {
            bits |= HDMABUF_ROLE_SINK;
        } else if (roles[i] != NULL && strcmp(roles[i], "source") == 0) {
            bits |= HDMABUF_ROLE_SOURCE;
        }
    }
    return bits;
}

/*
 * Sends req and awaits its answer, which must carry the result want (ANY_RESULT: any; -EPROTO when it
 * does not) and, where fd is not NULL, one fd, taken there. timeout_ms < 0: the connection's. On 0 the
 * connection stays locked with the answer in r until reply_done(); on an error nothing is held.
 */
static int call(hdmabuf_conn *conn, Hyperdmabuf__V1__Request *req, int timeout_ms,
    Hyperdmabuf__V1__Response__ResultCase want, int *fd, struct reply *r)
{
    int e = conn_call(conn, req, timeout_ms, r);
    if (e != 0) {
        return e;
    }
    if (want != ANY_RESULT) {
        /* The oneof's cases are its fields' numbers; every result is a message. */
        const ProtobufCFieldDescriptor *f =
            protobuf_c_message_descriptor_get_field(&hyperdmabuf__v1__response__descriptor, (unsigned)want);
        if (r->resp->result_case != want || *(void **)((char *)r->resp + f->offset) == NULL) {
            conn_set_msg(conn, "the daemon's answer lacks its %s result", f->name);
            e = -EPROTO;
        }
    }
    if (e == 0 && fd != NULL) {
        e = reply_take_fd(conn, r, fd);
    }
    if (e != 0) {
        reply_done(conn, r);
    }
    return e;
}

/*
 * A call whose result outlives it: a zeroed block of size bytes, NULL with *e set on an error, whose
 * frame pointer at frame_at holds the answer decoded again onto the heap.
 */
static void *call_keep(hdmabuf_conn *conn, Hyperdmabuf__V1__Request *req, Hyperdmabuf__V1__Response__ResultCase want,
    size_t size, size_t frame_at, int *fd, int *e)
{
    struct reply r;
    void *block = calloc(1, size);
    Hyperdmabuf__V1__ServerFrame *frame = NULL;
    if (block == NULL) {
        *e = -ENOMEM;
        return NULL;
    }
    if ((*e = call(conn, req, -1, want, fd, &r)) != 0) {
        free(block);
        return NULL;
    }
    if ((frame = reply_keep(&r)) == NULL) {
        *e = -ENOMEM;
        if (fd != NULL) {
            close(*fd);
        }
        free(block);
        block = NULL;
    } else {
        memcpy((char *)block + frame_at, &frame, sizeof(frame));
    }
    reply_done(conn, &r);
    return block;
}

/* A call whose answer carries nothing but OK. */
static int call_empty(hdmabuf_conn *conn, Hyperdmabuf__V1__Request *req)
{
    struct reply r;
    int e = call(conn, req, -1, ANY_RESULT, NULL, &r);
    if (e == 0) {
        reply_done(conn, &r);
    }
    return e;
}

int hdmabuf_query_caps(hdmabuf_conn *conn, struct hdmabuf_caps *caps)
{
    REQUEST(req);
    Hyperdmabuf__V1__QueryCaps q = HYPERDMABUF__V1__QUERY_CAPS__INIT;
    const Hyperdmabuf__V1__Caps *c;
    struct reply r;
    int e;
    req.op_case = HYPERDMABUF__V1__REQUEST__OP_QUERY_CAPS;
    req.query_caps = &q;
    if ((e = call(conn, &req, -1, RESULT(CAPS), NULL, &r)) != 0) {
        return e;
    }
    c = r.resp->caps;
    memset(caps, 0, sizeof(*caps));
    copy_str(caps->backend, sizeof(caps->backend), c->backend);
    caps->local_vm = c->local_vm;
    caps->page_size = c->page_size;
    caps->max_buffer_size = c->max_buffer_size;
    copy_str(caps->read_only_enforcement, sizeof(caps->read_only_enforcement), c->read_only_enforcement);
    copy_str(caps->isolation, sizeof(caps->isolation), c->isolation);
    caps->guest_to_guest = c->guest_to_guest;
    caps->doorbell = c->doorbell;
    caps->max_metadata_bytes = c->max_metadata_bytes;
    caps->max_private_bytes = c->max_private_bytes;
    caps->roles = roles_of(c->roles, c->n_roles);
    caps->pool_bytes = c->pool_bytes;
    caps->pool_free_bytes = c->pool_free_bytes;
    caps->abi_version = c->abi_version;
    copy_str(caps->notification, sizeof(caps->notification), c->notification);
    reply_done(conn, &r);
    return 0;
}

int hdmabuf_query_dmabuf(hdmabuf_conn *conn, char *why, size_t len)
{
    REQUEST(req);
    Hyperdmabuf__V1__QueryCaps q = HYPERDMABUF__V1__QUERY_CAPS__INIT;
    struct reply r;
    int e, available;
    req.op_case = HYPERDMABUF__V1__REQUEST__OP_QUERY_CAPS;
    req.query_caps = &q;
    if ((e = call(conn, &req, -1, RESULT(CAPS), NULL, &r)) != 0) {
        return e;
    }
    available = r.resp->caps->dma_buf ? 1 : 0;
    if (why != NULL && len > 0) {
        copy_str(why, len, r.resp->caps->dma_buf_unavailable);
    }
    reply_done(conn, &r);
    return available;
}

int hdmabuf_query_targets(hdmabuf_conn *conn, struct hdmabuf_target *targets, size_t max)
{
    REQUEST(req);
    Hyperdmabuf__V1__QueryTargets q = HYPERDMABUF__V1__QUERY_TARGETS__INIT;
    const Hyperdmabuf__V1__Targets *t;
    struct reply r;
    size_t n;
    int e;
    req.op_case = HYPERDMABUF__V1__REQUEST__OP_QUERY_TARGETS;
    req.query_targets = &q;
    if ((e = call(conn, &req, -1, RESULT(TARGETS), NULL, &r)) != 0) {
        return e;
    }
    t = r.resp->targets;
    for (size_t i = 0; i < t->n_targets && i < max; i++) {
        const Hyperdmabuf__V1__Target *x = t->targets[i];
        memset(&targets[i], 0, sizeof(targets[i]));
        if (x != NULL) {
            targets[i].vm = x->vm;
            copy_str(targets[i].name, sizeof(targets[i].name), x->name);
            targets[i].roles = roles_of(x->roles, x->n_roles);
        }
    }
    n = t->n_targets;
    reply_done(conn, &r);
    return n > INT32_MAX ? INT32_MAX : (int)n;
}

int hdmabuf_alloc(hdmabuf_conn *conn, uint64_t size, bool declare_target, uint32_t target_vm,
    enum hdmabuf_access access, struct hdmabuf_allocation *out)
{
    REQUEST(req);
    Hyperdmabuf__V1__Alloc a = HYPERDMABUF__V1__ALLOC__INIT;
    const Hyperdmabuf__V1__Allocated *al;
    struct reply r;
    int fd, e;
    a.size = size;
    if (declare_target) {
        a._target_vm_case = HYPERDMABUF__V1__ALLOC___TARGET_VM_TARGET_VM;
        a.target_vm = target_vm;
        a._access_case = HYPERDMABUF__V1__ALLOC___ACCESS_ACCESS;
        a.access = (Hyperdmabuf__V1__Access)access;
    }
    req.op_case = HYPERDMABUF__V1__REQUEST__OP_ALLOC;
    req.alloc = &a;
    if ((e = call(conn, &req, -1, RESULT(ALLOCATED), &fd, &r)) != 0) {
        return e;
    }
    al = r.resp->allocated;
    if ((e = check_fd_range(fd, al->offset, al->length)) != 0) {
        conn_set_msg(conn, "the daemon's allocation [%llu, +%llu) does not fit its fd",
            (unsigned long long)al->offset, (unsigned long long)al->length);
        close(fd);
        reply_done(conn, &r);
        return e;
    }
    memset(out, 0, sizeof(*out));
    out->handle = al->handle;
    out->buffer.fd = fd;
    out->buffer.offset = al->offset;
    out->buffer.length = al->length;
    reply_done(conn, &r);
    return 0;
}

int hdmabuf_export(hdmabuf_conn *conn, uint64_t handle, uint32_t target_vm, const struct hdmabuf_metadata *md,
    enum hdmabuf_access access, struct hdmabuf_exported *out)
{
    REQUEST(req);
    Hyperdmabuf__V1__Export x = HYPERDMABUF__V1__EXPORT__INIT;
    struct md_pb mp;
    struct reply r;
    int e;
    if ((e = md_to_pb(md, &mp)) != 0) {
        return e;
    }
    x.handle = handle;
    x.target_vm = target_vm;
    x.metadata = &mp.md;
    x.access = (Hyperdmabuf__V1__Access)access;
    req.op_case = HYPERDMABUF__V1__REQUEST__OP_EXPORT;
    req.export = &x;
    e = call(conn, &req, -1, RESULT(EXPORTED), NULL, &r);
    md_pb_clear(&mp);
    if (e != 0) {
        return e;
    }
    if (id_from_pb(r.resp->exported->id, &out->id) != 0 ||
        r.resp->exported->fence_offset > UINT64_MAX - HDMABUF_FENCE_SLOT_LENGTH) {
        reply_done(conn, &r);
        return -EPROTO;
    }
    out->reexport = r.resp->exported->reexport;
    out->revision = r.resp->exported->revision;
    out->fence_offset = r.resp->exported->fence_offset;
    reply_done(conn, &r);
    return 0;
}

int hdmabuf_unexport(hdmabuf_conn *conn, const struct hdmabuf_id *id, uint32_t delay_ms)
{
    REQUEST(req);
    Hyperdmabuf__V1__Unexport u = HYPERDMABUF__V1__UNEXPORT__INIT;
    Hyperdmabuf__V1__BufferId pid;
    id_to_pb(id, &pid);
    u.id = &pid;
    u.delay_ms = delay_ms;
    req.op_case = HYPERDMABUF__V1__REQUEST__OP_UNEXPORT;
    req.unexport = &u;
    return call_empty(conn, &req);
}

int hdmabuf_free(hdmabuf_conn *conn, uint64_t handle)
{
    REQUEST(req);
    Hyperdmabuf__V1__Free f = HYPERDMABUF__V1__FREE__INIT;
    f.handle = handle;
    req.op_case = HYPERDMABUF__V1__REQUEST__OP_FREE;
    req.free = &f;
    return call_empty(conn, &req);
}

/* ---- QUERY / LIST: results that keep the decoded message alive ---- */

struct info_block {
    Hyperdmabuf__V1__ServerFrame *frame; /* owns every string the infos point to */
    size_t n;
    struct md_store *stores;
};

static int info_from_pb(const Hyperdmabuf__V1__BufferInfo *pb, struct hdmabuf_buffer_info *out,
    struct md_store *store)
{
    int e;
    memset(out, 0, sizeof(*out));
    if (pb == NULL || id_from_pb(pb->id, &out->id) != 0) {
        return -EPROTO;
    }
    if ((e = md_from_pb(pb->metadata, store, &out->metadata)) != 0) {
        return e;
    }
    out->exporter_vm = pb->exporter_vm;
    out->target_vm = pb->target_vm;
    out->length = pb->length;
    out->access = pb->access == HYPERDMABUF__V1__ACCESS__ACCESS_READ_ONLY ? HDMABUF_ACCESS_READ_ONLY :
        HDMABUF_ACCESS_READ_WRITE;
    out->import_count = pb->import_count;
    out->handle = pb->handle;
    out->state = pb->state != NULL ? pb->state : "";
    return 0;
}

/* A buffer_info (query) is allocated as [info][block]. */
struct query_alloc {
    struct hdmabuf_buffer_info info;
    struct info_block block;
    struct md_store store;
};

int hdmabuf_query(hdmabuf_conn *conn, const struct hdmabuf_id *id, struct hdmabuf_buffer_info **out)
{
    REQUEST(req);
    Hyperdmabuf__V1__Query q = HYPERDMABUF__V1__QUERY__INIT;
    Hyperdmabuf__V1__BufferId pid;
    struct query_alloc *qa;
    int e;
    id_to_pb(id, &pid);
    q.id = &pid;
    req.op_case = HYPERDMABUF__V1__REQUEST__OP_QUERY;
    req.query = &q;
    qa = call_keep(conn, &req, RESULT(BUFFER), sizeof(*qa), offsetof(struct query_alloc, block.frame), NULL, &e);
    if (qa == NULL) {
        return e;
    }
    e = info_from_pb(qa->block.frame->response->buffer, &qa->info, &qa->store);
    if (e != 0) {
        protobuf_c_message_free_unpacked(&qa->block.frame->base, NULL);
        free(qa);
        return e;
    }
    *out = &qa->info;
    return 0;
}

void hdmabuf_buffer_info_free(struct hdmabuf_buffer_info *info)
{
    struct query_alloc *qa = (struct query_alloc *)info;
    if (info == NULL) {
        return;
    }
    md_store_clear(&qa->store);
    protobuf_c_message_free_unpacked(&qa->block.frame->base, NULL);
    free(qa);
}

struct list_alloc {
    struct hdmabuf_buffer_list list;
    struct info_block block;
};

void hdmabuf_buffer_list_free(struct hdmabuf_buffer_list *list)
{
    struct list_alloc *la = (struct list_alloc *)list;
    if (list == NULL) {
        return;
    }
    for (size_t i = 0; la->block.stores != NULL && i < la->block.n; i++) {
        md_store_clear(&la->block.stores[i]);
    }
    free(la->block.stores);
    free(list->buffers);
    free(list->allocations);
    if (la->block.frame != NULL) {
        protobuf_c_message_free_unpacked(&la->block.frame->base, NULL);
    }
    free(la);
}

int hdmabuf_list(hdmabuf_conn *conn, struct hdmabuf_buffer_list **out)
{
    REQUEST(req);
    Hyperdmabuf__V1__List l = HYPERDMABUF__V1__LIST__INIT;
    const Hyperdmabuf__V1__BufferList *bl;
    struct list_alloc *la;
    int e;
    req.op_case = HYPERDMABUF__V1__REQUEST__OP_LIST;
    req.list = &l;
    la = call_keep(conn, &req, RESULT(BUFFERS), sizeof(*la), offsetof(struct list_alloc, block.frame), NULL, &e);
    if (la == NULL) {
        return e;
    }
    bl = la->block.frame->response->buffers;
    la->list.buffers = calloc(bl->n_buffers + 1, sizeof(*la->list.buffers));
    la->block.stores = calloc(bl->n_buffers + 1, sizeof(*la->block.stores));
    la->list.allocations = calloc(bl->n_allocations + 1, sizeof(*la->list.allocations));
    if (la->list.buffers == NULL || la->block.stores == NULL || la->list.allocations == NULL) {
        hdmabuf_buffer_list_free(&la->list);
        return -ENOMEM;
    }
    for (size_t i = 0; i < bl->n_buffers; i++) {
        e = info_from_pb(bl->buffers[i], &la->list.buffers[i], &la->block.stores[i]);
        la->block.n = i + 1;
        if (e != 0) {
            hdmabuf_buffer_list_free(&la->list);
            return e;
        }
    }
    la->list.n_buffers = bl->n_buffers;
    for (size_t i = 0; i < bl->n_allocations; i++) {
        if (bl->allocations[i] != NULL) {
            la->list.allocations[i].handle = bl->allocations[i]->handle;
            la->list.allocations[i].offset = bl->allocations[i]->offset;
            la->list.allocations[i].length = bl->allocations[i]->length;
        }
    }
    la->list.n_allocations = bl->n_allocations;
    *out = &la->list;
    return 0;
}

struct stats_alloc {
    struct hdmabuf_stats stats;
    Hyperdmabuf__V1__ServerFrame *frame;
};

void hdmabuf_stats_free(struct hdmabuf_stats *stats)
{
    struct stats_alloc *sa = (struct stats_alloc *)stats;
    if (stats == NULL) {
        return;
    }
    free(stats->usage);
    if (sa->frame != NULL) {
        protobuf_c_message_free_unpacked(&sa->frame->base, NULL);
    }
    free(sa);
}

int hdmabuf_stats(hdmabuf_conn *conn, struct hdmabuf_stats **out)
{
    REQUEST(req);
    Hyperdmabuf__V1__Stats s = HYPERDMABUF__V1__STATS__INIT;
    const Hyperdmabuf__V1__StatsResult *sr;
    struct stats_alloc *sa;
    int e;
    req.op_case = HYPERDMABUF__V1__REQUEST__OP_STATS;
    req.stats = &s;
    sa = call_keep(conn, &req, RESULT(STATS), sizeof(*sa), offsetof(struct stats_alloc, frame), NULL, &e);
    if (sa == NULL) {
        return e;
    }
    sr = sa->frame->response->stats;
    sa->stats.usage = calloc(sr->n_usage + 1, sizeof(*sa->stats.usage));
    if (sa->stats.usage == NULL) {
        hdmabuf_stats_free(&sa->stats);
        return -ENOMEM;
    }
    for (size_t i = 0; i < sr->n_usage; i++) {
        const Hyperdmabuf__V1__Usage *u = sr->usage[i];
        struct hdmabuf_usage *o = &sa->stats.usage[i];
        o->scope = u != NULL && u->scope != NULL ? u->scope : "";
        if (u != NULL) {
            o->id = u->id;
            o->bytes = u->bytes;
            o->buffers = u->buffers;
            o->max_bytes = u->max_bytes;
            o->max_buffers = u->max_buffers;
        }
    }
    sa->stats.n_usage = sr->n_usage;
    sa->stats.policy = sr->policy != NULL ? sr->policy : "";
    *out = &sa->stats;
    return 0;
}

/* ---- events ---- */

int hdmabuf_subscribe(hdmabuf_conn *conn, const struct hdmabuf_rule *rules, size_t n_rules, bool replay,
    uint64_t *subscription_id)
{
    REQUEST(req);
    Hyperdmabuf__V1__Subscribe s = HYPERDMABUF__V1__SUBSCRIBE__INIT;
    Hyperdmabuf__V1__MatchRule *pr = NULL, **prp = NULL;
    Hyperdmabuf__V1__Match *pm = NULL, **pmp = NULL;
    size_t total = 0, k = 0;
    struct reply r;
    int e = -ENOMEM;

    if (n_rules > 4096 || (n_rules > 0 && rules == NULL)) {
        return -EINVAL; /* the daemon allows 64; this only bounds what we allocate */
    }
    for (size_t i = 0; i < n_rules; i++) {
        if (rules[i].n_matches > 4096 || (rules[i].n_matches > 0 && rules[i].matches == NULL)) {
            return -EINVAL;
        }
        total += rules[i].n_matches;
    }
    pr = calloc(n_rules + 1, sizeof(*pr));
    prp = calloc(n_rules + 1, sizeof(*prp));
    pm = calloc(total + 1, sizeof(*pm));
    pmp = calloc(total + 1, sizeof(*pmp));
    if (pr == NULL || prp == NULL || pm == NULL || pmp == NULL) {
        goto out;
    }
    for (size_t i = 0; i < n_rules; i++) {
        hyperdmabuf__v1__match_rule__init(&pr[i]);
        pr[i].matches = pmp + k;
        pr[i].n_matches = rules[i].n_matches;
        for (size_t j = 0; j < rules[i].n_matches; j++, k++) {
            hyperdmabuf__v1__match__init(&pm[k]);
            pm[k].key = (char *)(rules[i].matches[j].key != NULL ? rules[i].matches[j].key : "");
            pm[k].glob = (char *)(rules[i].matches[j].glob != NULL ? rules[i].matches[j].glob : "");
            pm[k].negate = rules[i].matches[j].negate;
            pmp[k] = &pm[k];
        }
        prp[i] = &pr[i];
    }
    s.n_rules = n_rules;
    s.rules = prp;
    s.replay = replay;
    req.op_case = HYPERDMABUF__V1__REQUEST__OP_SUBSCRIBE;
    req.subscribe = &s;
    e = call(conn, &req, -1, RESULT(SUBSCRIBED), NULL, &r);
    if (e == 0) {
        *subscription_id = r.resp->subscribed->subscription_id;
        reply_done(conn, &r);
    }
out:
    free(pr);
    free(prp);
    free(pm);
    free(pmp);
    return e;
}

int hdmabuf_unsubscribe(hdmabuf_conn *conn, uint64_t subscription_id)
{
    REQUEST(req);
    Hyperdmabuf__V1__Unsubscribe u = HYPERDMABUF__V1__UNSUBSCRIBE__INIT;
    u.subscription_id = subscription_id;
    req.op_case = HYPERDMABUF__V1__REQUEST__OP_UNSUBSCRIBE;
    req.unsubscribe = &u;
    return call_empty(conn, &req);
}

/* ---- source: import ---- */

struct import_alloc {
    struct hdmabuf_import imp;
    struct md_store store;
    Hyperdmabuf__V1__ServerFrame *frame;
};

static int import_as(hdmabuf_conn *conn, const struct hdmabuf_id *id, bool dma_buf, struct hdmabuf_import **out)
{
    REQUEST(req);
    Hyperdmabuf__V1__Import im = HYPERDMABUF__V1__IMPORT__INIT;
    Hyperdmabuf__V1__BufferId pid;
    const Hyperdmabuf__V1__Imported *i;
    struct import_alloc *ia;
    int fd, e;
    id_to_pb(id, &pid);
    im.id = &pid;
    im.dma_buf = dma_buf;
    req.op_case = HYPERDMABUF__V1__REQUEST__OP_IMPORT;
    req.import = &im;
    ia = call_keep(conn, &req, RESULT(IMPORTED), sizeof(*ia), offsetof(struct import_alloc, frame), &fd, &e);
    if (ia == NULL) {
        return e;
    }
    i = ia->frame->response->imported;
    ia->imp.id = *id;
    ia->imp.buffer.fd = fd;
    ia->imp.buffer.offset = i->offset;
    ia->imp.buffer.length = i->length;
    ia->imp.access = i->access == HYPERDMABUF__V1__ACCESS__ACCESS_READ_ONLY ? HDMABUF_ACCESS_READ_ONLY :
        HDMABUF_ACCESS_READ_WRITE;
    ia->imp.buffer.read_only = ia->imp.access == HDMABUF_ACCESS_READ_ONLY;
    ia->imp.fence_offset = i->fence_offset;
    ia->imp.dma_buf = i->dma_buf;
    e = i->fence_offset > UINT64_MAX - HDMABUF_FENCE_SLOT_LENGTH ? -EPROTO : 0;
    if (e == 0 && i->dma_buf != dma_buf) {
        e = -EPROTO; /* a dma-buf answer we did not ask for, or none we did */
    }
    if (e == 0) {
        e = md_from_pb(i->metadata, &ia->store, &ia->imp.metadata);
    }
    if (e == 0 && (e = check_fd_range(fd, i->offset, i->length)) != 0) {
        e = -EPROTO;
    }
    if (e == 0) {
        e = hdmabuf_map(&ia->imp.buffer);
    }
    if (e != 0) {
        pthread_mutex_lock(&conn->lock);
        conn_set_msg(conn, "cannot use the import: %s", hdmabuf_strerror(e));
        pthread_mutex_unlock(&conn->lock);
        hdmabuf_import_free(&ia->imp);
        return e;
    }
    *out = &ia->imp;
    return 0;
}

int hdmabuf_import(hdmabuf_conn *conn, const struct hdmabuf_id *id, struct hdmabuf_import **out)
{
    return import_as(conn, id, false, out);
}

int hdmabuf_import_dmabuf(hdmabuf_conn *conn, const struct hdmabuf_id *id, struct hdmabuf_import **out)
{
    return import_as(conn, id, true, out);
}

void hdmabuf_import_free(struct hdmabuf_import *imp)
{
    struct import_alloc *ia = (struct import_alloc *)imp;
    if (imp == NULL) {
        return;
    }
    hdmabuf_unmap(&imp->buffer);
    md_store_clear(&ia->store);
    if (ia->frame != NULL) {
        protobuf_c_message_free_unpacked(&ia->frame->base, NULL);
    }
    free(ia);
}

int hdmabuf_release(hdmabuf_conn *conn, const struct hdmabuf_id *id)
{
    REQUEST(req);
    Hyperdmabuf__V1__Release rl = HYPERDMABUF__V1__RELEASE__INIT;
    Hyperdmabuf__V1__BufferId pid;
    id_to_pb(id, &pid);
    rl.id = &pid;
    req.op_case = HYPERDMABUF__V1__REQUEST__OP_RELEASE;
    req.release = &rl;
    return call_empty(conn, &req);
}

/* ---- fences through the daemon ---- */

int hdmabuf_request_fence_signal(hdmabuf_conn *conn, const struct hdmabuf_id *id, enum hdmabuf_timeline timeline,
    uint64_t value, uint32_t error)
{
    REQUEST(req);
    Hyperdmabuf__V1__FenceSignal s = HYPERDMABUF__V1__FENCE_SIGNAL__INIT;
    Hyperdmabuf__V1__BufferId pid;
    id_to_pb(id, &pid);
    s.id = &pid;
    s.timeline = (Hyperdmabuf__V1__Timeline)timeline;
    s.value = value;
    s.error = error;
    req.op_case = HYPERDMABUF__V1__REQUEST__OP_FENCE_SIGNAL;
    req.fence_signal = &s;
    return call_empty(conn, &req);
}

int hdmabuf_request_fence_wait(hdmabuf_conn *conn, const struct hdmabuf_id *id, enum hdmabuf_timeline timeline,
    uint64_t value, uint32_t timeout_ms, uint64_t *value_out, uint32_t *error_out)
{
    REQUEST(req);
    Hyperdmabuf__V1__FenceWait w = HYPERDMABUF__V1__FENCE_WAIT__INIT;
    Hyperdmabuf__V1__BufferId pid;
    struct reply r;
    int call_timeout, e;
    id_to_pb(id, &pid);
    w.id = &pid;
    w.timeline = (Hyperdmabuf__V1__Timeline)timeline;
    w.value = value;
    w.timeout_ms = timeout_ms > INT32_MAX ? INT32_MAX : timeout_ms;
    req.op_case = HYPERDMABUF__V1__REQUEST__OP_FENCE_WAIT;
    req.fence_wait = &w;
    /* The daemon answers after the wait: give the call the wait plus the usual timeout. */
    pthread_mutex_lock(&conn->lock);
    call_timeout = conn->timeout_ms < 0 ? -1 :
        (int)((int64_t)w.timeout_ms + conn->timeout_ms > INT32_MAX ? INT32_MAX : w.timeout_ms + conn->timeout_ms);
    pthread_mutex_unlock(&conn->lock);
    if ((e = call(conn, &req, call_timeout, RESULT(FENCE), NULL, &r)) != 0) {
        return e;
    }
    if (value_out != NULL) {
        *value_out = r.resp->fence->value;
    }
    if (error_out != NULL) {
        *error_out = r.resp->fence->error;
    }
    reply_done(conn, &r);
    return 0;
}

int hdmabuf_request_fence_doorbell(hdmabuf_conn *conn, const struct hdmabuf_id *id, uint32_t vector, int *fd)
{
    REQUEST(req);
    Hyperdmabuf__V1__FenceDoorbell d = HYPERDMABUF__V1__FENCE_DOORBELL__INIT;
    Hyperdmabuf__V1__BufferId pid;
    struct reply r;
    int e;
    id_to_pb(id, &pid);
    d.id = &pid;
    d.vector = vector;
    req.op_case = HYPERDMABUF__V1__REQUEST__OP_FENCE_DOORBELL;
    req.fence_doorbell = &d;
    if ((e = call(conn, &req, -1, ANY_RESULT, fd, &r)) == 0) {
        reply_done(conn, &r);
    }
    return e;
}

int hdmabuf_request_fence_wake(hdmabuf_conn *conn, const struct hdmabuf_id *id, int *fd, uint32_t *vector,
    bool *bit_held_by_daemon)
{
    REQUEST(req);
    Hyperdmabuf__V1__FenceWake w = HYPERDMABUF__V1__FENCE_WAKE__INIT;
    Hyperdmabuf__V1__BufferId pid;
    struct reply r;
    int e;
    id_to_pb(id, &pid);
    w.id = &pid;
    req.op_case = HYPERDMABUF__V1__REQUEST__OP_FENCE_WAKE;
    req.fence_wake = &w;
    if ((e = call(conn, &req, -1, RESULT(WAKE_LEASE), fd, &r)) != 0) {
        return e;
    }
    *vector = r.resp->wake_lease->vector;
    *bit_held_by_daemon = r.resp->wake_lease->bit_held_by_daemon;
    reply_done(conn, &r);
    return 0;
}
