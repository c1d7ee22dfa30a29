#!/usr/bin/env python3
"""hdmabufsrc ! waylandsink on a headless Weston: the producer's frames on screen, lent without a copy.

Runs under libhdmabuf/tests/with-daemons.py ("VM 1": pattern-producer of clients/wayland/tests, the
test pattern with its frame counter; "VM 2": Weston and `gst-stream-test show`, which runs
`hdmabufsrc ! waylandsink fullscreen=true`). Weston and the screenshots as in hdmabuf-wayland's test
(clients/wayland/tests/wayland-test.py, whose helpers this uses).

1. read-write stream: the screenshots show the pattern exactly and a counter that advances; the
   buffers waylandsink got were GstFdMemory, it made wl_buffers from them and copied none (its own
   log), and Weston maps the region's file itself (an inode of its /proc maps);
   the producer stops and drains: every frame comes back, the one on screen too;
2. read-only stream (the compositor cannot map it): memory over the mapping, which waylandsink
   copies into its own wl_shm pool; the screen still exact.

Exit 77 (skipped) when GStreamer has no waylandsink (gstreamer1.0-plugins-bad; GST_PLUGIN_PATH may name a
directory holding it); under CI=true, where .ci/run installs it, that is a failure.

usage: waylandsink-test.py GST_STREAM_TEST PATTERN_PRODUCER WORK_DIR
"""
import importlib.util
import os
import pathlib
import shutil
import subprocess
import sys
import time


def load_wayland_test():
    path = pathlib.Path(__file__).resolve().parents[2] / 'clients/wayland/tests/wayland-test.py'
    spec = importlib.util.spec_from_file_location('wayland_test', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


wl = load_wayland_test()
STEP = wl.STEP


def shot_until(env, work, name, accept):
    """Screenshots until accept(counter) holds for an exact pattern (the first frames may still be on
    their way), within STEP; returns the counter."""
    end = time.monotonic() + STEP
    for i in range(1000):
        try:
            counter = wl.check_pattern(wl.screenshot(env, work, f'{name}-{i}')[1], 0, 0, wl.OUT_W, wl.OUT_H)
            if accept(counter):
                return counter
            why = f'counter {counter}'
        except AssertionError as e:
            why = str(e)
        if time.monotonic() > end:
            raise AssertionError(f'{name}: no acceptable screenshot within {STEP} s: {why}')
        time.sleep(0.2)
    raise AssertionError(f'{name}: too many screenshots')


def maps_inode(pid, inode):
    """Whether process pid has a shared mapping of the file with this inode."""
    for line in pathlib.Path(f'/proc/{pid}/maps').read_text().splitlines():
        fields = line.split()
        if len(fields) >= 5 and fields[1][3] == 's' and fields[4] == str(inode):
            return True
    return False


def stop_both(prod, consumer):
    """Stops the producer, which drains: it exits 0 once the consumer released every frame (the one
    waylandsink keeps on screen too, through hdmabufsrc's copy-held-after); the consumer then ends
    with EOS. Returns the consumer's SHOWN counts."""
    prod.stop()
    assert prod.proc.returncode == 0, f'{prod.name} failed (STALLED: a frame was not released)'
    assert consumer.proc.wait(STEP) == 0, f'consumer exited {consumer.proc.returncode}'
    line = consumer.wait_line('SHOWN')
    return {k: int(v) for k, v in (w.split('=') for w in line.split()[1:])}


def main():
    test_bin, producer_bin, work = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3])
    if subprocess.run([test_bin, 'has-element', 'waylandsink'], timeout=STEP).returncode == 77:
        print('SKIP: no waylandsink (gstreamer1.0-plugins-bad; or GST_PLUGIN_PATH and LD_LIBRARY_PATH at an '
              'unpacked copy of it)', flush=True)
        return 1 if os.environ.get('CI') == 'true' else 77
    vm = os.environ['HDMABUF_TEST_SOURCE_VM']
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    return wl.run_with_weston(work, lambda env, start, weston: check_waylandsink(env, start, weston, test_bin,
                                                                                producer_bin, vm, work))


def check_waylandsink(env, start, weston, test_bin, producer_bin, vm, work):
    """Steps 1 and 2 (the docstring's)."""

    # 1. Lent: GstFdMemory from the region fd, wl_buffers made from it.
    consumer = start('consumer-1', [test_bin, 'show', 'gstwl'])
    consumer.wait_line('READY')
    prod = start('producer-1', [producer_bin, vm, 'gstwl', f'{wl.OUT_W}x{wl.OUT_H}', 'AR24', 'fps=30'])
    prod.wait_line('READY')
    inode = int(consumer.wait_line('REGION').split('=')[1])
    c1 = shot_until(env, work, 'shot1', lambda c: True)
    c2 = shot_until(env, work, 'shot2', lambda c: c > c1)
    # Weston maps a wl_shm pool while one of its buffers lives; between frames the screen may hold one of
    # hdmabufsrc's held-frame copies instead, so watch for the mapping rather than look once.
    end = time.monotonic() + STEP
    while not maps_inode(weston.proc.pid, inode):
        assert time.monotonic() < end, f'Weston has no mapping of the region (inode {inode}) within {STEP} s'
        time.sleep(0.01)
    counts = stop_both(prod, consumer)
    # Every buffer GstFdMemory: the frames, and hdmabufsrc's copies of the newest frame pushed while
    # waylandsink held one on screen (copy-held-after), in a memfd; waylandsink lent all to Weston.
    assert counts['fd_memory'] == counts['frames'] and counts['lent'] >= 2, f'not all fd memory: {counts}'
    assert counts['copied'] == 0, f'waylandsink copied: {counts}'
    print(f'ok 1: pattern exact, counter {c1} -> {c2}; Weston maps the region; {counts}; {prod.wait_line("SENT")}',
          flush=True)

    # 2. Read-only: the compositor cannot map it, waylandsink copies.
    consumer = start('consumer-2', [test_bin, 'show', 'gstwlro'])
    consumer.wait_line('READY')
    prod = start('producer-2', [producer_bin, vm, 'gstwlro', f'{wl.OUT_W}x{wl.OUT_H}', 'XR24', 'ro', 'fps=10'])
    prod.wait_line('READY')
    c3 = shot_until(env, work, 'shot3', lambda c: True)
    shot_until(env, work, 'shot4', lambda c: c > c3)
    counts = stop_both(prod, consumer)
    assert counts['fd_memory'] == 0 and counts['lent'] == 0 and counts['copied'] >= 1, f'read-only: {counts}'
    assert weston.proc.poll() is None, 'weston exited'
    print(f'ok 2: read-only stream copied by waylandsink, still exact; {counts}', flush=True)
    print('2 passed, 0 failed', flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
