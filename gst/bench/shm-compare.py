#!/usr/bin/env python3
"""hdmabufsink/hdmabufsrc against shmsink/shmsrc and a copy baseline: throughput and latency.

  python3 gst/bench/shm-compare.py [--build DIR] [--sizes 1920x1080,3840x2160] [--source videotestsrc|stamp]
                                   [--frames N] [--latency-frames N] [--fps N] [--rounds N]

Starts the ivshmem server and the two daemons itself (libhdmabuf/tests/with-daemons.py, a 256M
region; needs the Java daemons: mvn -DskipTests package -pl cli -am) unless HDMABUF_RUNTIME_DIR is
set already, and loads libgsthdmabuf.so from DIR/gst (default: build). shmsink/shmsrc come from
gstreamer1.0-plugins-bad. Both ends of each transport run in two processes of gst/bench/gst-bench.c,
which stamps each frame's first 8 bytes with CLOCK_MONOTONIC once the source filled it and reads the
stamp on arrival in `... ! fakesink sync=false`:

- fps and CPU per frame (both processes, first to last frame): FRAMES frames unpaced (sync=false);
  the median of ROUNDS rounds;
- latency (stamp to arrival, median and p99): LATENCY_FRAMES frames paced at FPS, the first round's;
- cases: `hdmabuf` (videotestsrc writes into hdmabufsink's pool; the run fails if the sink says it
  copied), `shm` (shmsink copies each frame into its area; shmsrc restates the caps, gets num-buffers
  since no EOS crosses, and is-live=true), `copy` (one process: one memcpy of each frame on arrival,
  the floor of any copying transport) and `source` (one process, no transport: what making the frames
  costs).

--source stamp replaces videotestsrc by a source that writes only the stamp (as a camera or GPU
writing by DMA costs the CPU nothing), which leaves the transport's own cost.

Prints a Markdown table on stdout and exits 0; exit 1 when a run failed.
"""
import argparse
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
TIMEOUT = 180  # seconds any one run may take


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--build', default=str(ROOT / 'build'), help='the meson build directory')
    ap.add_argument('--sizes', default='1920x1080,3840x2160')
    ap.add_argument('--source', default='videotestsrc', choices=['videotestsrc', 'stamp'])
    ap.add_argument('--frames', type=int, default=300, help='frames of a throughput run')
    ap.add_argument('--latency-frames', type=int, default=90, help='frames of a paced latency run')
    ap.add_argument('--fps', type=int, default=30, help='the pace of the latency runs')
    ap.add_argument('--rounds', type=int, default=3)
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
    """One gst-bench process; its RESULT line parsed."""

    def __init__(self, argv, env):
        self.argv = argv
        self.proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def wait_ready(self):
        line = self.proc.stdout.readline()
        if not line.startswith('READY'):
            raise RuntimeError(f'{" ".join(self.argv)}: not ready: {line}{self.proc.stderr.read()}')

    def result(self, check=True):
        out, err = self.proc.communicate(timeout=TIMEOUT)
        lines = [l for l in out.splitlines() if l.startswith('RESULT')]
        if not lines or (check and self.proc.returncode != 0):
            raise RuntimeError(f'{" ".join(self.argv)}: exit {self.proc.returncode}: {err.strip()[-2000:]}')
        return {k: float(v) for k, v in (w.split('=') for w in lines[0].split()[1:])}


def bench(env):
    return [str(pathlib.Path(env['HDMABUF_BENCH_BUILD']) / 'gst/gst-bench')]


def run_hdmabuf(env, size, frames, fps, source, tag):
    vm = env.get('HDMABUF_TEST_SOURCE_VM', '0')
    consumer = Run(bench(env) + ['consume', size, str(frames), 'hdmabufsrc', f'stream={tag}'], env)
    consumer.wait_ready()
    producer = Run(bench(env) + ['produce', source, size, str(frames), str(fps), 'hdmabufsink', f'stream={tag}',
                                 f'target-vm={vm}', 'sync=false'], env)
    p, c = producer.result(), consumer.result()
    if p['sink_copies'] != 0:
        raise RuntimeError('hdmabufsink copied frames: the source did not write into its pool')
    return p, c


def run_shm(env, size, frames, fps, source, sock):
    w, h = (int(v) for v in size.split('x'))
    producer = Run(bench(env) + ['produce', source, size, str(frames), str(fps), 'shmsink', f'socket-path={sock}',
                                 'wait-for-connection=true', 'sync=false', f'shm-size={8 * w * h * 4 + (1 << 20)}'],
                   env)
    producer.wait_ready()
    end = time.monotonic() + TIMEOUT
    while not os.path.exists(sock):
        if producer.proc.poll() is not None or time.monotonic() > end:
            raise RuntimeError(f'shmsink made no socket: {producer.proc.stderr.read()}')
        time.sleep(0.01)
    consumer = Run(bench(env) + ['consume', size, str(frames), 'shmsrc', f'socket-path={sock}', 'is-live=true',
                                 f'num-buffers={frames}', '!',
                                 f'video/x-raw,format=RGBA,width={w},height={h},framerate=60/1'], env)
    c = consumer.result()
    # shmsink may fail once its reader left ("gst_poll_wait returned -1"): its numbers stand.
    return producer.result(check=False), c


def run_local(env, size, frames, fps, source, what):
    r = Run(bench(env) + ['local', source, size, str(frames), str(fps), what], env)
    return None, r.result()


def measure(env, args, case, size, rnd, tmp):
    """(fps, cpu ms per frame) unpaced, and (median, p99 latency) paced (first round only)."""
    def one(frames, fps, suffix):
        tag = f'bench-{case}-{size}-{rnd}-{suffix}'
        if case == 'hdmabuf':
            return run_hdmabuf(env, size, frames, fps, args.source, tag)
        if case == 'shm':
            return run_shm(env, size, frames, fps, args.source, f'{tmp}/{tag}.sock')
        return run_local(env, size, frames, fps, args.source, 'copy' if case == 'copy' else 'none')

    p, c = one(args.frames, 0, 't')
    cpu = c['cpu_ms'] + (p['cpu_ms'] if p is not None else 0)
    out = {'fps': c['fps'], 'cpu': cpu / max(c['frames'] - 1, 1)}
    if rnd == 0:
        _, c = one(args.latency_frames, args.fps, 'l')
        out['lat'] = (c['lat_median_ms'], c['lat_p99_ms'])
    return out


def main():
    args = parse_args()
    if 'HDMABUF_RUNTIME_DIR' not in os.environ:
        return 0 if under_daemons() == 0 else 1
    env = dict(os.environ)
    env['HDMABUF_BENCH_BUILD'] = args.build
    env['GST_PLUGIN_PATH'] = str(pathlib.Path(args.build) / 'gst') + (
        ':' + env['GST_PLUGIN_PATH'] if env.get('GST_PLUGIN_PATH') else '')
    cases = ['hdmabuf', 'shm', 'copy', 'source']
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        env['GST_REGISTRY_1_0'] = f'{tmp}/registry.bin'
        for size in args.sizes.split(','):
            results = {case: [] for case in cases}
            for rnd in range(args.rounds):
                for case in cases:
                    results[case].append(measure(env, args, case, size, rnd, tmp))
            shm_fps = statistics.median(r['fps'] for r in results['shm'])
            for case in cases:
                fps = statistics.median(r['fps'] for r in results[case])
                cpu = statistics.median(r['cpu'] for r in results[case])
                lat = results[case][0]['lat']
                rows.append((case, size, fps, cpu, lat[0], lat[1], fps / shm_fps))
    names = {'hdmabuf': 'hdmabufsink -> hdmabufsrc', 'shm': 'shmsink -> shmsrc', 'copy': 'one memcpy (baseline)',
             'source': 'source alone'}
    lines = [f'RGBA, source {args.source}; fps and CPU (both ends): {args.frames} frames unpaced, median of '
             f'{args.rounds} rounds; latency: {args.latency_frames} frames at {args.fps} fps, from the stamp '
             'after the source to the arrival', '',
             '| case | resolution | fps | CPU ms/frame | median latency ms | p99 latency ms | ratio vs shmsink |',
             '|---|---|---|---|---|---|---|']
    for case, size, fps, cpu, med, p99, ratio in rows:
        lines.append(f'| {names[case]} | {size} | {fps:.0f} | {cpu:.2f} | {med:.2f} | {p99:.2f} | {ratio:.2f} |')
    text = '\n'.join(lines) + '\n'
    print(text, end='', flush=True)
    if os.environ.get('HDMABUF_BENCH_TABLE'):
        pathlib.Path(os.environ['HDMABUF_BENCH_TABLE']).write_text(text)
    return 0


if __name__ == '__main__':
    try:
        sys.exit(main())
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        print(f'shm-compare: {e}', file=sys.stderr)
        sys.exit(1)
