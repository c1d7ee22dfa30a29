/* SPDX-License-Identifier: MIT */
/*
 * The daemon's client limit as a C client sees it (ABI.md "Limits": connections per daemon,
 * "Framing": a connection past the limit gets one EAGAIN with request_id 0 and is closed), with
 * the sink started with --max-clients 1: a second connection's first call fails with -EAGAIN and
 * the daemon's message, the first connection keeps working, and once it is closed a new one is
 * served (within a deadline: the daemon notices the close on its own time).
 * usage: test_client_limit SINK_SOCKET
 */
#include "check.h"

#include <errno.h>
#include <time.h>

#define AWAIT_MS 10000

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv)
{
    hdmabuf_conn *first, *second, *again = NULL;
    struct hdmabuf_caps caps;
    char msg[512];

    if (argc != 2) {
        fprintf(stderr, "usage: test_client_limit SINK_SOCKET\n");
        return 2;
    }
    REQUIRE_OK(hdmabuf_connect(argv[1], &first));
    REQUIRE_OK(hdmabuf_query_caps(first, &caps));
    REQUIRE_OK(hdmabuf_connect(argv[1], &second)); /* accepted by the kernel, refused by the daemon */
    CHECK_RC(hdmabuf_query_caps(second, &caps), -EAGAIN);
    hdmabuf_error_message(second, msg, sizeof(msg));
    CHECK(strstr(msg, "client") != NULL);
    printf("second connection: %s (%s)\n", hdmabuf_strerror(-EAGAIN), msg);
    CHECK_RC(hdmabuf_query_caps(second, &caps), -EAGAIN); /* stays refused, no crash */
    hdmabuf_close(second);
    CHECK_RC(hdmabuf_query_caps(first, &caps), 0);

    hdmabuf_close(first);
    int rc = -EAGAIN;
    for (int64_t end = now_ms() + AWAIT_MS; rc == -EAGAIN && now_ms() < end;) {
        REQUIRE_OK(hdmabuf_connect(argv[1], &again));
        rc = hdmabuf_query_caps(again, &caps);
        if (rc == -EAGAIN) {
            hdmabuf_close(again);
            again = NULL;
            struct timespec pause = { 0, 20 * 1000 * 1000 }; /* the next attempt, not a synchronisation */
            nanosleep(&pause, NULL);
        }
    }
    CHECK_RC(rc, 0);
    printf("after the first closed: a new connection is served (%d)\n", rc);
    if (again != NULL) {
        hdmabuf_close(again);
    }
    return check_failures == 0 ? 0 : 1;
}
