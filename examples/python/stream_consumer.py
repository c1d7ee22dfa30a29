#!/usr/bin/env python3
"""Consume a stream of frames from one hyperdmabuf buffer, paced by its fences.

Subscribes (with replay) to "add" events whose CONTENT_TYPE matches --content-type, imports the
first such buffer and then, for frame r = 1 .. --frames:

  1. FENCE_WAIT acquire >= r (blocks in the source daemon until the producer signalled frame r),
  2. checks the acquire error word is 0 and the buffer's first 8 bytes (little-endian u64) are r,
  3. FENCE_SIGNAL release = r (hands the buffer back to the producer).

It never maps the fence page: both fence operations go through the daemon's socket, so this
works for read-only imports too (ABI.md "Fences"). Prints:

    READY stream-consumer subscription=<id>
    IMPORTED <buffer-id> access=ro|rw length=<bytes>
    FRAMES <N> OK                          (all frames checked)
    ERROR <frame> <what>                   (the buffer did not hold the frame number)
    FENCE-ERROR <frame> <error>            (the producer signalled a non-zero error word)

Exit status: 0 all frames OK, 1 a frame's bytes were wrong, 2 timeout or failure, 3 fence error.
--timeout bounds the whole run (default 60 s). Needs the generated bindings: see README.md.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hdmabuf  # noqa: E402

EXIT_OK, EXIT_MISMATCH, EXIT_FAILURE, EXIT_FENCE_ERROR = 0, 1, 2, 3
# FenceWait.timeout_ms is a uint32.
_MAX_WAIT_MS = (1 << 32) - 1


class _Timeout(Exception):
    pass


def _left_ms(deadline, what):
    left = deadline - time.monotonic()
    if left <= 0:
        raise _Timeout("timed out %s" % what)
    return min(_MAX_WAIT_MS, max(1, int(left * 1000)))


def _await_buffer(client, deadline):
    """The BUFFER property of the first matching "add" event."""
    while True:
        left = deadline - time.monotonic()
        event = client.next_event(timeout=left) if left > 0 else None
        if event is None:
            raise _Timeout("timed out waiting for a buffer")
        action, props = event
        if action == hdmabuf.OVERFLOW:
            print("stream-consumer: daemon dropped %s events" % props["DROPPED"], file=sys.stderr)
            continue
        if action == "add" and props.get("BUFFER"):
            return props["BUFFER"]


def stream(client, buffer_id, mm, frames, deadline):
    """Runs the frame loop on an imported, mapped buffer; returns the exit status."""
    for r in range(1, frames + 1):
        try:
            value, error = client.fence_wait(buffer_id, hdmabuf.ACQUIRE, r,
                                             _left_ms(deadline, "before frame %d" % r))
        except hdmabuf.HdmabufError as e:
            if e.code_name == "ETIMEDOUT":
                raise _Timeout("timed out waiting for frame %d: %s" % (r, e.message)) from None
            raise
        if error != 0:
            print("FENCE-ERROR %d %d" % (r, error), flush=True)
            return EXIT_FENCE_ERROR
        # The daemon saw acquire >= r before it answered, so the producer's writes for frame r are
        # visible here (they were stored before the value, which was stored with release semantics).
        got = int.from_bytes(mm[0:8], "little")
        if got != r:
            print("ERROR %d buffer holds %d (acquire value %d)" % (r, got, value), flush=True)
            return EXIT_MISMATCH
        client.fence_signal(buffer_id, hdmabuf.RELEASE, r)
    print("FRAMES %d OK" % frames, flush=True)
    return EXIT_OK


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--socket", required=True, help="source daemon socket")
    ap.add_argument("--content-type", required=True, help="glob on CONTENT_TYPE, e.g. 'video/*'")
    ap.add_argument("--frames", type=int, required=True, help="frames to consume (>= 1)")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds for the whole run (default 60)")
    args = ap.parse_args(argv)
    if args.frames < 1:
        ap.error("--frames must be at least 1")

    deadline = time.monotonic() + args.timeout
    try:
        with hdmabuf.Client(args.socket, timeout=args.timeout) as client:
            sub = client.subscribe([[("ACTION", "add"), ("CONTENT_TYPE", args.content_type)]], replay=True)
            print("READY stream-consumer subscription=%d" % sub, flush=True)
            buffer_id = _await_buffer(client, deadline)
            mm, imported = client.import_buffer(buffer_id)
            try:
                ro = imported.access == hdmabuf.common.ACCESS_READ_ONLY
                print("IMPORTED %s access=%s length=%d" % (buffer_id, "ro" if ro else "rw", imported.length),
                      flush=True)
                if imported.length < 8:
                    print("ERROR 0 buffer of %d bytes cannot hold a frame number" % imported.length, flush=True)
                    return EXIT_MISMATCH
                return stream(client, buffer_id, mm, args.frames, deadline)
            finally:
                mm.close()
                try:
                    client.release(buffer_id)
                except (hdmabuf.HdmabufError, OSError) as e:  # e.g. the buffer is already gone
                    print("stream-consumer: release: %s" % e, file=sys.stderr)
    except _Timeout as e:
        print("stream-consumer: %s" % e, file=sys.stderr)
        return EXIT_FAILURE
    except (hdmabuf.HdmabufError, OSError) as e:
        print("stream-consumer: %s" % e, file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
