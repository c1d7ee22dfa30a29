"""A small hyperdmabuf client in pure Python (stdlib + google.protobuf).

It speaks the client ABI of abi-spec/ABI.md ("Framing") on the daemon's Unix stream socket:
each frame is a varint32 length followed by one protobuf message; the client sends
``hyperdmabuf.v1.Request``, the daemon answers with ``hyperdmabuf.v1.ServerFrame`` (a
``Response`` or an ``Event``). File descriptors arrive as SCM_RIGHTS ancillary data no later
than the first byte of their frame; they are kept in a FIFO and each completed response takes
``Response.fd_count`` of them from its head.

The protobuf bindings are generated, not checked in::

    protoc -I abi-spec/src/main/proto --python_out=OUTDIR \\
        abi-spec/src/main/proto/hyperdmabuf_common.proto abi-spec/src/main/proto/client.proto

This module finds ``client_pb2`` and ``hyperdmabuf_common_pb2`` in, in this order: the directory
named by the environment variable ``HDMABUF_PY_GEN``, anywhere on ``sys.path`` (e.g. via
``PYTHONPATH``), or the directory of this file.

Usage::

    with Client("/run/hyperdmabuf/source.sock") as c:
        c.subscribe([[("CONTENT_TYPE", "video/*")]], replay=True)
        action, props = c.next_event(timeout=10)
        mm, imported = c.import_buffer(props["BUFFER"])
        ...
        mm.close()
        c.release(props["BUFFER"])

Fences (ABI.md "Fences") go through the daemon only; this module never maps the fence page::

    # consumer, on the source socket, for frame r
    value, error = c.fence_wait(buffer_id, "acquire", r, timeout_ms=5000)
    ...                                  # error != 0: the stream ended (see fence_wait)
    c.fence_signal(buffer_id, "release", r)

The client is single-threaded: one request at a time, events that arrive meanwhile are queued
for next_event().
"""

import array
import collections
import mmap
import os
import socket
import struct
import sys
import time

_GEN_ENV = "HDMABUF_PY_GEN"


def _load_bindings():
    gen = os.environ.get(_GEN_ENV)
    if gen:
        sys.path.insert(0, os.path.abspath(gen))
    try:
        import client_pb2  # noqa: F401  (generated)
        import hyperdmabuf_common_pb2  # noqa: F401
    except ImportError:
        here = os.path.dirname(os.path.abspath(__file__))
        if here not in sys.path:
            sys.path.append(here)
        try:
            import client_pb2  # noqa: F811
            import hyperdmabuf_common_pb2  # noqa: F811
        except ImportError as e:
            raise ImportError(
                "hyperdmabuf protobuf bindings not found (%s). Generate them with\n"
                "  protoc -I abi-spec/src/main/proto --python_out=OUTDIR "
                "abi-spec/src/main/proto/hyperdmabuf_common.proto abi-spec/src/main/proto/client.proto\n"
                "and set %s=OUTDIR (needs python3-protobuf and protobuf-compiler)." % (e, _GEN_ENV)) from e
    return client_pb2, hyperdmabuf_common_pb2


pb, common = _load_bindings()

# ABI.md "Framing": at most 65536 message bytes per frame to the daemon, 16 MiB from it;
# the prefix is at most 5 bytes.
MAX_FRAME = 65536
MAX_SERVER_FRAME = 16 << 20
# Ancillary buffer for received fds, as ABI.md asks: CMSG_SPACE(16 * sizeof(int)).
_ANC_SIZE = socket.CMSG_SPACE(16 * array.array("i").itemsize)
# Action reported by next_event() for an overflow marker (events were dropped by the daemon).
OVERFLOW = "overflow"


class HdmabufError(Exception):
    """An error response (code_name is the ErrorCode name, e.g. "ENOENT") or a protocol failure."""

    def __init__(self, code_name, message):
        super().__init__("%s: %s" % (code_name, message))
        self.code_name = code_name
        self.message = message


def error_name(code):
    """Name of an ErrorCode value; unknown values (newer daemon) mean "failed, cause unknown"."""
    try:
        return common.ErrorCode.Name(code)
    except ValueError:
        return "UNKNOWN_%d" % code


# ---- buffer ids ----

def format_buffer_id(bid):
    """Text form used in events and on command lines: EEEEEEEE-NNNNNNNN-RRRRRRRRRRRRRRRR."""
    return "%08x-%08x-%016x" % (bid.exporter_vm, bid.export_number, bid.nonce)


def parse_buffer_id(text):
    """BufferId from its text form (as in the BUFFER property of an event)."""
    parts = text.split("-")
    if len(parts) != 3 or [len(p) for p in parts] != [8, 8, 16]:
        raise ValueError("buffer id must look like 00000001-0000002a-0123456789abcdef: %r" % text)
    exporter, number, nonce = (int(p, 16) for p in parts)
    return common.BufferId(exporter_vm=exporter, export_number=number, nonce=nonce)


def _as_buffer_id(bid):
    return parse_buffer_id(bid) if isinstance(bid, str) else bid


# ---- uevent records ----

def parse_uevent(record):
    """Parses b"ACTION@DEVPATH\\0KEY=VALUE\\0...": returns (action, {key: value}) in record order."""
    fields = record.decode("utf-8").split("\0")
    while fields and fields[-1] == "":
        fields.pop()  # the record ends with a NUL
    if not fields or "@" not in fields[0]:
        raise HdmabufError("EBADMSG", "uevent record lacks an ACTION@DEVPATH header: %r" % record[:80])
    action, devpath = fields[0].split("@", 1)
    props = {}
    for f in fields[1:]:
        key, eq, value = f.partition("=")
        if not eq or not key:
            raise HdmabufError("EBADMSG", "uevent property without '=': %r" % f)
        props[key] = value
    if props.get("ACTION", action) != action or props.get("DEVPATH", devpath) != devpath:
        raise HdmabufError("EBADMSG", "uevent header %r does not match ACTION/DEVPATH" % fields[0])
    props.setdefault("ACTION", action)
    props.setdefault("DEVPATH", devpath)
    return action, props


# ---- varints ----

def _encode_varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _decode_varint(buf):
    """(value, prefix length) of the varint32 at the start of buf; None if incomplete."""
    value = 0
    for i in range(5):
        if i >= len(buf):
            return None
        b = buf[i]
        value |= (b & 0x7F) << (7 * i)
        if b < 0x80:
            return value, i + 1
    raise HdmabufError("EPROTO", "length prefix longer than 5 bytes")


# ---- mapping ----

def fd_access_mode(fd):
    """"r", "w" or "rw": how the fd was opened (a read-only export must give "r")."""
    import fcntl
    mode = fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE
    return {os.O_RDONLY: "r", os.O_WRONLY: "w", os.O_RDWR: "rw"}[mode]


def map_imported(fd, imported):
    """mmap of [offset, offset+length) of fd: PROT_READ for read-only exports, else read-write.

    The fd may be closed afterwards (mmap keeps its own reference)."""
    if imported.offset % mmap.ALLOCATIONGRANULARITY:
        raise HdmabufError("EPROTO", "offset %d is not page-aligned" % imported.offset)
    prot = mmap.PROT_READ
    if imported.access != common.ACCESS_READ_ONLY:
        prot |= mmap.PROT_WRITE
    return mmap.mmap(fd, imported.length, flags=mmap.MAP_SHARED, prot=prot, offset=imported.offset)


# ---- fences ----

ACQUIRE = "acquire"
RELEASE = "release"
_TIMELINES = {ACQUIRE: pb.TIMELINE_ACQUIRE, RELEASE: pb.TIMELINE_RELEASE}
# Fence values are below 2^63 (ABI.md "Fences"); this one marks a poisoned timeline.
FENCE_VALUE_LIMIT = 1 << 63
POISON_VALUE = FENCE_VALUE_LIMIT - 1


def _timeline(name):
    try:
        return _TIMELINES[name]
    except (KeyError, TypeError):
        raise ValueError("timeline must be %r or %r, not %r" % (ACQUIRE, RELEASE, name)) from None


def _fence_value(value):
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < FENCE_VALUE_LIMIT:
        raise ValueError("fence value must be an integer in [0, 2**63): %r" % (value,))
    return value


def _u32(n, what):
    if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n < (1 << 32):
        raise ValueError("%s must be an integer in [0, 2**32): %r" % (what, n))
    return n


def _close_all(fds):
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


# ---- frame headers (ABI.md "Frame headers") ----

FRAME_HEADER_TAG = "frame_header"
FRAME_HEADER_LENGTH = 512
FRAME_HEADER_ALIGNMENT = 64
FRAME_PRIVATE_MAX = 256
FRAME_FLAG_KEY_FRAME = 1 << 0
FRAME_FLAG_DISCONTINUITY = 1 << 1
FRAME_FLAG_END_OF_STREAM = 1 << 2
# sequence, pts_ns, duration_ns, payload_length (u64), flags, private_length (u32), little-endian.
_FRAME_HEADER = struct.Struct("<QQQQII")
_FRAME_PRIVATE_DATA_OFFSET = 64

FrameHeader = collections.namedtuple(
    "FrameHeader", "sequence pts_ns duration_ns payload_length flags private_data")


def frame_header_offset(imported):
    """The frame header's byte offset in an imported stream buffer, or None if it has none.

    Raises HdmabufError EPROTO when the "frame_header" tag is no decimal offset, or places the
    header unaligned, over the content (metadata.size) or past the buffer's end."""
    text = imported.metadata.tags.get(FRAME_HEADER_TAG)
    if text is None:
        return None
    if not text.isdigit() or (len(text) > 1 and text[0] == "0") or len(text) > 19:
        raise HdmabufError("EPROTO", "frame_header tag %r is no decimal offset" % text)
    offset = int(text)
    if (offset % FRAME_HEADER_ALIGNMENT or offset < imported.metadata.size or
            offset + FRAME_HEADER_LENGTH > imported.length):
        raise HdmabufError("EPROTO", "frame header at %d does not fit a buffer of %d bytes after %d bytes of "
                           "content" % (offset, imported.length, imported.metadata.size))
    return offset


def read_frame_header(mm, offset, sequence, content_size):
    """Reads the header of frame `sequence` at offset of a mapping, once, and validates it.

    Call it only after a wait saw acquire >= the frame's round + 1 (the header is published
    with the frame). Returns a FrameHeader (private_data: bytes of private_length); raises
    HdmabufError EPROTO for a sequence other than `sequence`, a payload_length above
    content_size or a private_length above 256."""
    raw = bytes(mm[offset:offset + _FRAME_PRIVATE_DATA_OFFSET + FRAME_PRIVATE_MAX])  # one copy
    seq, pts, duration, payload, flags, private_length = _FRAME_HEADER.unpack_from(raw, 0)
    if seq != sequence or payload > content_size or private_length > FRAME_PRIVATE_MAX:
        raise HdmabufError("EPROTO", "invalid header of frame %d: sequence %d, payload %d of at most %d, "
                           "private %d" % (sequence, seq, payload, content_size, private_length))
    start = _FRAME_PRIVATE_DATA_OFFSET
    return FrameHeader(seq, pts, duration, payload, flags, raw[start:start + private_length])


class Client:
    """A connection to a local hyperdmabuf daemon (sink or source)."""

    def __init__(self, socket_path, timeout=30.0):
        self.timeout = timeout
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._sock.connect(socket_path)
        except OSError:
            self._sock.close()
            raise
        self._inbuf = bytearray()
        self._fds = collections.deque()
        self._events = collections.deque()
        self._next_id = 1  # request_id 0 is what the daemon uses for connection-level errors
        self._broken = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        _close_all(self._fds)
        self._fds.clear()

    # ---- generic request ----

    def request(self, op_name, message=None, timeout=None):
        """Sends Request{op_name: message} and waits for its Response.

        op_name is the field name of Request.op ("query_caps", "import", ...). Returns
        (Response, fds); the caller owns the fds. Error responses raise HdmabufError."""
        req = pb.Request(request_id=self._next_id)
        self._next_id += 1
        sub = getattr(req, op_name)
        sub.SetInParent()  # an empty message (QueryCaps) must still select the op
        if message is not None:
            sub.MergeFrom(message)
        body = req.SerializeToString()
        if len(body) > MAX_FRAME:
            raise HdmabufError("EMSGSIZE", "request of %d bytes exceeds %d" % (len(body), MAX_FRAME))
        self._check()
        self._sock.sendall(_encode_varint(len(body)) + body)
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            frame, fds = self._read_frame(deadline, op_name)
            if frame.WhichOneof("kind") == "event":
                self._events.append(frame.event)
                continue
            r = frame.response
            if r.request_id != req.request_id:
                _close_all(fds)  # a late answer to an earlier request that timed out
                if r.request_id == 0 and r.error != common.OK:
                    # The daemon could not read a request of ours (EBADMSG, or EMSGSIZE and it
                    # closes): that request will never be answered, so the connection is unusable.
                    self._fail(HdmabufError(error_name(r.error), r.message))
                continue
            if r.error != common.OK:
                _close_all(fds)
                raise HdmabufError(error_name(r.error), r.message)
            return r, fds

    # ---- operations ----

    def caps(self):
        return self.request("query_caps")[0].caps

    def targets(self):
        return self.request("query_targets")[0].targets

    def list(self):
        return self.request("list")[0].buffers

    def query(self, buffer_id):
        return self.request("query", pb.Query(id=_as_buffer_id(buffer_id)))[0].buffer

    def subscribe(self, rules=(), replay=False):
        """Subscribes; returns the subscription id. Events are read with next_event().

        rules: a list of rules (ORed); a rule is a list of (key, glob) or (key, glob, negate)
        tuples (ANDed) or a MatchRule. No rules = every event. replay=True also emits "add" for
        matching buffers already present."""
        msg = pb.Subscribe(replay=replay)
        for rule in rules:
            if isinstance(rule, pb.MatchRule):
                msg.rules.append(rule)
                continue
            r = msg.rules.add()
            for m in rule:
                r.matches.add(key=m[0], glob=m[1], negate=bool(m[2]) if len(m) > 2 else False)
        return self.request("subscribe", msg)[0].subscribed.subscription_id

    def unsubscribe(self, subscription_id):
        self.request("unsubscribe", pb.Unsubscribe(subscription_id=subscription_id))

    def import_fd(self, buffer_id, dma_buf=False):
        """IMPORT without mapping: returns (fd, Imported); the caller owns (and closes) the fd.

        dma_buf=True asks for a dma-buf of exactly the buffer (ABI.md "Dma-buf imports"): the fd is
        then that dma-buf, offset 0, to hand to a GPU or compositor. Refused, never replaced by the
        region fd: ENOTSUP where caps().dma_buf is false (caps().dma_buf_unavailable says why),
        EACCES for a read-only export, E2BIG over the kernel's udmabuf size_limit_mb."""
        r, fds = self.request("import", pb.Import(id=_as_buffer_id(buffer_id), dma_buf=dma_buf))
        if len(fds) != 1:
            _close_all(fds)
            raise HdmabufError("EPROTO", "IMPORT response carries %d fds, expected 1" % len(fds))
        if r.imported.dma_buf != dma_buf or (dma_buf and r.imported.offset != 0):
            _close_all(fds)
            raise HdmabufError("EPROTO", "IMPORT answered dma_buf=%s, asked %s" % (r.imported.dma_buf, dma_buf))
        return fds[0], r.imported

    def import_buffer(self, buffer_id, dma_buf=False):
        """IMPORT and map: returns (mmap, Imported). Read-only exports are mapped PROT_READ.

        With dma_buf=True the mapping is of a dma-buf of exactly the buffer (see import_fd).
        Close the mmap when done, then release()."""
        fd, imported = self.import_fd(buffer_id, dma_buf)
        try:
            return map_imported(fd, imported), imported
        except BaseException:
            try:
                self.release(buffer_id)
            except (HdmabufError, OSError):
                pass
            raise
        finally:
            os.close(fd)

    def release(self, buffer_id):
        self.request("release", pb.Release(id=_as_buffer_id(buffer_id)))

    # ---- fences (ABI.md "Fences"), through the daemon only ----

    def fence_signal(self, buffer_id, timeline, value, error=0):
        """FENCE_SIGNAL: advances a timeline of the buffer's fence to value, with an error word.

        timeline is "acquire" (on the sink, by the export's owner: "content ready up to value") or
        "release" (on the source, by a client holding an import: "done reading up to value").
        error is 0, an ErrorCode number, or an application code; the other side's waiters read it
        with the value. The daemon stores error, then value, in the shared fence slot and rings the
        other VM's fence doorbell. Values never go backwards (EINVAL) and are below 2^63; a value
        equal to the current one only rings the doorbell (the error is then not stored).

        This client never maps the fence page: every signal is one socket round trip. That is also
        the only way for a read-only import, whose fd cannot be mapped writable."""
        msg = pb.FenceSignal(id=_as_buffer_id(buffer_id), timeline=_timeline(timeline),
                             value=_fence_value(value), error=_u32(error, "error"))
        self.request("fence_signal", msg)

    def fence_wait(self, buffer_id, timeline, value, timeout_ms):
        """FENCE_WAIT: blocks in the daemon until the timeline reaches value; returns (value, error).

        timeline is "acquire" on the source (wait for the producer) or "release" on the sink (wait
        for the consumer). The returned value is the one the daemon observed (>= the awaited value)
        and error the error word stored with it: 0, or a code the other side signalled. When the
        other VM is gone or the buffer is unexported, the daemon either answers with an error
        (HdmabufError EPEERLOST / ENOENT) or, if the poisoned value got there first, with value
        2**63 - 1 and error EPEERLOST (1000) / ENOENT (2): treat any non-zero error as the end of
        the stream. timeout_ms (0 .. 2**32 - 1; 0 = only check now) bounds the wait: HdmabufError
        ETIMEDOUT when it passes. The client waits up to timeout_ms plus its own timeout for the
        answer."""
        timeout_ms = _u32(timeout_ms, "timeout_ms")
        msg = pb.FenceWait(id=_as_buffer_id(buffer_id), timeline=_timeline(timeline),
                           value=_fence_value(value), timeout_ms=timeout_ms)
        r = self.request("fence_wait", msg, timeout=timeout_ms / 1000.0 + self.timeout)[0]
        return r.fence.value, r.fence.error

    def next_event(self, timeout=None):
        """The next event as (action, {property: value}); None if none arrives within timeout
        seconds (None = wait forever).

        When the daemon dropped events because this client read too slowly, returns
        (OVERFLOW, {"DROPPED": "<count>"}): re-sync with list()."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._events:
            try:
                frame, fds = self._read_frame(deadline, "event")
            except HdmabufError as e:
                if e.code_name == "ETIMEDOUT":
                    return None
                raise
            if frame.WhichOneof("kind") == "event":
                self._events.append(frame.event)
            else:
                _close_all(fds)  # a response nobody waits for any more
        e = self._events.popleft()
        if e.overflow_dropped:
            return OVERFLOW, {"DROPPED": str(e.overflow_dropped)}
        return parse_uevent(e.uevent)

    # ---- reading frames ----

    def _check(self):
        if self._broken is not None:
            raise self._broken
        if self._sock is None:
            raise HdmabufError("EBADF", "client is closed")

    def _fail(self, err):
        if self._broken is None:
            self._broken = err
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        raise err

    def _read_frame(self, deadline, what):
        """Reads one ServerFrame; returns (frame, fds belonging to it)."""
        while True:
            self._check()
            prefix = _decode_varint(self._inbuf)
            if prefix is not None:
                length, n = prefix
                if length > MAX_SERVER_FRAME:
                    self._fail(HdmabufError("EMSGSIZE", "daemon sent a frame of %d bytes" % length))
                if len(self._inbuf) >= n + length:
                    body = bytes(self._inbuf[n:n + length])
                    del self._inbuf[:n + length]
                    return self._complete(body)
            self._receive(deadline, what)

    def _complete(self, body):
        frame = pb.ServerFrame()
        try:
            frame.ParseFromString(body)
        except Exception as e:  # google.protobuf.message.DecodeError
            self._fail(HdmabufError("EBADMSG", "undecodable frame from the daemon: %s" % e))
        fds = []
        if frame.WhichOneof("kind") == "response":
            count = frame.response.fd_count
            if count > len(self._fds):
                self._fail(HdmabufError("EPROTO", "response announces %d fds, %d arrived" %
                                        (count, len(self._fds))))
            fds = [self._fds.popleft() for _ in range(count)]
        return frame, fds

    def _receive(self, deadline, what):
        # A deadline already passed still polls once, so next_event(0) sees what is queued.
        self._sock.settimeout(None if deadline is None else max(0.0, deadline - time.monotonic()))
        try:
            data, anc, flags, _ = self._sock.recvmsg(65536, _ANC_SIZE, socket.MSG_CMSG_CLOEXEC)
        except (socket.timeout, BlockingIOError):
            raise HdmabufError("ETIMEDOUT", "no %s within the timeout" % what) from None
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds = array.array("i")
                fds.frombytes(payload[:len(payload) - len(payload) % fds.itemsize])
                self._fds.extend(fds)
        if flags & socket.MSG_CTRUNC:
            self._fail(HdmabufError("EPROTO", "file descriptors were truncated (MSG_CTRUNC)"))
        if not data:
            self._fail(HdmabufError("EPEERLOST", "the daemon closed the connection"))
        self._inbuf += data
