/*
 * consumer: imports a frame stream's buffers and checks every byte of every frame.
 * usage: consumer [FRAMES [STREAM]]
 * Frames follow the test pattern of examples/c/producer.c (and of the Java demo producer):
 * word 0 the sequence number, word 1 a timestamp (not checked), word i seq * 0x9E3779B97F4A7C15 + i.
 * It stops early at a frame flagged END_OF_STREAM (ABI.md "Frame headers").
 */
#include <hyperdmabuf/hdmabuf.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    uint64_t frames = argc > 1 ? strtoull(argv[1], NULL, 0) : 300;
    const char *stream = argc > 2 ? argv[2] : "demo";
    hdmabuf_conn *conn;
    hdmabuf_frame_consumer *in;
    uint64_t seq = 0, length = 0;
    int e = hdmabuf_connect_role("source", &conn); /* $HDMABUF_RUNTIME_DIR/source.sock */
    printf("READY consumer\n");
    fflush(stdout);
    if (e == 0 && (e = hdmabuf_frame_consumer_open(conn, stream, 60000, HDMABUF_WAIT_ADAPTIVE, &in)) == 0) {
        for (; seq < frames && e == 0; seq++) {
            const uint64_t *w;
            const struct hdmabuf_frame_header *info;
            if ((e = hdmabuf_frame_consumer_begin_info(in, 30000, (const void **)&w, &info)) != 0)
                break;
            length = info->payload_length;
            for (uint64_t i = 0; i < length / 8; i++) {
                if (i != 1 && w[i] != (i == 0 ? seq : seq * 0x9E3779B97F4A7C15ull + i)) {
                    printf("FAILED frame %llu differs at byte %llu\n", (unsigned long long)seq,
                           (unsigned long long)(8 * i));
                    return 1;
                }
            }
            e = hdmabuf_frame_consumer_end(in);
            if (info->flags & HDMABUF_FRAME_FLAG_END_OF_STREAM) {
                frames = seq + 1; /* the producer's last frame */
                printf("END-OF-STREAM after %llu frames\n", (unsigned long long)frames);
            }
        }
        int d = hdmabuf_frame_consumer_destroy(in);
        e = e != 0 ? e : d;
    }
    if (e != 0) {
        fprintf(stderr, "consumer: frame %llu: %s\n", (unsigned long long)seq, hdmabuf_strerror(e));
        return 1;
    }
    printf("VERIFIED frames=%llu bytes=%llu\n", (unsigned long long)frames, (unsigned long long)(frames * length));
    hdmabuf_close(conn);
    return 0;
}
