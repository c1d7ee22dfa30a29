#!/usr/bin/python3
"""Writes the seed corpus of the fuzz harnesses into corpus/<harness>/ (committed; rerun after
changing a harness's input format). Needs protoc and Debian's python3-protobuf, as the Python example.

usage: make-seeds.py [OUT_DIR]   (default: corpus/ next to this script)
"""
import os
import pathlib
import struct
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
PROTO = HERE.parent.parent / 'abi-spec/src/main/proto'


def varint(n):
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if n == 0:
            return bytes(out)


def main():
    out = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / 'corpus'
    with tempfile.TemporaryDirectory() as gen:
        subprocess.run(['protoc', '-I', str(PROTO), f'--python_out={gen}', str(PROTO / 'hyperdmabuf_common.proto'),
                        str(PROTO / 'client.proto')], check=True)
        sys.path.insert(0, gen)
        import client_pb2 as pb
        import hyperdmabuf_common_pb2 as common

    def frame(msg):
        body = msg.SerializeToString()
        return varint(len(body)) + body

    def response(request_id, fds=0, **result):
        r = pb.Response(request_id=request_id, fd_count=fds)
        for k, v in result.items():
            getattr(r, k).CopyFrom(v)
        return frame(pb.ServerFrame(response=r))

    def event(record, sub=1, dropped=0):
        return frame(pb.ServerFrame(event=pb.Event(subscription_id=sub, uevent=record, overflow_dropped=dropped)))

    bid = common.BufferId(exporter_vm=1, export_number=2, nonce=3)
    md = common.Metadata(version=1, content_type='video/raw', size=4000,
                         tags={'stream': 's', 'slot': '0', 'slots': '1', 'frame_header': '4032'},
                         image=common.ImageInfo(width=16, height=16, fourcc=0x34325241,
                                                planes=[common.Plane(offset=0, stride=64)]))
    info = pb.BufferInfo(id=bid, exporter_vm=1, target_vm=2, length=8192, metadata=md, state='exported')
    add = (b'add@/hyperdmabuf/vm1/00000001-00000002-0000000000000003\0ACTION=add\0'
           b'DEVPATH=/hyperdmabuf/vm1/00000001-00000002-0000000000000003\0SUBSYSTEM=hyperdmabuf\0SEQNUM=1\0'
           b'BUFFER=00000001-00000002-0000000000000003\0TAG_STREAM=s\0TAG_SLOT=0\0TAG_SLOTS=1\0')
    imported = pb.Imported(id=bid, offset=0, length=8192, access=common.ACCESS_READ_WRITE, metadata=md,
                           fence_offset=4096)
    # fd spec byte: 1 memfd of 4096 << 1 = 8192 bytes.
    one_fd = 1 | (1 << 2)
    stream = {
        'caps': (0, 0, response(1, caps=pb.Caps(backend='kvm-ivshmem', local_vm=2, page_size=4096,
                                                  roles=['source'], abi_version=1))),
        'targets': (1, 0, response(1, targets=pb.Targets(targets=[pb.Target(vm=1, name='a', roles=['sink'])]))),
        'list': (2, 0, response(1, buffers=pb.BufferList(buffers=[info]))),
        'query': (3, 0, response(1, buffer=info)),
        'stats': (4, 0, response(1, stats=pb.StatsResult(usage=[pb.Usage(scope='vm', id=1, bytes=4096)]))),
        'import': (5, one_fd, response(1, fds=1, imported=imported)),
        'alloc': (6, one_fd, response(1, fds=1, allocated=pb.Allocated(handle=1, offset=0, length=4096))),
        'subscribe': (7, 0, event(add) + response(1, subscribed=pb.Subscribed(subscription_id=1))),
        'events': (8, 0, event(add) + event(b'', dropped=5) + event(b'remove@/x\0ACTION=remove\0REASON=peer-lost\0')),
        'fence-wait': (9, 0, response(1, fence=pb.FenceState(value=1, error=0))),
        'fence-wake': (10, one_fd, response(1, fds=1, wake_lease=pb.WakeLease(vector=2, bit_held_by_daemon=True))),
        'doorbell': (11, one_fd, response(1, fds=1)),
        'export': (12, 0, response(1, exported=pb.Exported(id=bid, reexport=False, fence_offset=4096))),
        'stream-open': (13, one_fd, response(1, subscribed=pb.Subscribed(subscription_id=1)) + event(add) +
                        response(2, fds=1, imported=imported) + response(3)),
        'refused': (0, 0, frame(pb.ServerFrame(response=pb.Response(request_id=0, error=common.EACCES,
                                                                       message='no')))),
    }
    uevent = {
        'add': add,
        'values-with-equals': b'change@/d\0ACTION=change\0TAG_X=a=b\0CONTENT_TYPE=\0',
        'header-only': b'add@/d\0',
    }
    header = struct.pack('<QQQQII', 7, 1700000000000000000, 16666667, 1000, 5, 3) + bytes(24) + b'abc'
    frame_header = {
        'valid': struct.pack('<QQQ', 7, 1000, 8192) + b'1024\0' + header,
        'over-content': struct.pack('<QQQ', 7, 10, 8192) + b'64\0' + header,
        'bad-tag': struct.pack('<QQQ', 0, 0, 512) + b'00\0' + bytes(512),
    }
    for name, seeds in (('daemon_stream', {k: bytes([op, fds]) + data for k, (op, fds, data) in stream.items()}),
                        ('uevent', uevent), ('frame_header', frame_header)):
        d = out / name
        d.mkdir(parents=True, exist_ok=True)
        for k, v in seeds.items():
            (d / k).write_bytes(v)
        print(f'{d}: {len(seeds)} seeds')
    return 0


if __name__ == '__main__':
    sys.exit(main())
