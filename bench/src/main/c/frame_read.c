/* The limit for 4K streaming: one process reads every byte of FRAMES frames of WIDTH x HEIGHT RGBA
 * (4 bytes per pixel) that already sit in a ring of BUFFERS MAP_SHARED memfd buffers (no producer, no
 * synchronisation): what reading the frames out of shared memory costs on this machine.
 * Reading = summing the frame as 64-bit words (the sum is printed so the compiler keeps the loads).
 * Usage: frame_read FRAMES [WIDTH HEIGHT BUFFERS] */
#define _GNU_SOURCE
#include "bench_stats.h"
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    long frames = argc > 1 ? atol(argv[1]) : 300;
    long width = argc > 2 ? atol(argv[2]) : 3840, height = argc > 3 ? atol(argv[3]) : 2160;
    int buffers = argc > 4 ? atoi(argv[4]) : 3;
    size_t bytes = (size_t)width * (size_t)height * 4;
    if (frames < 1 || bytes % 8 != 0 || buffers < 1) {
        fprintf(stderr, "usage: frame_read FRAMES [WIDTH HEIGHT BUFFERS]\n");
        return 2;
    }
    uint64_t **buf = calloc((size_t)buffers, sizeof *buf);
    for (int k = 0; k < buffers; k++) {
        int fd = memfd_create("frame", MFD_CLOEXEC);
        if (fd < 0 || ftruncate(fd, (off_t)bytes) < 0) DIE("memfd");
        buf[k] = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (buf[k] == MAP_FAILED) DIE("mmap");
        memset(buf[k], 0x11 * (k + 1), bytes);
        close(fd);
    }
    uint64_t sum = 0;
    for (int k = 0; k < buffers; k++) sum += read_frame(buf[k], bytes / 8); /* warm-up */
    uint64_t t0 = now_ns();
    for (long f = 0; f < frames; f++) sum += read_frame(buf[f % buffers], bytes / 8);
    double s = (double)(now_ns() - t0) / 1e9;
    printf("RESULT name=frame_read frames=%ld seconds=%.4f frames_per_s=%.1f checksum=%llu\n", frames, s,
           (double)frames / s, (unsigned long long)sum);
    return 0;
}
