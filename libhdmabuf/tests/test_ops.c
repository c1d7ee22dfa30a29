/* SPDX-License-Identifier: MIT */
/* Every client operation against real daemons, and every error code a client can provoke
 * without a policy file. */
#include "check.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static uint32_t sink_vm, source_vm;

static void test_local(void)
{
    struct hdmabuf_id id = { 0x2, 0xabcdef01, UINT64_C(0x0123456789abcdef) }, back;
    char text[HDMABUF_ID_STRLEN], path[256];
    hdmabuf_conn *c;

    CHECK(strcmp(hdmabuf_id_format(&id, text), "00000002-abcdef01-0123456789abcdef") == 0);
    CHECK_RC(hdmabuf_id_parse(text, &back), 0);
    CHECK(back.exporter_vm == id.exporter_vm && back.export_number == id.export_number && back.nonce == id.nonce);
    CHECK_RC(hdmabuf_id_parse("00000002-abcdef01-0123456789abcdeg", &back), -EINVAL);
    CHECK_RC(hdmabuf_id_parse("2-1-1", &back), -EINVAL);

    CHECK(hdmabuf_socket_path("sink", path, sizeof(path)) > 0);
    CHECK(strcmp(path + strlen(path) - 10, "/sink.sock") == 0 && strncmp(path, getenv("HDMABUF_RUNTIME_DIR"),
        strlen(getenv("HDMABUF_RUNTIME_DIR"))) == 0);
    CHECK_RC(hdmabuf_socket_path("nope", path, sizeof(path)), -EINVAL);
    CHECK_RC(hdmabuf_socket_path("source", path, 8), -ENAMETOOLONG);
    CHECK_RC(hdmabuf_connect("/nonexistent/hdmabuf.sock", &c), -ENOENT);

    CHECK(strstr(hdmabuf_strerror(-HDMABUF_EPEERLOST), "EPEERLOST") != NULL);
    CHECK(strstr(hdmabuf_strerror(HDMABUF_ENOPEER), "ENOPEER") != NULL);
    CHECK(strstr(hdmabuf_strerror(-ETIMEDOUT), "ETIMEDOUT") != NULL);
    CHECK(strcmp(hdmabuf_strerror(0), "OK") == 0);
    CHECK(hdmabuf_strerror(-ECONNREFUSED)[0] != '\0');
    CHECK(hdmabuf_strerror(-123456)[0] != '\0');
}

static void test_caps_targets(hdmabuf_conn *sink, hdmabuf_conn *source)
{
    struct hdmabuf_caps caps;
    struct hdmabuf_target targets[8];
    int n;

    REQUIRE_OK(hdmabuf_query_caps(sink, &caps));
    CHECK(caps.local_vm == sink_vm && caps.roles == HDMABUF_ROLE_SINK && caps.abi_version == 1);
    CHECK(strcmp(caps.backend, "kvm-ivshmem") == 0 && caps.page_size >= 4096 && caps.pool_bytes > 0);
    CHECK(caps.max_metadata_bytes == 8192 && caps.max_private_bytes == 4096);
    CHECK(strcmp(caps.isolation, "shared-region") == 0 && strcmp(caps.notification, "eventfd") == 0);
    REQUIRE_OK(hdmabuf_query_caps(source, &caps));
    CHECK(caps.local_vm == source_vm && caps.roles == HDMABUF_ROLE_SOURCE);

    n = hdmabuf_query_targets(sink, targets, 8);
    CHECK(n == 1);
    CHECK(n >= 1 && targets[0].vm == source_vm && (targets[0].roles & HDMABUF_ROLE_SOURCE));
    CHECK(hdmabuf_query_targets(sink, targets, 0) == 1); /* counts without writing */
}

/*
 * IMPORT with dma_buf (ABI.md "Dma-buf imports"): where the daemon cannot make one (no /dev/udmabuf),
 * the reason names it and the import is refused with -ENOTSUP; where it can, the fd is a udmabuf
 * dma-buf of exactly the buffer sharing the producer's pages.
 */
static void test_dmabuf_import(hdmabuf_conn *source, const struct hdmabuf_id *id, const struct hdmabuf_allocation *a)
{
    char why[256];
    struct hdmabuf_import *dimp = NULL;
    int available = hdmabuf_query_dmabuf(source, why, sizeof(why));
    CHECK(available == 0 || available == 1);
    if (available == 0) {
        CHECK(access("/dev/udmabuf", F_OK) != 0 ? strstr(why, "/dev/udmabuf") != NULL : why[0] != '\0');
        CHECK_RC(hdmabuf_import_dmabuf(source, id, &dimp), -ENOTSUP);
        return;
    }
    if ((available = hdmabuf_import_dmabuf(source, id, &dimp)) != 0) {
        hdmabuf_error_message(source, why, sizeof(why));
        fprintf(stderr, "hdmabuf_import_dmabuf: %d: %s\n", available, why);
    }
    REQUIRE_OK(available);
    CHECK(dimp->dma_buf && dimp->buffer.offset == 0 && dimp->buffer.length == a->buffer.length);
    CHECK(lseek(dimp->buffer.fd, 0, SEEK_END) == (off_t)a->buffer.length);
    CHECK(memcmp(dimp->buffer.data, a->buffer.data, (size_t)a->buffer.length) == 0);
    ((unsigned char *)a->buffer.data)[9] = 0xa5;
    CHECK(((unsigned char *)dimp->buffer.data)[9] == 0xa5);
    hdmabuf_import_free(dimp);
    REQUIRE_OK(hdmabuf_release(source, id));
}

static void test_buffer_lifecycle(hdmabuf_conn *sink, hdmabuf_conn *source)
{
    static const unsigned char priv[] = { 1, 2, 3, 0, 255 };
    const struct hdmabuf_tag tags[] = { { "camera.name", "front left" }, { "lane", "3" } };
    const struct hdmabuf_image image = { 64, 32, 0x34325241, 0, 1, { { 0, 256 } } };
    const struct hdmabuf_audio audio = { 48000, 2, "S16_LE", 480 };
    struct hdmabuf_metadata md = { 1, "video/raw", 8192, 2, tags, priv, sizeof(priv), &image, &audio };
    struct hdmabuf_allocation a;
    struct hdmabuf_exported x, x2;
    struct hdmabuf_buffer_info *info;
    struct hdmabuf_buffer_list *list;
    struct hdmabuf_stats *stats;
    struct hdmabuf_import *imp;
    char msg[256];

    REQUIRE_OK(hdmabuf_alloc(sink, 10000, false, 0, HDMABUF_ACCESS_READ_WRITE, &a));
    CHECK(a.buffer.length >= 10000 && a.buffer.length % 4096 == 0 && a.buffer.fd >= 0 && !a.buffer.read_only);
    REQUIRE_OK(hdmabuf_map(&a.buffer));
    REQUIRE_OK(hdmabuf_map(&a.buffer)); /* idempotent */
    for (uint64_t i = 0; i < a.buffer.length; i++) {
        ((unsigned char *)a.buffer.data)[i] = (unsigned char)(i * 7 + 1);
    }

    REQUIRE_OK(hdmabuf_list(sink, &list));
    CHECK(list->n_allocations == 1 && list->allocations[0].handle == a.handle && list->n_buffers == 0);
    hdmabuf_buffer_list_free(list);

    REQUIRE_OK(hdmabuf_export(sink, a.handle, source_vm, &md, HDMABUF_ACCESS_READ_WRITE, &x));
    CHECK(x.id.exporter_vm == sink_vm && !x.reexport && x.fence_offset > 0);

    await_known(source, &x.id);
    /* The sink describes its export to its owner. */
    REQUIRE_OK(hdmabuf_query(sink, &x.id, &info));
    CHECK(info->handle == a.handle && info->target_vm == source_vm && strcmp(info->state, "exported") == 0);
    hdmabuf_buffer_info_free(info);

    /* The source knows it with every metadata field intact. */
    REQUIRE_OK(hdmabuf_query(source, &x.id, &info));
    CHECK(info->exporter_vm == sink_vm && info->length == a.buffer.length && info->access == HDMABUF_ACCESS_READ_WRITE);
    CHECK(strcmp(info->metadata.content_type, "video/raw") == 0 && info->metadata.size == 8192);
    CHECK(info->metadata.n_tags == 2 && strcmp(hdmabuf_metadata_tag(&info->metadata, "camera.name"), "front left") == 0);
    CHECK(hdmabuf_metadata_tag(&info->metadata, "absent") == NULL);
    CHECK(info->metadata.private_size == sizeof(priv) && memcmp(info->metadata.private_data, priv, sizeof(priv)) == 0);
    CHECK(info->metadata.image != NULL && info->metadata.image->width == 64 && info->metadata.image->n_planes == 1 &&
        info->metadata.image->planes[0].stride == 256 && info->metadata.image->fourcc == 0x34325241);
    CHECK(info->metadata.audio != NULL && info->metadata.audio->rate == 48000 &&
        strcmp(info->metadata.audio->sample_format, "S16_LE") == 0 && info->metadata.audio->frames == 480);
    CHECK(strcmp(info->state, "exported") == 0);
    hdmabuf_buffer_info_free(info);

    REQUIRE_OK(hdmabuf_list(source, &list));
    CHECK(list->n_buffers == 1 && list->buffers[0].id.nonce == x.id.nonce);
    hdmabuf_buffer_list_free(list);

    /* Import: the same bytes, zero-copy. */
    REQUIRE_OK(hdmabuf_import(source, &x.id, &imp));
    CHECK(imp->buffer.length == a.buffer.length && imp->access == HDMABUF_ACCESS_READ_WRITE);
    CHECK(imp->metadata.n_tags == 2 && imp->metadata.image != NULL && imp->fence_offset == x.fence_offset);
    CHECK(memcmp(imp->buffer.data, a.buffer.data, (size_t)a.buffer.length) == 0);
    ((unsigned char *)imp->buffer.data)[5] = 0x5a; /* and back */
    CHECK(((unsigned char *)a.buffer.data)[5] == 0x5a);
    REQUIRE_OK(hdmabuf_query(source, &x.id, &info));
    CHECK(info->import_count == 1 && strcmp(info->state, "imported") == 0);
    hdmabuf_buffer_info_free(info);
    test_dmabuf_import(source, &x.id, &a);

    REQUIRE_OK(hdmabuf_stats(sink, &stats));
    CHECK(stats->n_usage >= 1 && stats->policy[0] != '\0');
    for (size_t i = 0; i < stats->n_usage; i++) {
        if (strcmp(stats->usage[i].scope, "vm") == 0) {
            CHECK(stats->usage[i].bytes >= a.buffer.length && stats->usage[i].buffers >= 1);
            CHECK(stats->usage[i].max_bytes == UINT64_MAX);
        }
    }
    hdmabuf_stats_free(stats);

    /* Re-export: same id, new metadata. */
    md.content_type = "video/x-raw";
    REQUIRE_OK(hdmabuf_export(sink, a.handle, source_vm, &md, HDMABUF_ACCESS_READ_WRITE, &x2));
    CHECK(x2.reexport && x2.id.nonce == x.id.nonce);
    CHECK_RC(hdmabuf_export(sink, a.handle, source_vm, &md, HDMABUF_ACCESS_READ_ONLY, &x2), -EINVAL);

    /* Delayed unexport: a reuse window, cancelled by an export. */
    CHECK_RC(hdmabuf_unexport(sink, &x.id, 600001), -EINVAL);
    CHECK_RC(hdmabuf_unexport(sink, &x.id, 60000), 0);
    REQUIRE_OK(hdmabuf_query(sink, &x.id, &info));
    CHECK(strcmp(info->state, "unexport-pending") == 0);
    hdmabuf_buffer_info_free(info);
    REQUIRE_OK(hdmabuf_export(sink, a.handle, source_vm, &md, HDMABUF_ACCESS_READ_WRITE, &x2));
    CHECK(x2.reexport && x2.id.nonce == x.id.nonce);
    REQUIRE_OK(hdmabuf_query(sink, &x.id, &info));
    CHECK(strcmp(info->state, "exported") == 0);
    hdmabuf_buffer_info_free(info);

    CHECK_RC(hdmabuf_release(source, &x.id), 0);
    CHECK_RC(hdmabuf_release(source, &x.id), -ENOENT);
    CHECK(hdmabuf_error_message(source, msg, sizeof(msg)) > 0);
    hdmabuf_import_free(imp);

    CHECK_RC(hdmabuf_unexport(sink, &x.id, 0), 0);
    CHECK_RC(hdmabuf_unexport(sink, &x.id, 0), -ENOENT);
    CHECK_RC(hdmabuf_free(sink, a.handle), 0);
    CHECK_RC(hdmabuf_free(sink, a.handle), -ENOENT);
    hdmabuf_unmap(&a.buffer);
    CHECK(a.buffer.fd == -1 && a.buffer.data == NULL);
}

static void test_errors(hdmabuf_conn *sink, hdmabuf_conn *source)
{
    struct hdmabuf_id guessed = { sink_vm, 77, UINT64_C(0x1234) };
    struct hdmabuf_allocation a, b;
    struct hdmabuf_exported x;
    struct hdmabuf_buffer_info *info;
    struct hdmabuf_import *imp;
    struct hdmabuf_metadata md = { .version = 1, .content_type = "application/octet-stream" };
    struct hdmabuf_tag bad_tag = { "no spaces allowed", "v" };
    char long_type[200], big_value[2000], msg[256];
    static unsigned char big_private[5000];
    uint64_t sub, v;
    uint32_t err;
    int fd;

    CHECK_RC(hdmabuf_alloc(sink, 0, false, 0, HDMABUF_ACCESS_READ_WRITE, &a), -EINVAL);
    CHECK(hdmabuf_error_message(sink, msg, sizeof(msg)) > 0);
    CHECK_RC(hdmabuf_alloc(sink, 4096, true, sink_vm, HDMABUF_ACCESS_READ_WRITE, &a), -EINVAL); /* self */
    CHECK_RC(hdmabuf_alloc(sink, UINT64_C(1) << 62, false, 0, HDMABUF_ACCESS_READ_WRITE, &a), -ENOSPC);
    CHECK_RC(hdmabuf_alloc(source, 4096, false, 0, HDMABUF_ACCESS_READ_WRITE, &a), -ENOTSUP);

    REQUIRE_OK(hdmabuf_alloc(sink, 4096, true, source_vm, HDMABUF_ACCESS_READ_WRITE, &a));
    CHECK_RC(hdmabuf_export(sink, a.handle + 1000, source_vm, &md, HDMABUF_ACCESS_READ_WRITE, &x), -ENOENT);
    CHECK_RC(hdmabuf_export(sink, a.handle, sink_vm, &md, HDMABUF_ACCESS_READ_WRITE, &x), -EINVAL);
    CHECK_RC(hdmabuf_export(sink, a.handle, 7, &md, HDMABUF_ACCESS_READ_WRITE, &x), -HDMABUF_ENOPEER);
    CHECK_RC(hdmabuf_export(sink, a.handle, source_vm, &md, (enum hdmabuf_access)5, &x), -EINVAL);
    memset(long_type, 'a', sizeof(long_type) - 1);
    long_type[sizeof(long_type) - 1] = '\0';
    md.content_type = long_type;
    CHECK_RC(hdmabuf_export(sink, a.handle, source_vm, &md, HDMABUF_ACCESS_READ_WRITE, &x), -EINVAL);
    CHECK(hdmabuf_error_message(sink, msg, sizeof(msg)) > 0 && strstr(msg, "content_type") != NULL);
    md.content_type = "video/raw";
    md.n_tags = 1;
    md.tags = &bad_tag;
    CHECK_RC(hdmabuf_export(sink, a.handle, source_vm, &md, HDMABUF_ACCESS_READ_WRITE, &x), -EINVAL);
    memset(big_value, 'v', sizeof(big_value) - 1);
    big_value[sizeof(big_value) - 1] = '\0';
    bad_tag = (struct hdmabuf_tag){ "ok", big_value };
    CHECK_RC(hdmabuf_export(sink, a.handle, source_vm, &md, HDMABUF_ACCESS_READ_WRITE, &x), -EINVAL);
    md.n_tags = 0;
    md.private_data = big_private;
    md.private_size = sizeof(big_private);
    CHECK_RC(hdmabuf_export(sink, a.handle, source_vm, &md, HDMABUF_ACCESS_READ_WRITE, &x), -EINVAL);
    md.private_size = 0;
    md.size = 1 << 20; /* beyond the buffer */
    CHECK_RC(hdmabuf_export(sink, a.handle, source_vm, &md, HDMABUF_ACCESS_READ_WRITE, &x), -EINVAL);
    md.size = 0;
    md.version = 2;
    CHECK_RC(hdmabuf_export(sink, a.handle, source_vm, &md, HDMABUF_ACCESS_READ_WRITE, &x), -EINVAL);
    md.version = 1;

    /* Unknown ids, handles, subscriptions: ENOENT, never a crash or EPERM. */
    CHECK_RC(hdmabuf_query(sink, &guessed, &info), -ENOENT);
    CHECK_RC(hdmabuf_query(source, &guessed, &info), -ENOENT);
    CHECK_RC(hdmabuf_import(source, &guessed, &imp), -ENOENT);
    CHECK_RC(hdmabuf_release(source, &guessed), -ENOENT);
    CHECK_RC(hdmabuf_unexport(sink, &guessed, 0), -ENOENT);
    CHECK_RC(hdmabuf_free(sink, 999999), -ENOENT);
    CHECK_RC(hdmabuf_unsubscribe(source, 424242), -ENOENT);
    CHECK_RC(hdmabuf_request_fence_signal(sink, &guessed, HDMABUF_TIMELINE_ACQUIRE, 1, 0), -ENOENT);

    /* Fence requests on a live export. */
    REQUIRE_OK(hdmabuf_export(sink, a.handle, source_vm, &md, HDMABUF_ACCESS_READ_WRITE, &x));
    await_known(source, &x.id);
    CHECK_RC(hdmabuf_request_fence_wait(sink, &x.id, HDMABUF_TIMELINE_ACQUIRE, 1, 0, NULL, NULL), -EINVAL);
    CHECK_RC(hdmabuf_request_fence_wait(sink, &x.id, HDMABUF_TIMELINE_RELEASE, 1, 0, NULL, NULL), -ETIMEDOUT);
    CHECK_RC(hdmabuf_request_fence_wait(source, &x.id, HDMABUF_TIMELINE_ACQUIRE, 1, 50, NULL, NULL), -ETIMEDOUT);
    CHECK_RC(hdmabuf_request_fence_signal(sink, &x.id, HDMABUF_TIMELINE_ACQUIRE, 5, 7), 0);
    CHECK_RC(hdmabuf_request_fence_signal(sink, &x.id, HDMABUF_TIMELINE_ACQUIRE, 4, 0), -EINVAL);
    CHECK_RC(hdmabuf_request_fence_signal(sink, &x.id, HDMABUF_TIMELINE_RELEASE, 9, 0), -EINVAL);
    CHECK_RC(hdmabuf_request_fence_signal(sink, &x.id, HDMABUF_TIMELINE_ACQUIRE, UINT64_C(1) << 63, 0), -EINVAL);
    v = 0;
    err = 0;
    CHECK_RC(hdmabuf_request_fence_wait(source, &x.id, HDMABUF_TIMELINE_ACQUIRE, 5, 1000, &v, &err), 0);
    CHECK(v == 5 && err == 7);
    /* Release is signalled by an import's holder only. */
    CHECK_RC(hdmabuf_request_fence_signal(source, &x.id, HDMABUF_TIMELINE_RELEASE, 1, 0), -ENOENT);
    REQUIRE_OK(hdmabuf_import(source, &x.id, &imp));
    CHECK_RC(hdmabuf_request_fence_signal(source, &x.id, HDMABUF_TIMELINE_RELEASE, 1, 0), 0);
    CHECK_RC(hdmabuf_request_fence_wait(sink, &x.id, HDMABUF_TIMELINE_RELEASE, 1, 1000, &v, NULL), 0);
    /* One wake lease per connection and buffer. */
    {
        uint32_t vec;
        bool held;
        int wfd, wfd2;
        REQUIRE_OK(hdmabuf_request_fence_wake(source, &x.id, &wfd, &vec, &held));
        CHECK(vec >= HDMABUF_IVSHMEM_VECTOR_FIRST_WAKE && vec < 16 && !held);
        CHECK_RC(hdmabuf_request_fence_wake(source, &x.id, &wfd2, &vec, &held), -EBUSY);
        close(wfd);
    }
    CHECK_RC(hdmabuf_request_fence_doorbell(source, &x.id, 1, &fd), 0);
    close(fd);
    CHECK_RC(hdmabuf_request_fence_doorbell(source, &x.id, 200, &fd), -EINVAL);
    CHECK_RC(hdmabuf_release(source, &x.id), 0);
    hdmabuf_import_free(imp);

    /* Subscribe limits. */
    {
        struct hdmabuf_match m = { "", "x", false };
        struct hdmabuf_rule r = { 1, &m };
        CHECK_RC(hdmabuf_subscribe(source, &r, 1, false, &sub), -EINVAL);
    }

    /* A request above the 64 KiB frame limit never leaves the library. */
    {
        static struct hdmabuf_tag many[70];
        for (int i = 0; i < 70; i++) {
            many[i] = (struct hdmabuf_tag){ "k", big_value };
        }
        md.tags = many;
        md.n_tags = 70;
        CHECK_RC(hdmabuf_export(sink, a.handle, source_vm, &md, HDMABUF_ACCESS_READ_WRITE, &x), -EMSGSIZE);
        md.n_tags = 0;
    }
    CHECK_RC(hdmabuf_free(sink, a.handle), 0);
    hdmabuf_unmap(&a.buffer);

    /* A second allocation keeps working after all of that. */
    REQUIRE_OK(hdmabuf_alloc(sink, 4096, false, 0, HDMABUF_ACCESS_READ_WRITE, &b));
    CHECK_RC(hdmabuf_free(sink, b.handle), 0);
    hdmabuf_unmap(&b.buffer);
}

/* A raw socket to the sink, to send what the library never would. */
static int raw_sink(void)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    hdmabuf_socket_path("sink", addr.sun_path, sizeof(addr.sun_path));
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        perror("raw connect");
        exit(1);
    }
    return fd;
}

static void test_framing_errors(void)
{
    static const unsigned char garbage[] = { 2, 0xff, 0xff };       /* not a Request: EBADMSG */
    static const unsigned char oversize[] = { 0xf0, 0xa2, 0x04 };   /* 70000 > 65536: EMSGSIZE */
    struct hdmabuf_caps caps;
    hdmabuf_conn *c;
    char msg[256];
    int fd;

    fd = raw_sink();
    CHECK(write(fd, garbage, sizeof(garbage)) == (ssize_t)sizeof(garbage));
    REQUIRE_OK(hdmabuf_connect_fd(fd, &c));
    CHECK_RC(hdmabuf_query_caps(c, &caps), 0); /* EBADMSG leaves the connection usable */
    CHECK(hdmabuf_error_message(c, msg, sizeof(msg)) > 0 && strstr(msg, "parse") != NULL);
    hdmabuf_close(c);

    fd = raw_sink();
    CHECK(write(fd, oversize, sizeof(oversize)) == (ssize_t)sizeof(oversize));
    REQUIRE_OK(hdmabuf_connect_fd(fd, &c));
    CHECK_RC(hdmabuf_query_caps(c, &caps), -EMSGSIZE); /* the daemon closes an unframeable stream */
    CHECK_RC(hdmabuf_query_caps(c, &caps), -EMSGSIZE); /* and the connection stays failed */
    hdmabuf_close(c);

    CHECK_RC(hdmabuf_connect_fd(-1, &c), -EINVAL);
}

int main(void)
{
    hdmabuf_conn *sink, *source;
    sink_vm = test_env_vm("HDMABUF_TEST_SINK_VM");
    source_vm = test_env_vm("HDMABUF_TEST_SOURCE_VM");
    test_local();
    REQUIRE_OK(hdmabuf_connect_role("sink", &sink));
    REQUIRE_OK(hdmabuf_connect_role("source", &source));
    hdmabuf_set_timeout(sink, 20000);
    test_caps_targets(sink, source);
    test_buffer_lifecycle(sink, source);
    test_errors(sink, source);
    test_framing_errors();
    hdmabuf_close(source);
    hdmabuf_close(sink);
    return check_report("test_ops");
}
