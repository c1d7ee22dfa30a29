#!/usr/bin/env python3
"""Consume a frame stream (a FrameProducer's or libhdmabuf's) with its per-frame data.

Subscribes (with replay) to "add" events of the stream's buffers (tag "stream" = --stream),
imports all K of them (tags "slot" and "slots"), finds each buffer's frame header (tag
"frame_header", ABI.md "Frame headers") and then, for frame n = 0, 1, ... in buffer n % K,
round r = n // K:

  1. FENCE_WAIT acquire >= r + 1 (blocks in the source daemon until the producer published it),
  2. reads the frame header once (sequence, pts_ns, duration_ns, payload_length, flags, private
     data) and checks it is frame n's,
  3. FENCE_SIGNAL release = r + 1 (hands the buffer back),

until the frame flagged END_OF_STREAM. Like stream_consumer.py it never maps a fence page. Prints

    READY frame-consumer subscription=<id>
    FRAME <n> pts=<ns> duration=<ns> payload=<bytes> flags=<key,discont,eos> private=<hex>   (--print)
    FRAMES <N> EOS                         (the end-of-stream frame was frame N - 1)
    ERROR <frame> <what>                   (an invalid header, or with --verify a wrong field or byte)
    FENCE-ERROR <frame> <error>            (the producer signalled a non-zero error word)

--verify checks every field and payload word against the test pattern of
libhdmabuf/tests/frame_pattern.h (the frame-header interop tests). Exit status: 0 end of stream
reached, 1 a wrong frame, 2 timeout or failure, 3 fence error. Needs the generated bindings: see
README.md.
"""

import argparse
import os
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hdmabuf  # noqa: E402

EXIT_OK, EXIT_MISMATCH, EXIT_FAILURE, EXIT_FENCE_ERROR = 0, 1, 2, 3
_MAX_WAIT_MS = (1 << 32) - 1
# frame_pattern.h
_FRAME_NS = 16666667
_GOLDEN = 0x9E3779B97F4A7C15
_PTS_SLACK_NS = 600 * 10**9


class _Timeout(Exception):
    pass


def _left_ms(deadline, what):
    left = deadline - time.monotonic()
    if left <= 0:
        raise _Timeout("timed out %s" % what)
    return min(_MAX_WAIT_MS, max(1, int(left * 1000)))


def _await_slots(client, deadline):
    """The stream's buffer ids by slot, from its "add" events."""
    ids = None
    while ids is None or None in ids:
        left = deadline - time.monotonic()
        event = client.next_event(timeout=left) if left > 0 else None
        if event is None:
            raise _Timeout("timed out waiting for the stream's buffers")
        action, props = event
        if action != "add":
            continue
        count, slot = int(props.get("TAG_SLOTS", "0")), int(props.get("TAG_SLOT", "-1"))
        if ids is None:
            ids = [None] * count
        if count != len(ids) or not 0 <= slot < count or ids[slot] is not None:
            raise hdmabuf.HdmabufError("EPROTO", "slot %d of %d announced inconsistently" % (slot, count))
        ids[slot] = props["BUFFER"]
    return ids


def _expected(n, cap, pts0, eos):
    """frame_pattern.h's header of frame n (end of stream as the producer flagged it)."""
    flags = ((hdmabuf.FRAME_FLAG_KEY_FRAME if n % 30 == 0 else 0) |
             (hdmabuf.FRAME_FLAG_DISCONTINUITY if n % 97 == 50 else 0) |
             (hdmabuf.FRAME_FLAG_END_OF_STREAM if eos else 0))
    private = bytes((n * 31 + i * 7) & 0xFF for i in range(n % 257))
    return hdmabuf.FrameHeader(n, pts0 + n * _FRAME_NS, _FRAME_NS, cap - 8 * ((n * 7919) % (cap // 16 + 1)),
                               flags, private)


def _verify(n, header, mm, cap, pts0):
    """None if frame n is as frame_pattern.h produces it, else what differs."""
    want = _expected(n, cap, pts0, header.flags & hdmabuf.FRAME_FLAG_END_OF_STREAM)
    if header != want:
        return "header %s, expected %s" % (header, want)
    words = header.payload_length // 8
    got = struct.unpack_from("<%dQ" % words, mm, 0)
    mask = (1 << 64) - 1
    base = (n * _GOLDEN) & mask
    for w, value in enumerate(got):
        if value != (base + w) & mask:
            return "payload differs at byte %d" % (8 * w)
    return None


def _flag_names(flags):
    names = [name for bit, name in ((hdmabuf.FRAME_FLAG_KEY_FRAME, "key"),
                                    (hdmabuf.FRAME_FLAG_DISCONTINUITY, "discont"),
                                    (hdmabuf.FRAME_FLAG_END_OF_STREAM, "eos")) if flags & bit]
    return ",".join(names) or "-"


def stream(client, ids, maps, imports, args, deadline):
    offsets = [hdmabuf.frame_header_offset(imp) for imp in imports]
    if None in offsets:
        print("ERROR 0 the stream's buffers carry no frame headers", flush=True)
        return EXIT_MISMATCH
    cap = min(imports[0].metadata.size, imports[0].length)
    k, n, pts0 = len(ids), 0, None
    while True:
        slot, value = n % k, n // k + 1
        try:
            seen, error = client.fence_wait(ids[slot], hdmabuf.ACQUIRE, value,
                                            _left_ms(deadline, "before frame %d" % n))
        except hdmabuf.HdmabufError as e:
            if e.code_name == "ETIMEDOUT":
                raise _Timeout("timed out waiting for frame %d: %s" % (n, e.message)) from None
            raise
        if error != 0:
            print("FENCE-ERROR %d %d" % (n, error), flush=True)
            return EXIT_FENCE_ERROR
        try:
            header = hdmabuf.read_frame_header(maps[slot], offsets[slot], n, cap)
        except hdmabuf.HdmabufError as e:
            print("ERROR %d %s" % (n, e.message), flush=True)
            return EXIT_MISMATCH
        if args.print:
            print("FRAME %d pts=%d duration=%d payload=%d flags=%s private=%s" % (
                n, header.pts_ns, header.duration_ns, header.payload_length, _flag_names(header.flags),
                header.private_data.hex()), flush=True)
        if args.verify:
            if pts0 is None:
                pts0 = header.pts_ns
                if abs(pts0 - time.time_ns()) > _PTS_SLACK_NS:
                    print("ERROR 0 pts %d is not near CLOCK_REALTIME" % pts0, flush=True)
                    return EXIT_MISMATCH
            bad = _verify(n, header, maps[slot], cap, pts0)
            if bad is not None:
                print("ERROR %d %s" % (n, bad), flush=True)
                return EXIT_MISMATCH
        client.fence_signal(ids[slot], hdmabuf.RELEASE, value)
        n += 1
        if header.flags & hdmabuf.FRAME_FLAG_END_OF_STREAM:
            print("FRAMES %d EOS" % n, flush=True)
            return EXIT_OK


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--socket", required=True, help="source daemon socket")
    ap.add_argument("--stream", required=True, help="the stream's name (its exports' tag \"stream\")")
    ap.add_argument("--print", action="store_true", help="print every frame's header")
    ap.add_argument("--verify", action="store_true", help="check frames against the test pattern")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds for the whole run (default 60)")
    args = ap.parse_args(argv)

    deadline = time.monotonic() + args.timeout
    maps, imports, ids = [], [], []
    try:
        with hdmabuf.Client(args.socket, timeout=args.timeout) as client:
            sub = client.subscribe([[("ACTION", "add"), ("TAG_STREAM", args.stream)]], replay=True)
            print("READY frame-consumer subscription=%d" % sub, flush=True)
            try:
                for buffer_id in _await_slots(client, deadline):
                    mm, imported = client.import_buffer(buffer_id)
                    ids.append(buffer_id)
                    maps.append(mm)
                    imports.append(imported)
                client.unsubscribe(sub)
                return stream(client, ids, maps, imports, args, deadline)
            finally:
                for mm in maps:
                    mm.close()
                for buffer_id in ids:
                    try:
                        client.release(buffer_id)
                    except (hdmabuf.HdmabufError, OSError) as e:  # e.g. the stream is already gone
                        print("frame-consumer: release: %s" % e, file=sys.stderr)
    except _Timeout as e:
        print("frame-consumer: %s" % e, file=sys.stderr)
        return EXIT_FAILURE
    except (hdmabuf.HdmabufError, OSError) as e:
        print("frame-consumer: %s" % e, file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
