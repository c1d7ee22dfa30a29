/* SPDX-License-Identifier: MIT */
/*
 * The decision to lend a stream's buffers to the compositor or to copy each frame (copy-reason.c),
 * without a compositor: each reason, its precedence, and the int32 bound of wl_shm at its edge.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../copy-reason.h"

static int failures;

/* want: NULL (lent) or a fragment of the reason. */
static void expect(const char *what, const char *got, const char *want)
{
    bool ok = want == NULL ? got == NULL : got != NULL && strstr(got, want) != NULL;
    printf("%s %s: %s\n", ok ? "ok" : "FAIL", what, got != NULL ? got : "(lent)");
    failures += !ok;
}

int main(void)
{
    struct hdmabuf_mapping b[4];

    for (int i = 0; i < 4; i++)
        b[i] = (struct hdmabuf_mapping){ .fd = -1, .offset = (uint64_t)i << 20, .length = 1 << 20 };
    expect("3 read-write buffers, ivshmem", copy_reason(false, "ivshmem", b, 3), NULL);
    expect("--copy", copy_reason(true, "ivshmem", b, 3), "--copy");
    expect("--copy before every other reason", copy_reason(true, "xen", b, 2), "--copy");
    expect("2 buffers", copy_reason(false, "ivshmem", b, 2), "fewer than 3 buffers");
    expect("xen", copy_reason(false, "xen", b, 4), "xen backend");

    b[2].read_only = true;
    expect("one read-only import", copy_reason(false, "ivshmem", b, 3), "read-only");
    b[2].read_only = false;

    /* The pool spans [0, offset + length): INT32_MAX is the last size wl_shm takes. */
    b[1].offset = INT32_MAX - (1 << 20);
    expect("a buffer ending at 2^31-1", copy_reason(false, "ivshmem", b, 3), NULL);
    b[1].offset += 1;
    expect("a buffer ending at 2^31", copy_reason(false, "ivshmem", b, 3), "2^31-1");
    b[1].offset = UINT64_MAX - 4096; /* offset + length wraps around in 64 bits */
    expect("an offset near 2^64", copy_reason(false, "ivshmem", b, 3), "2^31-1");
    b[1].offset = 0;
    b[3].offset = (uint64_t)1 << 40;
    expect("a fourth buffer far away, k = 3", copy_reason(false, "ivshmem", b, 3), NULL);
    expect("a fourth buffer far away, k = 4", copy_reason(false, "ivshmem", b, 4), "2^31-1");

    printf("%d failed\n", failures);
    return failures == 0 ? 0 : 1;
}
