#!/usr/bin/env python3
"""Rewrites proto3 `optional T x = n;` fields as one-field oneofs `oneof _x { T x = n; }`.

Debian 12's protoc-c (1.4.1) refuses proto3 `optional`. The rewrite is wire-identical and is
exactly the synthetic oneof protoc itself makes for such a field, so the generated C keeps
field presence. Usage: proto3-optional.py OUTDIR INPUT.proto...
"""
import pathlib
import re
import sys

OPTIONAL = re.compile(r'^(\s*)optional\s+([\w.]+)\s+(\w+)\s*=\s*(\d+)\s*;', re.M)


def main() -> int:
    out = pathlib.Path(sys.argv[1])
    for name in sys.argv[2:]:
        src = pathlib.Path(name).read_text(encoding='utf-8')
        text = OPTIONAL.sub(r'\1oneof _\3 { \2 \3 = \4; }', src)
        left = [l for l in text.splitlines() if re.match(r'\s*optional\b', l)]
        if left:
            print(f'{name}: cannot rewrite: {left[0].strip()}', file=sys.stderr)
            return 1
        (out / pathlib.Path(name).name).write_text(text, encoding='utf-8')
    return 0


if __name__ == '__main__':
    sys.exit(main())
