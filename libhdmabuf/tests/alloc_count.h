/* SPDX-License-Identifier: MIT */
/*
 * Counts the heap allocations a test makes while counting is on, the library's included:
 * the executable's malloc, calloc and realloc win over libc's for every object it loads.
 * Sanitizer builds replace the allocator themselves: there the count stays 0 and a test
 * skips what it would have shown (ALLOCATIONS_COUNTED is 0). Include it in one file of a
 * test executable.
 */
#ifndef HDMABUF_TEST_ALLOC_COUNT_H
#define HDMABUF_TEST_ALLOC_COUNT_H

#include <stddef.h>

#if !defined(__SANITIZE_ADDRESS__)
#define ALLOCATIONS_COUNTED 1
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
static int counting;
static int allocations;
static void count(void)
{
    if (__atomic_load_n(&counting, __ATOMIC_RELAXED)) {
        __atomic_fetch_add(&allocations, 1, __ATOMIC_RELAXED);
    }
}
void *malloc(size_t n)
{
    count();
    return __libc_malloc(n);
}
void *calloc(size_t n, size_t m)
{
    count();
    return __libc_calloc(n, m);
}
void *realloc(void *p, size_t n)
{
    count();
    return __libc_realloc(p, n);
}
#define COUNT_ALLOCATIONS(on) __atomic_store_n(&counting, (on), __ATOMIC_RELAXED)
#else
#define ALLOCATIONS_COUNTED 0
static int allocations;
#define COUNT_ALLOCATIONS(on) ((void)(on))
#endif

#endif
