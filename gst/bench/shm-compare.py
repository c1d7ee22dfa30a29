#!/usr/bin/env python3
"""hdmabufsink/hdmabufsrc against shmsink/shmsrc: throughput, CPU per frame and latency.

  python3 gst/bench/shm-compare.py [--build DIR] [--sizes 1920x1080,3840x2160] [--upstream pool,own]
                                   [--frames N] [--latency-frames N] [--fps 60,30] [--rounds N] [--json FILE]

Starts the ivshmem server and the two daemons itself (libhdmabuf/tests/with-daemons.py, a 256M
region; needs the Java daemons: mvn -DskipTests package -pl cli -am) unless HDMABUF_RUNTIME_DIR is
set already, and loads libgsthdmabuf.so from DIR/gst (default: build). shmsink/shmsrc come from
gstreamer1.0-plugins-bad. Both ends of each transport run in two processes of gst/bench/gst-bench.c:
`stripe ! RGBA WxH ! identity ! SINK` and `SRC ! fakesink sync=false`, whose probe reads every byte of
each frame. The source (the same for both transports) is `stripe`: it writes a moving stripe of 16 rows
into each buffer it is handed, so what is measured is the transport and the consumer's read, not the
making of the frames. Upstream:

- `pool`: the source writes into what the sink proposes: hdmabufsink's pool of shared slots, or (shmsink
  proposes only its allocator) a video pool of shmsink's allocator, in its shared area, as videotestsrc
  does, of at most 3 buffers (hdmabufsink's default 3 slots; shmsink's area holds 3 frames). Neither
  sink copies (the run fails if hdmabufsink says it did).
- `own`: the source writes into a pool of its own (a capture device's or decoder's buffers): both sinks
  copy each frame into their shared memory (the run fails unless hdmabufsink says it did).

Per size, each round runs every case once: throughput (FRAMES frames unpaced: fps at the consumer, and
CPU per frame of the producer and of the consumer process, from getrusage over first to last frame;
for our elements also of the two daemons, from /proc/PID/stat at the first and the last frame) and
latency (LATENCY_FRAMES frames paced by identity sync=true at FPS, 60 at 1080p and 30 at 4K by
default, the first frame due a second after PLAYING: from the frame's PTS, as a time of the
producer's clock, to its arrival at the consumer, before the read; the first fifth left out). One unmeasured run of each transport goes first (the daemons' code runs cold in
their first stream). Local cases in one process, no transport: `source + read` (the floor of any
transport) and `source + memcpy + read` (one copy on arrival). The table gives the median over the
rounds and the range; the ratio against shmsink is taken within each round, then its median.

Prints a Markdown table on stdout and exits 0; exit 1 when a run failed.
"""
import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
TIMEOUT = 180  # seconds any one run may take


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--build', default=str(ROOT / 'build'), help='the meson build directory')
    ap.add_argument('--sizes', default='1920x1080,3840x2160')
    ap.add_argument('--upstream', default='pool,own', help='pool (writes into what the sink proposes), own')
    ap.add_argument('--frames', type=int, default=300, help='frames of a throughput run')
    ap.add_argument('--latency-frames', type=int, default=150,
                    help='frames of a paced latency run (the first fifth left out)')
    ap.add_argument('--fps', default='60,30', help='the pace of the latency runs, one per size (the last for the '
                    'rest): 4K with a copy does not keep up with 60 on 2 busy cores, and a backlog is no latency')
    ap.add_argument('--rounds', type=int, default=5)
    ap.add_argument('--json', default=None, help='also write every run\'s figures to this file')
    return ap.parse_args()


def under_daemons():
    """Runs this script again under with-daemons.py (its output, prefixed, on stderr); prints the
    table it wrote. Returns its exit status."""
    cmd = [sys.executable, str(ROOT / 'libhdmabuf/tests/with-daemons.py'), '--root', str(ROOT), '--region-size',
           '256M', '--timeout', str(3600), '--', sys.executable, str(pathlib.Path(__file__).resolve())] + sys.argv[1:]
    with tempfile.NamedTemporaryFile('r', suffix='.md') as table:
        env = dict(os.environ, HDMABUF_BENCH_TABLE=table.name)
        rc = subprocess.run(cmd, env=env, timeout=3600 + 120, stdout=sys.stderr).returncode
        print(table.read(), end='', flush=True)
    return rc


class Run:
    """One gst-bench process; its RESULT line parsed. Killed when left unfinished."""

    def __init__(self, argv, env):
        self.argv = argv
        self.proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def wait_ready(self):
        line = self.proc.stdout.readline()
        if not line.startswith('READY'):
            self.kill()
            raise RuntimeError(f'{" ".join(self.argv)}: not ready: {line}{self.proc.stderr.read()}')

    def result(self):
        try:
            out, err = self.proc.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
            raise RuntimeError(f'{" ".join(self.argv)}: still running after {TIMEOUT} s')
        lines = [l for l in out.splitlines() if l.startswith('RESULT')]
        if not lines or self.proc.returncode != 0:
            raise RuntimeError(f'{" ".join(self.argv)}: exit {self.proc.returncode}: {err.strip()[-2000:]}')
        return {k: float(v) for k, v in (w.split('=') for w in lines[0].split()[1:])}

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


def pair(first, second):
    """Runs the two ends: first (READY awaited), then second; their results in that order. Whichever
    fails, the other is killed (a lone shmsink or hdmabufsink would wait for its reader)."""
    runs = []
    try:
        runs.append(Run(*first))
        runs[0].wait_ready()
        runs.append(Run(*second))
        return [r.result() for r in runs]
    finally:
        for r in runs:
            r.kill()


def bench(env):
    return [str(pathlib.Path(env['HDMABUF_BENCH_BUILD']) / 'gst/gst-bench')]


def source_of(upstream):
    return 'stripe-own' if upstream == 'own' else 'stripe'


def run_hdmabuf(env, args, upstream, size, frames, fps, tag):
    vm = env.get('HDMABUF_TEST_SOURCE_VM', '0')
    consumer = (bench(env) + ['consume', size, str(frames), 'hdmabufsrc', f'stream={tag}'], env)
    producer = (bench(env) + ['produce', source_of(upstream), size, str(frames), str(fps), 'hdmabufsink',
                              f'stream={tag}', f'target-vm={vm}', 'sync=false'], env)
    c, p = pair(consumer, producer)
    copied = p['sink_copies'] != 0
    if copied != (upstream == 'own'):
        raise RuntimeError(f'hdmabufsink {"copied" if copied else "did not copy"} frames of upstream {upstream}')
    return p, c, c.get('daemons_cpu_ms')


def run_shm(env, args, upstream, size, frames, fps, sock):
    w, h = (int(v) for v in size.split('x'))
    # As hdmabufsink's 3 slots: at most 3 frames in flight. The area holds 3 frames (and alignment slack):
    # upstream's pool of at most 3 buffers in it, or 3 copies, for which shmsink waits until the consumer
    # released one. enable-last-sample off, as hdmabufsink's default: a kept sample would pin a buffer.
    producer = (bench(env) + ['produce', source_of(upstream), size, str(frames), str(fps), 'shmsink',
                              f'socket-path={sock}', 'wait-for-connection=true', 'sync=false',
                              'enable-last-sample=false', f'shm-size={3 * w * h * 4 + (1 << 20)}'], env)
    # shmsrc: caps ANY (restated here), no EOS from the writer (num-buffers ends it); live, so it
    # connects when PLAYING. The producer printed READY once prerolled: its socket listens by then.
    consumer = (bench(env) + ['consume', size, str(frames), 'shmsrc', f'socket-path={sock}', 'is-live=true',
                              f'num-buffers={frames}', '!',
                              f'video/x-raw,format=RGBA,width={w},height={h},framerate=60/1'], env)
    p, c = pair(producer, consumer)
    return p, c, None


def run_local(env, args, upstream, size, frames, fps, what):
    r = Run(bench(env) + ['local', source_of('own'), size, str(frames), str(fps), what], env)
    try:
        return None, r.result(), None
    finally:
        r.kill()


CASES = {
    # name: (runner, the upstream of a transport or what run_local does on arrival)
    'hdmabuf-pool': (run_hdmabuf, 'pool'),
    'shm-pool': (run_shm, 'pool'),
    'hdmabuf-own': (run_hdmabuf, 'own'),
    'shm-own': (run_shm, 'own'),
    'copy': (run_local, 'copy'),
    'source': (run_local, 'none'),
}
NAMES = {
    'hdmabuf-pool': 'hdmabufsink → hdmabufsrc, upstream writes into the sink\'s pool',
    'shm-pool': 'shmsink → shmsrc, upstream writes into the sink\'s area',
    'hdmabuf-own': 'hdmabufsink → hdmabufsrc, upstream\'s own buffers (1 copy)',
    'shm-own': 'shmsink → shmsrc, upstream\'s own buffers (1 copy)',
    'copy': 'no transport: source + memcpy + read',
    'source': 'no transport: source + read',
}


def measure(env, args, case, size, rnd, tmp, frames=None):
    """One round of one case: throughput and CPU unpaced, then latency paced."""
    runner, arg = CASES[case]

    def one(frames, fps, suffix):
        tag = f'bench-{case}-{size}-{rnd}-{suffix}'
        if runner is run_local:
            return run_local(env, args, None, size, frames, fps, arg)
        return runner(env, args, arg, size, frames, fps, tag if runner is run_hdmabuf else f'{tmp}/{tag}.sock')

    p, c, daemons = one(frames or args.frames, 0, 't')
    per = max(c['frames'] - 1, 1)
    out = {'fps': c['fps'], 'cpu_consumer': c['cpu_ms'] / per,
           'cpu_producer': p['cpu_ms'] / max(p['frames'] - 1, 1) if p is not None else 0.0,
           'cpu_daemons': daemons / c['frames'] if daemons is not None else None}
    out['cpu'] = out['cpu_consumer'] + out['cpu_producer'] + (out['cpu_daemons'] or 0.0)
    _, c, _ = one(frames or args.latency_frames, pace(args, size), 'l')
    out['lat'] = c['lat_median_ms']
    out['p99'] = c['lat_p99_ms']
    return out


def pace(args, size):
    """The latency runs' frames/s at size."""
    paces = [int(v) for v in args.fps.split(',')]
    i = args.sizes.split(',').index(size)
    return paces[min(i, len(paces) - 1)]


def spread(values, fmt):
    med = statistics.median(values)
    if len(values) == 1:
        return fmt.format(med)
    return f'{fmt.format(med)} ({fmt.format(min(values))}–{fmt.format(max(values))})'


def main():
    args = parse_args()
    if 'HDMABUF_RUNTIME_DIR' not in os.environ:
        return 0 if under_daemons() == 0 else 1
    env = dict(os.environ)
    env['HDMABUF_BENCH_BUILD'] = args.build
    env['GST_PLUGIN_PATH'] = str(pathlib.Path(args.build) / 'gst') + (
        ':' + env['GST_PLUGIN_PATH'] if env.get('GST_PLUGIN_PATH') else '')
    upstreams = args.upstream.split(',')
    cases = [c for c in CASES if CASES[c][0] is run_local or CASES[c][1] in upstreams]
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        env['GST_REGISTRY_1_0'] = f'{tmp}/registry.bin'
        # Unmeasured: the daemons' first streams run their code cold (about 1 s of JIT compiling).
        size = args.sizes.split(',')[0]
        for case in ('hdmabuf-pool', 'shm-pool'):
            measure(env, args, case, size, 'warm-up', tmp, frames=60)
        for size in args.sizes.split(','):
            for rnd in range(args.rounds):
                for case in cases:
                    r = measure(env, args, case, size, rnd, tmp)
                    runs.setdefault(size, {}).setdefault(case, []).append(r)
                    print(f'shm-compare: {size} round {rnd} {case}: {r}', file=sys.stderr, flush=True)
    paces = ', '.join(f'{pace(args, size)} fps at {size}' for size in args.sizes.split(','))
    lines = [f'RGBA, the stripe source; median of {args.rounds} rounds (range); fps and CPU: {args.frames} '
             f'frames unpaced; latency: {args.latency_frames} frames paced ({paces}; the first fifth '
             'left out), from the PTS to the arrival; ratio: fps against shmsink with the same upstream, in the '
             'same round', '',
             '| case | resolution | fps | ratio vs shmsink | CPU ms/frame producer | consumer | daemons | total | '
             'latency median ms | p99 ms |',
             '|---|---|---|---|---|---|---|---|---|---|']
    for size, by_case in runs.items():
        for case, rs in by_case.items():
            shm = by_case.get('shm-' + case.split('-')[1]) if CASES[case][0] is not run_local else None
            ratio = spread([r['fps'] / s['fps'] for r, s in zip(rs, shm)], '{:.2f}') if shm else '—'
            daemons = spread([r['cpu_daemons'] for r in rs], '{:.3f}') if rs[0]['cpu_daemons'] is not None else '—'
            producer = spread([r['cpu_producer'] for r in rs], '{:.2f}') if CASES[case][0] is not run_local else '—'
            lines.append(f'| {NAMES[case]} | {size} | {spread([r["fps"] for r in rs], "{:.0f}")} | {ratio} | '
                         f'{producer} | {spread([r["cpu_consumer"] for r in rs], "{:.2f}")} | {daemons} | '
                         f'{spread([r["cpu"] for r in rs], "{:.2f}")} | {spread([r["lat"] for r in rs], "{:.2f}")} | '
                         f'{spread([r["p99"] for r in rs], "{:.2f}")} |')
    text = '\n'.join(lines) + '\n'
    print(text, end='', flush=True)
    if os.environ.get('HDMABUF_BENCH_TABLE'):
        pathlib.Path(os.environ['HDMABUF_BENCH_TABLE']).write_text(text)
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(runs, indent=1))
    return 0


if __name__ == '__main__':
    try:
        sys.exit(main())
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        print(f'shm-compare: {e}', file=sys.stderr)
        sys.exit(1)
