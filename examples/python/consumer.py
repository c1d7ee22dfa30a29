#!/usr/bin/env python3
"""Consume buffers from a hyperdmabuf source daemon and verify their SHA-256.

Subscribes (with replay) to "add" events whose CONTENT_TYPE matches --content-type, imports
each buffer, hashes metadata.size bytes of the mapping (zero copy: the hash reads the shared
pages) and compares with --expect-sha256, or else with the buffer's "sha256" tag (event
property TAG_SHA256). Prints per buffer:

    IMPORTED <buffer-id> access=ro|rw fd=r|rw length=<bytes> offset=<bytes>
    OK <buffer-id> <size> <sha256>                      (digest matches)
    MISMATCH <buffer-id> <size> <sha256> expected <hex> (or "expected none")
    ERROR <buffer-id> <code> <message>                  (import failed)

Exit status: 0 if all --count buffers matched, 1 if any did not, 2 on timeout or failure.
Needs the generated bindings: see README.md (HDMABUF_PY_GEN).
"""

import argparse
import hashlib
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hdmabuf  # noqa: E402


def verify(client, buffer_id, event_props, expect):
    """Imports, hashes, releases one buffer; prints its lines and returns True if it matched."""
    try:
        fd, imported = client.import_fd(buffer_id)
    except hdmabuf.HdmabufError as e:
        print("ERROR %s %s %s" % (buffer_id, e.code_name, e.message), flush=True)
        return False
    try:
        fd_mode = hdmabuf.fd_access_mode(fd)
        mm = hdmabuf.map_imported(fd, imported)
    except BaseException:
        client.release(buffer_id)
        raise
    finally:
        os.close(fd)
    ro = imported.access == hdmabuf.common.ACCESS_READ_ONLY
    print("IMPORTED %s access=%s fd=%s length=%d offset=%d" %
          (buffer_id, "ro" if ro else "rw", fd_mode, imported.length, imported.offset), flush=True)
    try:
        size = imported.metadata.size
        if size > imported.length:
            print("MISMATCH %s %d - metadata.size exceeds the buffer length %d" %
                  (buffer_id, size, imported.length), flush=True)
            return False
        with memoryview(mm) as whole, whole[:size] as content:
            digest = hashlib.sha256(content).hexdigest()
    finally:
        mm.close()
        client.release(buffer_id)
    expected = expect or imported.metadata.tags.get("sha256") or event_props.get("TAG_SHA256")
    if expected and digest == expected.lower():
        print("OK %s %d %s" % (buffer_id, size, digest), flush=True)
        return True
    print("MISMATCH %s %d %s expected %s" % (buffer_id, size, digest, expected or "none"), flush=True)
    return False


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--socket", required=True, help="source daemon socket")
    ap.add_argument("--content-type", required=True, help="glob on CONTENT_TYPE, e.g. 'video/*'")
    ap.add_argument("--expect-sha256", help="expected digest (default: the buffer's sha256 tag)")
    ap.add_argument("--count", type=int, default=1, help="buffers to verify before exiting (default 1)")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for them all (default 60)")
    args = ap.parse_args(argv)

    deadline = time.monotonic() + args.timeout
    seen = set()
    failures = 0
    try:
        with hdmabuf.Client(args.socket, timeout=args.timeout) as client:
            sub = client.subscribe([[("ACTION", "add"), ("CONTENT_TYPE", args.content_type)]], replay=True)
            print("READY consumer subscription=%d" % sub, flush=True)
            while len(seen) < args.count:
                left = deadline - time.monotonic()
                event = client.next_event(timeout=max(0.0, left)) if left > 0 else None
                if event is None:
                    print("consumer: timed out with %d of %d buffers" % (len(seen), args.count), file=sys.stderr)
                    return 2
                action, props = event
                if action == hdmabuf.OVERFLOW:
                    print("consumer: daemon dropped %s events" % props["DROPPED"], file=sys.stderr)
                    continue
                buffer_id = props.get("BUFFER")
                if action != "add" or not buffer_id or buffer_id in seen:
                    continue
                seen.add(buffer_id)
                if not verify(client, buffer_id, props, args.expect_sha256):
                    failures += 1
    except (hdmabuf.HdmabufError, OSError) as e:
        print("consumer: %s" % e, file=sys.stderr)
        return 2
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
