/* SPDX-License-Identifier: MIT */
/*
 * When a wake lease ends (ABI.md "Direct fence wake-ups"): "when the client releases its last
 * import of the buffer, the export is unexported, or the client disconnects", not when it
 * closes the lease's fd. Run with --vectors 3: each VM has one wake vector (2), so a lease is
 * observable as another client's FENCE_WAKE answering EBUSY while it lasts and succeeding once
 * it ended. Leases are taken by the fences' BLOCK waits, as an application takes them.
 * usage: test_leases
 */
#include "check.h"

#include <errno.h>
#include <time.h>

#define AWAIT_MS 10000

static uint32_t source_vm;

struct exported {
    struct hdmabuf_allocation alloc;
    struct hdmabuf_exported exp;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void export_one(hdmabuf_conn *sink, hdmabuf_conn *source, struct exported *e)
{
    REQUIRE_OK(hdmabuf_alloc(sink, 4096, true, source_vm, HDMABUF_ACCESS_READ_WRITE, &e->alloc));
    REQUIRE_OK(hdmabuf_export(sink, e->alloc.handle, source_vm, NULL, HDMABUF_ACCESS_READ_WRITE, &e->exp));
    await_known(source, &e->exp.id);
}

/* Two clients of one daemon, each to hold a lease of its own. */
static void connect_two(const char *role, hdmabuf_conn **one, hdmabuf_conn **two)
{
    REQUIRE_OK(hdmabuf_connect_role(role, one));
    REQUIRE_OK(hdmabuf_connect_role(role, two));
}

/* FENCE_WAKE for id on conn: its result; on success the lease's vector, its fd closed. */
static int try_lease(hdmabuf_conn *conn, const struct hdmabuf_id *id, uint32_t *vector)
{
    bool held;
    int fd;
    int r = hdmabuf_request_fence_wake(conn, id, &fd, vector, &held);
    if (r == 0) {
        close(fd);
    }
    return r;
}

/* A lease that ends asynchronously (the daemon handles a disconnect or an unexport notice on
 * its own time): FENCE_WAKE until it stops answering EBUSY, up to AWAIT_MS. */
static int await_lease(hdmabuf_conn *conn, const struct hdmabuf_id *id, uint32_t *vector)
{
    int64_t deadline = now_ms() + AWAIT_MS;
    int r;
    while ((r = try_lease(conn, id, vector)) == -EBUSY && now_ms() < deadline) {
        usleep(5000); /* polls a condition with a deadline */
    }
    return r;
}

/* A BLOCK wait that times out: the fence leases the VM's wake vector for its sleep. */
static void take_lease(hdmabuf_fence *fence, bool producer)
{
    if (producer) {
        CHECK_RC(hdmabuf_fence_await(fence, hdmabuf_fence_release_value(fence) + 1, 20, HDMABUF_WAIT_BLOCK, NULL,
            NULL), -ETIMEDOUT);
    } else {
        CHECK_RC(hdmabuf_fence_await(fence, hdmabuf_fence_acquire_value(fence) + 1, 20, HDMABUF_WAIT_BLOCK, NULL,
            NULL), -ETIMEDOUT);
    }
    CHECK(hdmabuf_fence_wake_vector(fence) == HDMABUF_IVSHMEM_VECTOR_FIRST_WAKE);
}

/* Importer side: leases of the source VM's vector, ended by RELEASE, disconnect and unexport. */
static void test_import_leases(hdmabuf_conn *sink)
{
    struct exported x, y;
    struct hdmabuf_import *ax, *by, *cy;
    hdmabuf_conn *a, *b, *c;
    hdmabuf_fence *fa;
    uint32_t vector = 0;

    connect_two("source", &a, &b);
    export_one(sink, a, &x);
    export_one(sink, a, &y);
    REQUIRE_OK(hdmabuf_import(a, &x.exp.id, &ax));
    REQUIRE_OK(hdmabuf_import(b, &y.exp.id, &by));

    /* A's fence leases the only vector; B cannot have it, nor A a second lease of x. */
    REQUIRE_OK(hdmabuf_fence_open_import(a, ax, &fa));
    take_lease(fa, false);
    CHECK_RC(try_lease(b, &y.exp.id, &vector), -EBUSY);
    CHECK_RC(try_lease(a, &x.exp.id, &vector), -EBUSY);
    /* Closing the fence closes the fd only: the lease lasts while the import does. */
    hdmabuf_fence_close(fa);
    CHECK_RC(try_lease(b, &y.exp.id, &vector), -EBUSY);

    /* RELEASE of A's last import of x ends it: B's lease succeeds on the freed vector. */
    CHECK_RC(hdmabuf_release(a, &x.exp.id), 0);
    hdmabuf_import_free(ax);
    CHECK_RC(try_lease(b, &y.exp.id, &vector), 0);
    CHECK(vector == HDMABUF_IVSHMEM_VECTOR_FIRST_WAKE);

    /* B's lease ends when B disconnects: A, importing x again, gets the vector. */
    REQUIRE_OK(hdmabuf_import(a, &x.exp.id, &ax));
    CHECK_RC(try_lease(a, &x.exp.id, &vector), -EBUSY);
    hdmabuf_import_free(by);
    hdmabuf_close(b);
    vector = 0;
    CHECK_RC(await_lease(a, &x.exp.id, &vector), 0);
    CHECK(vector == HDMABUF_IVSHMEM_VECTOR_FIRST_WAKE);

    /* A's lease of x ends when x is unexported: C, importing y, gets the vector. */
    REQUIRE_OK(hdmabuf_connect_role("source", &c));
    REQUIRE_OK(hdmabuf_import(c, &y.exp.id, &cy));
    CHECK_RC(try_lease(c, &y.exp.id, &vector), -EBUSY);
    CHECK_RC(hdmabuf_unexport(sink, &x.exp.id, 0), 0);
    vector = 0;
    CHECK_RC(await_lease(c, &y.exp.id, &vector), 0);
    CHECK(vector == HDMABUF_IVSHMEM_VECTOR_FIRST_WAKE);

    CHECK_RC(hdmabuf_release(a, &x.exp.id), 0); /* still held after the remove */
    hdmabuf_import_free(ax);
    CHECK_RC(hdmabuf_release(c, &y.exp.id), 0);
    hdmabuf_import_free(cy);
    hdmabuf_close(c);
    hdmabuf_close(a);
    CHECK_RC(hdmabuf_free(sink, x.alloc.handle), 0);
    CHECK_RC(hdmabuf_free(sink, y.alloc.handle), 0);
    hdmabuf_unmap(&x.alloc.buffer);
    hdmabuf_unmap(&y.alloc.buffer);
}

/* Exporter side: leases of the sink VM's vector (release waits), ended by unexport and disconnect. */
static void test_export_leases(hdmabuf_conn *source)
{
    struct exported x, y, z;
    hdmabuf_conn *p, *q;
    hdmabuf_fence *fp;
    uint32_t vector = 0;

    connect_two("sink", &p, &q);
    export_one(p, source, &x);
    export_one(q, source, &y);

    REQUIRE_OK(hdmabuf_fence_open_export(p, &x.alloc, &x.exp, &fp));
    take_lease(fp, true);
    CHECK_RC(try_lease(q, &y.exp.id, &vector), -EBUSY);
    hdmabuf_fence_close(fp);
    CHECK_RC(try_lease(q, &y.exp.id, &vector), -EBUSY);

    /* UNEXPORT of x ends P's lease: Q's succeeds. */
    CHECK_RC(hdmabuf_unexport(p, &x.exp.id, 0), 0);
    CHECK_RC(try_lease(q, &y.exp.id, &vector), 0);
    CHECK(vector == HDMABUF_IVSHMEM_VECTOR_FIRST_WAKE);

    /* Q's lease ends when Q disconnects: P, exporting z, gets the vector. */
    export_one(p, source, &z);
    CHECK_RC(try_lease(p, &z.exp.id, &vector), -EBUSY);
    hdmabuf_unmap(&y.alloc.buffer);
    hdmabuf_close(q);
    vector = 0;
    CHECK_RC(await_lease(p, &z.exp.id, &vector), 0);
    CHECK(vector == HDMABUF_IVSHMEM_VECTOR_FIRST_WAKE);

    CHECK_RC(hdmabuf_free(p, x.alloc.handle), 0);
    CHECK_RC(hdmabuf_free(p, z.alloc.handle), 0);
    hdmabuf_unmap(&x.alloc.buffer);
    hdmabuf_unmap(&z.alloc.buffer);
    hdmabuf_close(p);
}

int main(void)
{
    hdmabuf_conn *sink, *source;

    source_vm = test_env_vm("HDMABUF_TEST_SOURCE_VM");
    REQUIRE_OK(hdmabuf_connect_role("sink", &sink));
    REQUIRE_OK(hdmabuf_connect_role("source", &source));
    test_import_leases(sink);
    test_export_leases(source);
    hdmabuf_close(source);
    hdmabuf_close(sink);
    return check_report("test_leases");
}
