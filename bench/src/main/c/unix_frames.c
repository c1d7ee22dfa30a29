/* The naive alternative for 4K streaming: a producer process writes each WIDTH x HEIGHT RGBA frame into
 * an AF_UNIX SOCK_STREAM socketpair (one copy into the kernel), the consumer reads it into its own buffer
 * (a second copy) and then reads every byte, like the zero-copy consumer does. frames/s is measured by
 * the consumer from the first byte of frame 1 (after one warm-up frame) to the last byte.
 * Usage: unix_frames FRAMES [WIDTH HEIGHT] */
#define _GNU_SOURCE
#include "bench_stats.h"
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    long frames = argc > 1 ? atol(argv[1]) : 300;
    long width = argc > 2 ? atol(argv[2]) : 3840, height = argc > 3 ? atol(argv[3]) : 2160;
    size_t bytes = (size_t)width * (size_t)height * 4;
    if (frames < 1 || bytes % 8 != 0) {
        fprintf(stderr, "usage: unix_frames FRAMES [WIDTH HEIGHT]\n");
        return 2;
    }
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) DIE("socketpair");
    long total = frames + 1;
    char *buf = malloc(bytes);
    if (!buf) DIE("malloc");
    memset(buf, 0x5a, bytes);
    pid_t child = fork();
    if (child < 0) DIE("fork");
    if (child == 0) {
        close(sv[0]);
        for (long f = 0; f < total; f++) {
            size_t off = 0;
            while (off < bytes) {
                ssize_t w = write(sv[1], buf + off, bytes - off);
                if (w <= 0) DIE("write socket");
                off += (size_t)w;
            }
        }
        _exit(0);
    }
    close(sv[1]);
    uint64_t sum = 0, t0 = 0;
    for (long f = 0; f < total; f++) {
        if (f == 1) t0 = now_ns();
        size_t off = 0;
        while (off < bytes) {
            ssize_t r = read(sv[0], buf + off, bytes - off);
            if (r <= 0) DIE("read socket");
            off += (size_t)r;
        }
        sum += read_frame((const uint64_t *)buf, bytes / 8);
    }
    double s = (double)(now_ns() - t0) / 1e9;
    int status;
    waitpid(child, &status, 0);
    printf("RESULT name=unix_frames frames=%ld seconds=%.4f frames_per_s=%.1f checksum=%llu\n", frames, s,
           (double)frames / s, (unsigned long long)sum);
    return 0;
}
