/* SPDX-License-Identifier: MIT */
/* add/change/remove events with filters on a source, STATE events on the sink, the event fd. */
#include "check.h"

#include <errno.h>
#include <poll.h>

static uint32_t sink_vm, source_vm;

/* The next event of subscription sub (others are checked off in order by the caller). */
static struct hdmabuf_event *next(hdmabuf_conn *c, int timeout_ms)
{
    struct hdmabuf_event *ev = NULL;
    int r = hdmabuf_next_event(c, timeout_ms, &ev);
    if (r != 0) {
        fprintf(stderr, "no event: %s\n", hdmabuf_strerror(r));
        return NULL;
    }
    return ev;
}

static void expect(hdmabuf_conn *c, uint64_t sub, const char *action, const struct hdmabuf_id *id,
    const char *key, const char *value)
{
    char text[HDMABUF_ID_STRLEN], devpath[64];
    struct hdmabuf_event *ev = next(c, 10000);
    CHECK(ev != NULL);
    if (ev == NULL) {
        return;
    }
    hdmabuf_id_format(id, text);
    snprintf(devpath, sizeof(devpath), "/hyperdmabuf/vm%u/%s", id->exporter_vm, text);
    CHECK(ev->subscription_id == sub && ev->overflow_dropped == 0);
    CHECK(strcmp(ev->action, action) == 0);
    CHECK(strcmp(ev->devpath, devpath) == 0);
    CHECK(ev->n_properties >= 4 && strcmp(ev->keys[0], "ACTION") == 0 && strcmp(ev->values[0], action) == 0);
    CHECK(strcmp(hdmabuf_event_get(ev, "SUBSYSTEM"), "hyperdmabuf") == 0);
    CHECK(hdmabuf_event_get(ev, "BUFFER") != NULL && strcmp(hdmabuf_event_get(ev, "BUFFER"), text) == 0);
    CHECK(ev->record_len > 0 && ev->record[ev->record_len - 1] == '\0');
    if (key != NULL) {
        const char *v = hdmabuf_event_get(ev, key);
        CHECK(v != NULL && strcmp(v, value) == 0);
        if (v == NULL || strcmp(v, value) != 0) {
            fprintf(stderr, "  %s=%s, expected %s\n", key, v != NULL ? v : "(none)", value);
        }
    }
    hdmabuf_event_free(ev);
}

static void expect_none(hdmabuf_conn *c)
{
    struct hdmabuf_event *ev = NULL;
    CHECK_RC(hdmabuf_next_event(c, 300, &ev), -ETIMEDOUT);
    if (ev != NULL) {
        fprintf(stderr, "  unexpected event %s %s\n", ev->action, ev->devpath);
        hdmabuf_event_free(ev);
    }
}

int main(void)
{
    hdmabuf_conn *sink, *source, *other;
    struct hdmabuf_allocation a, b;
    struct hdmabuf_exported xa, xb;
    struct hdmabuf_import *imp;
    const struct hdmabuf_tag front[] = { { "camera", "front" }, { "a.b", "dotted" } };
    const struct hdmabuf_tag rear[] = { { "camera", "rear" } };
    struct hdmabuf_metadata md_front = { 1, "video/raw", 0, 2, front, NULL, 0, NULL, NULL };
    struct hdmabuf_metadata md_rear = { 1, "audio/pcm", 0, 1, rear, NULL, 0, NULL, NULL };
    const struct hdmabuf_match m_front[] = { { "TAG_CAMERA", "fr*", false } };
    const struct hdmabuf_match m_not_video[] = { { "CONTENT_TYPE", "video/*", true }, { "ACTION", "add|remove", false } };
    const struct hdmabuf_rule r_front = { 1, m_front }, r_not_video = { 2, m_not_video };
    const struct hdmabuf_match m_state[] = { { "STATE", "*", false } };
    const struct hdmabuf_rule r_state = { 1, m_state };
    uint64_t s_front, s_not_video, s_state, s_replay;
    struct hdmabuf_event *ev;
    struct pollfd p;
    int efd;

    sink_vm = test_env_vm("HDMABUF_TEST_SINK_VM");
    source_vm = test_env_vm("HDMABUF_TEST_SOURCE_VM");
    REQUIRE_OK(hdmabuf_connect_role("sink", &sink));
    REQUIRE_OK(hdmabuf_connect_role("source", &source));
    REQUIRE_OK(hdmabuf_connect_role("source", &other));

    REQUIRE_OK(hdmabuf_subscribe(source, &r_front, 1, false, &s_front));
    REQUIRE_OK(hdmabuf_subscribe(other, &r_not_video, 1, false, &s_not_video));
    REQUIRE_OK(hdmabuf_subscribe(sink, &r_state, 1, false, &s_state));

    /* Nothing yet: the event fd is quiet, next_event(0) times out at once. */
    efd = hdmabuf_event_fd(source);
    CHECK(efd >= 0 && hdmabuf_event_fd(source) == efd);
    p = (struct pollfd){ .fd = efd, .events = POLLIN };
    CHECK(poll(&p, 1, 0) == 0);
    CHECK_RC(hdmabuf_next_event(source, 0, &ev), -ETIMEDOUT);

    REQUIRE_OK(hdmabuf_alloc(sink, 4096, false, 0, HDMABUF_ACCESS_READ_WRITE, &a));
    REQUIRE_OK(hdmabuf_alloc(sink, 8192, false, 0, HDMABUF_ACCESS_READ_WRITE, &b));
    REQUIRE_OK(hdmabuf_export(sink, a.handle, source_vm, &md_front, HDMABUF_ACCESS_READ_ONLY, &xa));
    REQUIRE_OK(hdmabuf_export(sink, b.handle, source_vm, &md_rear, HDMABUF_ACCESS_READ_WRITE, &xb));

    /* The event fd turns readable for the add. */
    CHECK(poll(&p, 1, 10000) == 1 && (p.revents & POLLIN));
    expect(source, s_front, "add", &xa.id, "TAG_CAMERA", "front");
    expect_none(source); /* the rear buffer does not match */

    /* The negated filter sees only the audio buffer. */
    expect(other, s_not_video, "add", &xb.id, "CONTENT_TYPE", "audio/pcm");

    /* Re-export: change, REVISION 2; and the properties of the add. */
    md_front.content_type = "video/x-raw";
    REQUIRE_OK(hdmabuf_export(sink, a.handle, source_vm, &md_front, HDMABUF_ACCESS_READ_ONLY, &xa));
    {
        struct hdmabuf_event *c = next(source, 10000);
        char size[32];
        CHECK(c != NULL);
        if (c != NULL) {
            snprintf(size, sizeof(size), "%llu", (unsigned long long)a.buffer.length);
            CHECK(strcmp(c->action, "change") == 0);
            CHECK(strcmp(hdmabuf_event_get(c, "REVISION"), "2") == 0);
            CHECK(strcmp(hdmabuf_event_get(c, "ACCESS"), "ro") == 0);
            CHECK(strcmp(hdmabuf_event_get(c, "SIZE"), size) == 0);
            CHECK(strcmp(hdmabuf_event_get(c, "TAG_A_B"), "dotted") == 0);
            CHECK(strcmp(hdmabuf_event_get(c, "CONTENT_TYPE"), "video/x-raw") == 0);
            CHECK(hdmabuf_event_get(c, "EXPORTER") != NULL && (uint32_t)atoi(hdmabuf_event_get(c, "EXPORTER")) == sink_vm);
            CHECK(hdmabuf_event_get(c, "NOPE") == NULL);
            hdmabuf_event_free(c);
        }
    }

    /* The producer hears of imports and releases on its own subscription. */
    REQUIRE_OK(hdmabuf_import(source, &xa.id, &imp));
    CHECK(imp->buffer.read_only && imp->access == HDMABUF_ACCESS_READ_ONLY);
    expect(sink, s_state, "change", &xa.id, "STATE", "imported");
    REQUIRE_OK(hdmabuf_release(source, &xa.id));
    hdmabuf_import_free(imp);
    expect(sink, s_state, "change", &xa.id, "STATE", "released");

    /* A late subscriber with replay gets an add for what is there. */
    REQUIRE_OK(hdmabuf_subscribe(source, NULL, 0, true, &s_replay));
    for (int i = 0; i < 2; i++) {
        ev = next(source, 10000);
        CHECK(ev != NULL && ev->subscription_id == s_replay && strcmp(ev->action, "add") == 0);
        if (ev != NULL) {
            hdmabuf_event_free(ev);
        }
    }
    REQUIRE_OK(hdmabuf_unsubscribe(source, s_replay));

    /* Unexport and free: remove with REASON. */
    REQUIRE_OK(hdmabuf_unexport(sink, &xa.id, 0));
    expect(source, s_front, "remove", &xa.id, "REASON", "unexported");
    REQUIRE_OK(hdmabuf_free(sink, b.handle));
    expect(other, s_not_video, "remove", &xb.id, "REASON", "unexported");
    expect_none(other);
    CHECK(poll(&p, 1, 0) == 0); /* drained */

    REQUIRE_OK(hdmabuf_unsubscribe(source, s_front));
    REQUIRE_OK(hdmabuf_free(sink, a.handle));
    hdmabuf_unmap(&a.buffer);
    hdmabuf_unmap(&b.buffer);
    hdmabuf_close(other);
    hdmabuf_close(source);
    hdmabuf_close(sink);
    return check_report("test_events");
}
