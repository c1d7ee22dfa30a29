#!/usr/bin/env python3
"""Proves the C codec matches the .proto files: every message and enum reachable from Request and
ServerFrame, as protoc reads them from abi-spec (proto3 `optional` as its synthetic oneof), must
equal what protoc-c generated (printed by proto-dump): names, numbers, labels, types, oneofs.

usage: check-proto.py PROTOC PROTO_DIR PROTO_DUMP
Exit 77 (skipped) without python3-protobuf.
"""
import subprocess
import sys
import tempfile

try:
    from google.protobuf import descriptor_pb2
except ImportError:
    print('SKIP: python3-protobuf is not installed')
    sys.exit(77)

FDP = descriptor_pb2.FieldDescriptorProto
TYPES = {FDP.TYPE_INT32: 'int32', FDP.TYPE_SINT32: 'sint32', FDP.TYPE_SFIXED32: 'sfixed32',
         FDP.TYPE_INT64: 'int64', FDP.TYPE_SINT64: 'sint64', FDP.TYPE_SFIXED64: 'sfixed64',
         FDP.TYPE_UINT32: 'uint32', FDP.TYPE_FIXED32: 'fixed32', FDP.TYPE_UINT64: 'uint64',
         FDP.TYPE_FIXED64: 'fixed64', FDP.TYPE_FLOAT: 'float', FDP.TYPE_DOUBLE: 'double',
         FDP.TYPE_BOOL: 'bool', FDP.TYPE_ENUM: 'enum', FDP.TYPE_STRING: 'string',
         FDP.TYPE_BYTES: 'bytes', FDP.TYPE_MESSAGE: 'message'}


def main():
    protoc, proto_dir, dump = sys.argv[1:4]
    with tempfile.NamedTemporaryFile(suffix='.pb') as out:
        subprocess.run([protoc, f'--proto_path={proto_dir}', '--include_imports', f'--descriptor_set_out={out.name}',
                        'client.proto'], check=True, cwd=proto_dir)
        fds = descriptor_pb2.FileDescriptorSet.FromString(out.read())
    messages, enums = {}, {}

    def collect(prefix, msgs, ens):
        for e in ens:
            enums[f'{prefix}.{e.name}'] = e
        for m in msgs:
            name = f'{prefix}.{m.name}'
            messages[name] = m
            collect(name, m.nested_type, m.enum_type)

    for f in fds.file:
        collect(f.package, f.message_type, f.enum_type)

    lines, seen = [], set()

    def dump_enum(name):
        if name in seen:
            return
        seen.add(name)
        for v in enums[name].value:
            lines.append(f'enum {name} {v.name}={v.number}')

    def dump_message(name):
        if name in seen:
            return
        seen.add(name)
        m = messages[name]
        lines.append(f'message {name}')
        first_of = {}
        for fld in m.field:
            if fld.HasField('oneof_index'):
                first_of.setdefault(fld.oneof_index, fld.number)
        for fld in sorted(m.field, key=lambda x: x.number):
            ref = fld.type_name.lstrip('.') if fld.type in (FDP.TYPE_MESSAGE, FDP.TYPE_ENUM) else '-'
            label = 'repeated' if fld.label == FDP.LABEL_REPEATED else 'single'
            oneof = first_of[fld.oneof_index] if fld.HasField('oneof_index') else 0
            lines.append(f'field {name} {fld.number} {fld.name} {label} {TYPES[fld.type]} {ref} oneof={oneof}')
        for fld in sorted(m.field, key=lambda x: x.number):
            if fld.type == FDP.TYPE_MESSAGE:
                dump_message(fld.type_name.lstrip('.'))
            elif fld.type == FDP.TYPE_ENUM:
                dump_enum(fld.type_name.lstrip('.'))

    dump_message('hyperdmabuf.v1.Request')
    dump_message('hyperdmabuf.v1.ServerFrame')
    c_lines = subprocess.run([dump], check=True, capture_output=True, text=True).stdout.splitlines()
    # protoc-c orders fields by number within each message too, but compare as sets per kind.
    want, got = sorted(lines), sorted(c_lines)
    if want != got:
        for l in sorted(set(want) - set(got)):
            print(f'only in the .proto files: {l}')
        for l in sorted(set(got) - set(want)):
            print(f'only in the C codec:      {l}')
        return 1
    print(f'C codec matches the .proto files: {sum(1 for l in lines if l.startswith("message"))} messages, '
          f'{sum(1 for l in lines if l.startswith("field"))} fields, {sum(1 for l in lines if l.startswith("enum"))} '
          'enum values')
    return 0


if __name__ == '__main__':
    sys.exit(main())
