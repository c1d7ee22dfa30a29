#!/usr/bin/env python3
"""hdmabuf-wayland --dma-buf where the source daemon cannot make dma-bufs (no /dev/udmabuf): it exits
with status 2 at once, before it connects to a compositor (WAYLAND_DISPLAY names none), naming
--dma-buf and the daemon's reason. Skipped (77) where /dev/udmabuf exists.

usage: dmabuf-refused-test.py HDMABUF_WAYLAND   (under with-daemons.py)
"""
import os
import subprocess
import sys

if os.path.exists('/dev/udmabuf'):
    print('SKIP: /dev/udmabuf exists: the source daemon can make dma-bufs here')
    sys.exit(77)
env = dict(os.environ, WAYLAND_DISPLAY='no-compositor-here')
out = subprocess.run([sys.argv[1], '--dma-buf', '--stream', 'any', '--wait-ms', '5000'], env=env,
                     capture_output=True, text=True, timeout=30)
print(out.stderr, end='')
if out.returncode != 2:
    sys.exit(f'FAIL: exit status {out.returncode}, not 2; stdout: {out.stdout}')
want = 'refused: --dma-buf, but the source daemon cannot make dma-bufs: no /dev/udmabuf'
if want not in out.stderr:
    sys.exit(f'FAIL: stderr does not say "{want}"')
if 'READY' in out.stdout:
    sys.exit('FAIL: it went on to the compositor')
print('hdmabuf-wayland --dma-buf: refused at once, naming the daemon\'s reason')
