#!/usr/bin/env python3
"""hdmabuf-wayland against a headless Weston, checked on screenshots pixel by pixel.

Runs under libhdmabuf/tests/with-daemons.py (the ivshmem server, a sink daemon as "VM 1" and a
source daemon as "VM 2"). In "VM 2": Weston (headless, pixman) and hdmabuf-wayland; in "VM 1":
pattern-producer. Every step has a timeout.

0. --help; the client picks the stream by a filter (--match) and follows it by name;
1. a 320x240 ARGB8888 stream, lent to the compositor: two screenshots show the pattern exactly
   and a counter that advances; frame rate and producer-to-screen latency are measured; the
   producer never waits 5 s for a buffer (it would exit STALLED);
2. the producer stops and drains: every buffer comes back, its last frame stays on screen;
3. the stream comes back (XRGB8888) and its producer is killed: the client keeps the last frame
   (unchanging, exact), Weston stays up;
4. it comes back read-only as 160x120 XBGR8888: the client copies, says why once, shows it;
5. a stream of 2 buffers: the client copies, says why once, shows it; the producer never waits long;
6. the producer changes size and format mid-stream (new buffers after 30 frames): the client
   re-imports, makes new pools, and the screen shows the new size's pattern, counter >= 30;
7. the producer re-exports the same buffers with new metadata after 30 frames (160x120 XBGR8888,
   a padded stride): the client follows the "change" events without the stream ending, and the
   screen shows the new image exactly, counter >= 30; the producer drains afterwards;
8. a stream in a format wl_shm cannot show (NV12): the client exits 2 naming it;
9. the compositor closes the window (xdg_toplevel.close, added by wayland_proxy.py between a
   client and Weston, since headless Weston has no input): the client exits 0 and says so (under
   ASan: no leak either), the next consumer starts exactly at the frame its EXIT line names (it
   released every frame it took, and no more), the producer drains, Weston stays up;
10. Weston is killed under a streaming and a waiting client: both exit 1, saying the compositor's
   connection was lost.

usage: wayland-test.py HDMABUF_WAYLAND PATTERN_PRODUCER WORK_DIR
"""
import importlib.util
import os
import pathlib
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

try:
    from PIL import Image
except ImportError:
    print('SKIP: needs python3-pil to read screenshots', flush=True)
    sys.exit(1 if os.environ.get('CI') == 'true' else 77)

STEP = 20  # seconds any one step may take
OUT_W, OUT_H = 320, 240
SMALL = ((OUT_W - 160) // 2, (OUT_H - 120) // 2, 160, 120)  # a 160x120 frame, centred by the fullscreen shell


HERE = pathlib.Path(__file__).resolve().parent


def load(path, name):
    """A Python file as a module, by its path: these are scripts, and others load this one too."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


WaylandProxy = load(HERE / 'wayland_proxy.py', 'wayland_proxy').WaylandProxy


# with-daemons.py's Child: a process whose output is echoed and searched.
class Proc(load(HERE.parents[2] / 'libhdmabuf/tests/with-daemons.py', 'with_daemons').Child):
    """A Child that can also wait for lines printed after a mark, and count them."""

    def wait_line(self, prefix, timeout=STEP, after=0):
        end = time.monotonic() + timeout
        with self.cond:
            while not any(line.startswith(prefix) for line in self.lines[after:]):
                if time.monotonic() > end:
                    raise AssertionError(f'{self.name}: no "{prefix}" line within {timeout} s')
                self.cond.wait(0.2)
            return next(line for line in self.lines[after:] if line.startswith(prefix))

    def count(self, text):
        with self.cond:
            return sum(text in line for line in self.lines)

    def exit_status(self, timeout=STEP):
        """Waits for the process to exit and for the last of its output: its exit status."""
        status = self.proc.wait(timeout)
        self.thread.join(timeout)
        return status

    def kill(self):
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(STEP)


def weston_env(xdg):
    """The environment of clients of the Weston that start_weston runs in xdg."""
    env = dict(os.environ, XDG_RUNTIME_DIR=xdg, WAYLAND_DISPLAY='wayland-hdmabuf')
    env.pop('DISPLAY', None)
    return env


def start_weston(start, xdg, work):
    """A headless Weston (pixman, the screenshooter allowed) of one OUT_W x OUT_H output, through
    start(name, argv); returns once its socket is there and its shell had a moment to map."""
    weston = start('weston', ['weston', '--backend=headless-backend.so', '--use-pixman', '--debug',
                              '--idle-time=0', '--no-config', f'--width={OUT_W}', f'--height={OUT_H}',
                              '--socket=wayland-hdmabuf', f'--log={work}/weston.log'])
    end = time.monotonic() + STEP
    while not os.path.exists(f'{xdg}/wayland-hdmabuf'):
        assert weston.proc.poll() is None and time.monotonic() < end, 'weston did not start'
        time.sleep(0.1)
    time.sleep(1)  # desktop-shell's own client maps its background and panel
    return weston


def run_with_weston(work, steps):
    """Runs steps(env, start, weston) next to a fresh Weston (start_weston) in a private runtime
    directory; start(name, argv[, display]) starts a Proc in its environment (WAYLAND_DISPLAY=display
    if given). Returns steps' exit status, or 1 when a step failed (with the end of Weston's log); every
    process is stopped at the end."""
    xdg = tempfile.mkdtemp(prefix='hdmabuf-wl-', dir='/tmp')  # private: mkdtemp makes it 0700
    env = weston_env(xdg)
    procs = []

    def start(name, argv, display=None):
        procs.append(Proc(name, argv, env if display is None else dict(env, WAYLAND_DISPLAY=display)))
        return procs[-1]

    try:
        return steps(env, start, start_weston(start, xdg, work))
    except (AssertionError, subprocess.SubprocessError) as e:
        print(f'FAILED: {e}', flush=True)
        if (work / 'weston.log').exists():
            print((work / 'weston.log').read_text()[-3000:], flush=True)
        return 1
    finally:
        for p in reversed(procs):
            p.stop()
        shutil.rmtree(xdg, ignore_errors=True)


def expected(w, h, counter):
    """The pattern of pattern.h as RGB rows."""
    rows = []
    for y in range(h):
        row = []
        for x in range(w):
            if y < h // 8:
                row.append((255, 255, 255) if (counter >> (31 - x * 32 // w)) & 1 else (0, 0, 0))
            elif y < h // 2:
                row.append((0, 255, 0) if x >= w // 2 else (255, 0, 0))
            else:
                row.append((255, 255, 0) if x >= w // 2 else (0, 0, 255))
        rows.append(row)
    return rows


def screenshot(env, work, name):
    """weston-screenshooter into its own folder (it names files by the second)."""
    d = work / name
    d.mkdir()
    subprocess.run(['weston-screenshooter'], env=env, cwd=d, timeout=STEP, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    shots = sorted(d.glob('*.png'))
    assert shots, f'{name}: weston-screenshooter wrote no PNG'
    return shots[-1], Image.open(shots[-1]).convert('RGB')


def check_pattern(img, x0, y0, w, h):
    """Decodes the counter at (x0, y0) and compares every pixel of the frame with the pattern."""
    px = img.load()
    counter = 0
    for i in range(32):
        cx = x0 + (2 * i + 1) * w // 64
        counter = counter << 1 | (1 if px[cx, y0 + h // 16] == (255, 255, 255) else 0)
    want = expected(w, h, counter)
    bad = [(x, y) for y in range(h) for x in range(w) if px[x0 + x, y0 + y] != want[y][x]]
    assert not bad, (f'{len(bad)} pixels differ from frame {counter}\'s pattern, first at {bad[0]}: '
                     f'{px[x0 + bad[0][0], y0 + bad[0][1]]} != {want[bad[0][1]][bad[0][0]]}')
    # Outside the frame: the compositor's black behind a fullscreen surface.
    if (w, h) != img.size:
        assert px[0, 0] == (0, 0, 0) and px[img.size[0] - 1, img.size[1] - 1] == (0, 0, 0), 'no black around'
    return counter


def read_log(path):
    """{frame: [ns, ...]} from lines "FRAME NS [NS]"."""
    out = {}
    if path.exists():
        for line in path.read_text().splitlines():
            parts = [int(p) for p in line.split()]
            if len(parts) >= 2:
                out[parts[0]] = parts[1:]
    return out


def pct(values, q):
    values = sorted(values)
    return values[int(q * (len(values) - 1))]


def measure(work, produced, t0, t1):
    """Frame rate on screen, producer-to-screen latency and its part from the client's commit to the
    screen, over [t0, t1] (CLOCK_MONOTONIC ns)."""
    shown = read_log(work / 'presented.log')
    made = read_log(work / produced)
    window = sorted((ts[0], ts[1], n) for n, ts in shown.items() if t0 <= ts[0] <= t1 and n in made)
    assert len(window) >= 10, f'only {len(window)} frames on screen in {(t1 - t0) / 1e9:.1f} s'
    fps = (len(window) - 1) / ((window[-1][0] - window[0][0]) / 1e9)
    lat = [(t - made[n][0]) / 1e6 for t, c, n in window]
    compositor = [(t - c) / 1e6 for t, c, n in window]
    assert min(lat) > 0, 'latency: presented before produced?'
    return (f'fps={fps:.1f} latency_ms_median={statistics.median(lat):.1f} latency_ms_p95={pct(lat, 0.95):.1f} '
            f'commit_to_screen_ms_median={statistics.median(compositor):.1f} frames={len(window)}')


def main():
    client_bin, producer_bin, work = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3])
    vm = os.environ['HDMABUF_TEST_SOURCE_VM']
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    return run_with_weston(work, lambda env, start, weston: check_client(env, start, weston, client_bin, producer_bin,
                                                                         vm, work))


def copied_stream(env, work, client, start_producer, stream_text, reason, area, name):
    """A stream the client must copy: its STREAM line, two exact screenshots of area (x0, y0, w, h)
    with an advancing counter, the reason said once; then the producer stops and drains, having
    never waited a second for a buffer. Returns the two counters and the producer's SENT line."""
    mark = len(client.lines)
    prod = start_producer()
    line = client.wait_line('STREAM', after=mark)
    assert stream_text in line, line
    counters = []
    for i in (1, 2):
        time.sleep(1)
        counters.append(check_pattern(screenshot(env, work, f'{name}-{i}')[1], *area))
    assert counters[1] > counters[0], f'the counter did not advance: {counters}'
    assert client.count(reason) == 1, f'the reason "{reason}" is not said exactly once'
    mark = len(client.lines)
    prod.stop()
    assert prod.proc.returncode == 0, f'{prod.name} failed (STALLED: its drain waited for a buffer?)'
    sent = prod.wait_line('SENT')
    assert float(sent.split('max_wait_ms=')[1]) < 1000, f'{prod.name} waited long for a buffer: {sent}'
    client.wait_line('ENDED', after=mark)
    return counters, sent


def resized_stream(env, work, client, start_producer, said, name, fourcc='XB24'):
    """A zero-copy stream that starts at 320x240 ARGB8888 and goes on at 160x120 in fourcc (XBGR8888
    or ABGR8888) after 30 frames, its producer saying so (the line said): the client's STREAM lines of both, two exact
    screenshots of the new size, centred, with counters of at least 30 that advance; then the
    producer stops and drains. Returns the counters, the second STREAM line and the client's lines
    from the start to the producer's stop."""
    mark = len(client.lines)
    prod = start_producer()
    line = client.wait_line('STREAM', after=mark)
    assert 'buffers=3 size=320x240 format=AR24 path=zero-copy' in line, line
    prod.wait_line(said)
    line = client.wait_line(f'STREAM name=wl buffers=3 size=160x120 format={fourcc} path=zero-copy', after=mark)
    counters = []
    for i in (1, 2):
        time.sleep(1)
        counters.append(check_pattern(screenshot(env, work, f'{name}-{i}')[1], *SMALL))
    assert 30 <= counters[0] < counters[1], f'not the new size\'s frames: {counters}'
    with client.cond:
        since = client.lines[mark:]
    mark = len(client.lines)
    prod.stop()
    assert prod.proc.returncode == 0, f'{prod.name} failed (STALLED: a buffer of the first size was kept?)'
    client.wait_line('ENDED', after=mark)
    return counters, line, since


def check_client(env, start, weston, client_bin, producer_bin, vm, work):
    """Steps 0 to 10 (the docstring's)."""
    def producer(name, *args):
        p = start(name, [producer_bin, vm, 'wl', *args])
        p.wait_line('READY')
        return p

    usage = subprocess.run([client_bin, '--help'], capture_output=True, text=True, timeout=STEP)
    assert usage.returncode == 0 and 'read-only' in usage.stdout and 'XB24' in usage.stdout, '--help'
    # Chosen by a filter (then followed by its name, "wl"), not by --stream.
    client = start('client', [client_bin, '--match', 'CONTENT_TYPE=video/*', '--match', 'IMAGE_FOURCC!=YUYV',
                              '--fullscreen', '--presentation-log', str(work / 'presented.log')])
    client.wait_line('READY')

    # 1. Zero copy, 320x240 ARGB8888, the size of the output.
    prod = producer('producer-1', f'{OUT_W}x{OUT_H}', 'AR24', f'log={work}/produced.log')
    line = client.wait_line('STREAM')
    assert 'size=320x240 format=AR24 path=zero-copy' in line, line
    time.sleep(1.5)
    t0 = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    shot, img = screenshot(env, work, 'shot1')
    c1 = check_pattern(img, 0, 0, OUT_W, OUT_H)
    shutil.copy(shot, work / 'screenshot.png')
    time.sleep(2)
    c2 = check_pattern(screenshot(env, work, 'shot2')[1], 0, 0, OUT_W, OUT_H)
    t1 = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    assert c2 > c1, f'the counter did not advance: {c1} then {c2}'
    summary = [f'MEASURED {measure(work, "produced.log", t0, t1)} (320x240 ARGB8888, zero copy, producer '
               'unpaced, Weston 10 headless, pixman)']
    print(summary[-1], flush=True)
    assert prod.proc.poll() is None, 'producer 1 stopped (STALLED: a release fence was not signalled)'
    print(f'ok 1: pattern exact in two screenshots, counter {c1} -> {c2}', flush=True)

    # 2. The producer stops and drains: it gets back every buffer, the one on screen too (the
    # client shows a copy of it once no new frame came), and its last frame stays on screen.
    mark = len(client.lines)
    prod.stop()
    assert prod.proc.returncode == 0, 'producer 1 failed (STALLED: its drain waited for a buffer)'
    sent = int(prod.wait_line('SENT').split()[1].split('=')[1])
    client.wait_line('ENDED', after=mark)
    c3 = check_pattern(screenshot(env, work, 'shot3')[1], 0, 0, OUT_W, OUT_H)
    assert c3 == sent - 1, f'frame {c3} on screen, not the last one ({sent - 1})'
    print(f'ok 2: producer drained after {sent} frames, its last frame {c3} on screen', flush=True)

    # 3. A producer killed mid-stream: last frame kept, compositor healthy.
    mark = len(client.lines)
    prod = producer('producer-2', f'{OUT_W}x{OUT_H}', 'XR24', 'fps=30', f'log={work}/produced-30.log')
    client.wait_line('STREAM', after=mark)
    time.sleep(0.5)
    t0 = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    time.sleep(1.5)
    summary.append(f'MEASURED {measure(work, "produced-30.log", t0, time.clock_gettime_ns(time.CLOCK_MONOTONIC))} '
                   '(320x240 XRGB8888, zero copy, producer at 30 fps)')
    print(summary[-1], flush=True)
    (work / 'measured.txt').write_text('\n'.join(summary) + '\n')
    mark = len(client.lines)
    prod.kill()
    client.wait_line('ENDED', after=mark)
    time.sleep(0.5)
    c4 = check_pattern(screenshot(env, work, 'shot4')[1], 0, 0, OUT_W, OUT_H)
    time.sleep(0.5)
    c5 = check_pattern(screenshot(env, work, 'shot5')[1], 0, 0, OUT_W, OUT_H)
    assert c4 == c5 and c4 > 0, f'last frame not kept: {c4} then {c5}'
    assert client.proc.poll() is None and weston.proc.poll() is None, 'client or weston exited'
    print(f'ok 3: producer killed, frame {c4} kept', flush=True)

    # 4. Back read-only and smaller, in XBGR8888: copied, centred by the fullscreen shell.
    (c6, c7), sent = copied_stream(env, work, client, lambda: producer('producer-3', '160x120', 'XB24', 'ro', 'fps=30'),
                                   'size=160x120 format=XB24 path=copy', 'read-only', SMALL, 'shot-ro')
    assert client.count('copying each frame') == 1, 'the reason to copy is not said exactly once'
    print(f'ok 4: read-only 160x120 XB24 copied, counter {c6} -> {c7}; {sent}', flush=True)

    # 5. Two buffers: copied, since the compositor holds one until the next is attached.
    (c8, c9), sent = copied_stream(env, work, client,
                                   lambda: producer('producer-5', f'{OUT_W}x{OUT_H}', 'AR24', 'buffers=2', 'fps=30'),
                                   'buffers=2 size=320x240 format=AR24 path=copy', 'fewer than 3 buffers',
                                   (0, 0, OUT_W, OUT_H), 'shot-k2')
    print(f'ok 5: 2 buffers copied, counter {c8} -> {c9}; {sent}', flush=True)

    # 6. Size and format change mid-stream: new buffers under the same name, new pools in the client;
    # the new format ABGR8888, the one of the four not shown elsewhere.
    (c10, c11), _, _ = resized_stream(env, work, client, lambda: producer(
        'producer-6', f'{OUT_W}x{OUT_H}', 'AR24', 'fps=30', 'resize=30:160x120:AB24'),
        'RESIZED frame=30', 'shot-resized', 'AB24')
    print(f'ok 6: resized mid-stream to 160x120 AB24, zero copy, counter {c10} -> {c11}', flush=True)

    # 7. The same buffers re-exported with new metadata: "change" events, followed without an end.
    (c12, c13), line, since = resized_stream(env, work, client, lambda: producer(
        'producer-7', f'{OUT_W}x{OUT_H}', 'AR24', 'fps=30', 'reexport=30:160x120:XB24:704'),
        'REEXPORTED frame=30 size=160x120 stride=704 format=XB24', 'shot-reexported')
    assert not any(x.startswith('ENDED') for x in since), 'the stream ended instead of following the change'
    assert sum(x.startswith('CHANGE') for x in since) == 1, 'not exactly one CHANGE'
    # No stale metadata: frames from 30 on are written for revision 2 (their headers say so); none of them may be
    # shown before the CHANGE (with the 320x240 image), and the first shown after it is of revision 2 (frames a
    # repaint skipped are not shown).
    change = next(x for x in since if x.startswith('CHANGE'))
    fields = dict(f.split('=', 1) for f in change.split()[1:])
    assert int(fields['last_shown']) < 30, f'a frame of the new metadata was shown with the old one: {change}'
    revisions = [x for x in since if x.startswith('REVISION')]
    after = [x for x in since[since.index(change):] if x.startswith('REVISION')]
    first = dict(f.split('=', 1) for f in after[0].split()[1:]) if after else {}
    assert first.get('revision') == '2' and int(first['frame']) >= 30, \
        f'the first frame shown after CHANGE is not one of revision 2 (from frame 30): {revisions}'
    assert all('revision=2' not in x for x in since[:since.index(change)]), f'revision 2 before CHANGE: {revisions}'
    held = sum(x.startswith('HELD') for x in since)
    print(f'ok 7: re-exported as 160x120 XB24 stride 704, zero copy, {line.split()[-1]}, counter {c12} -> {c13}, '
          f'{held} frame(s) held for the new metadata, none shown with the old', flush=True)

    # 8. A format wl_shm cannot show: refused by name.
    prod = producer('producer-8', '64x64', 'NV12')
    assert client.exit_status() == 2, 'client did not exit 2 on NV12'
    assert client.count('pixel format NV12') == 1, 'refusal does not name NV12'
    prod.kill()
    screenshot(env, work, 'shot8')  # the compositor still answers
    assert weston.proc.poll() is None, 'weston exited'
    print('ok 8: NV12 refused, exit 2', flush=True)

    # 9. The compositor closes the window: exit 0, every frame it took released, Weston unharmed.
    proxy = WaylandProxy(env['XDG_RUNTIME_DIR'], env['WAYLAND_DISPLAY'], 'wayland-close-proxy')
    try:
        prod = producer('producer-9', f'{OUT_W}x{OUT_H}', 'AR24', 'fps=30')
        closing = start('client-close', [client_bin, '--stream', 'wl', '--fullscreen'], 'wayland-close-proxy')
        closing.wait_line('STREAM')
        time.sleep(1)
        c14 = check_pattern(screenshot(env, work, 'shot-proxied')[1], 0, 0, OUT_W, OUT_H)  # fds went through
        toplevel = proxy.connection(STEP).close_toplevel(STEP)
        assert closing.exit_status() == 0, f'client did not exit 0 on xdg_toplevel.close: {closing.proc.returncode}'
        assert closing.count('hdmabuf-wayland: the compositor closed the window') == 1, 'client did not say why'
        line = closing.wait_line('EXIT')
        assert line.startswith('EXIT status=0 '), line
    finally:
        proxy.close()
    # The frames published after the last one it took wait for the next consumer, which starts exactly
    # there: a frame the closed client kept would come first, a release signalled ahead would skip some.
    after = line.split('next=')[1]
    rejoin = start('client-rejoin', [client_bin, '--stream', 'wl', '--fullscreen'])
    stream = rejoin.wait_line('STREAM')
    assert stream.endswith(f'from_frame={after}'), f'closed at next={after}, but the next consumer got {stream}'
    time.sleep(0.5)
    prod.stop()
    assert prod.proc.returncode == 0, 'producer 9 failed (STALLED: a buffer was kept)'
    rejoin.stop()
    assert rejoin.proc.returncode == 0, f'client-rejoin exited {rejoin.proc.returncode} on SIGTERM'
    screenshot(env, work, 'shot-closed')
    assert weston.proc.poll() is None, 'weston exited'
    print(f'ok 9: xdg_toplevel.close to toplevel {toplevel} (frame {c14} on screen): exit 0; {line}; '
          f'the next consumer from frame {after}', flush=True)

    # 10. The compositor dies under a streaming client and a waiting one: both exit 1 and say why.
    prod = producer('producer-10', f'{OUT_W}x{OUT_H}', 'AR24', 'fps=30')
    streaming = start('client-2', [client_bin, '--stream', 'wl', '--fullscreen'])
    streaming.wait_line('STREAM')
    waiting = start('client-3', [client_bin, '--stream', 'none'])
    waiting.wait_line('READY')
    weston.kill()
    for c in (streaming, waiting):
        assert c.exit_status() == 1, f'{c.name} did not exit 1 when the compositor went away'
        assert c.count('hdmabuf-wayland: compositor: connection lost') == 1, f'{c.name} did not say why'
    line = streaming.wait_line('EXIT')
    assert line.startswith('EXIT status=1 '), line
    prod.kill()
    print(f'ok 10: compositor killed, both clients exit 1; {line}', flush=True)
    print('10 passed, 0 failed', flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
