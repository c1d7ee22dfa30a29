#!/usr/bin/env python3
"""gst-inspect-1.0 finds hdmabufsink and hdmabufsrc and documents each of their own properties."""
import subprocess
import sys

OWN = {
    'hdmabufsink': ['socket-path', 'target-vm', 'stream', 'buffers', 'read-only', 'timeout'],
    'hdmabufsrc': ['socket-path', 'stream', 'is-live', 'do-timestamp', 'timeout', 'copy-held-after', 'dma-buf'],
}
inspect = sys.argv[1]
for element, props in OWN.items():
    out = subprocess.run([inspect, element], capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        sys.exit(f'{element}: gst-inspect-1.0 exited {out.returncode}: {out.stderr}')
    lines = out.stdout.splitlines()
    for prop in props:
        line = next((l for l in lines if l.strip().startswith(prop + ' ') and ':' in l), None)
        blurb = line.split(':', 1)[1].strip() if line else ''
        if len(blurb) < 10:
            sys.exit(f'{element}: property {prop} is missing or has no description')
    print(f'{element}: {len(props)} properties documented')
