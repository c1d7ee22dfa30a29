#!/usr/bin/env python3
"""hdmabufsink/hdmabufsrc against shmsink/shmsrc (gst-plugins-bad): the same frames, two processes.

Run under the daemons of libhdmabuf/tests/with-daemons.py (it sets HDMABUF_RUNTIME_DIR and
HDMABUF_TEST_SOURCE_VM), with GST_PLUGIN_PATH reaching libgsthdmabuf.so and libgstshm.so:

  GST_PLUGIN_PATH=build/gst:$BAD_PLUGINS python3 libhdmabuf/tests/with-daemons.py --root . -- \\
      python3 gst/bench/shm-compare.py [FRAMES [WIDTHxHEIGHT [ROUNDS]]]

For each transport and round: a consumer `SRC ! fakesink` and a producer `videotestsrc ! RGBA ! SINK`
(unpaced, sync=false), FRAMES frames; prints the producer's wall time (first to last frame handed
over, including start-up) and each process's CPU time. shmsrc gets num-buffers, since no EOS crosses,
and is-live=true (non-live, it hangs in 1.22); shmsink's exit status is ignored (it fails when its
reader leaves).
"""
import os
import resource
import subprocess
import sys
import tempfile
import time

frames = int(sys.argv[1]) if len(sys.argv) > 1 else 300
width, height = (int(v) for v in (sys.argv[2] if len(sys.argv) > 2 else '1920x1080').split('x'))
rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
caps = f'video/x-raw,format=RGBA,width={width},height={height},framerate=60/1'
source = f'videotestsrc num-buffers={frames} pattern=solid-color ! {caps}'
TIMEOUT = 120


def wait_bounded(proc):
    """Reaps proc (killed after TIMEOUT): (status, rusage)."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid != 0:
            return status, usage
        if time.monotonic() > deadline:
            proc.kill()
        time.sleep(0.02)


def run_pair(consumer, producer):
    """Starts consumer, then producer; returns (producer wall s, producer cpu s, consumer cpu s)."""
    c = subprocess.Popen(['gst-launch-1.0', '-q'] + consumer.split(), stdout=subprocess.DEVNULL)
    time.sleep(1.0)  # the consumer subscribes (hdmabufsrc) or the sink creates the socket (shm: below)
    start = time.monotonic()
    p = subprocess.Popen(['gst-launch-1.0', '-q'] + producer.split(), stdout=subprocess.DEVNULL)
    status, pusage = wait_bounded(p)
    wall = time.monotonic() - start
    cstatus, cusage = wait_bounded(c)
    if status != 0 or cstatus != 0:
        raise SystemExit(f'failed: {producer}: producer status {status}, consumer status {cstatus}')
    return wall, pusage.ru_utime + pusage.ru_stime, cusage.ru_utime + cusage.ru_stime


def run_shm_pair(sock):
    """shmsrc needs the socket first: the producer waits for a connection, the consumer then connects."""
    producer = f'{source} ! shmsink socket-path={sock} wait-for-connection=true sync=false'
    p = subprocess.Popen(['gst-launch-1.0', '-q'] + producer.split(), stdout=subprocess.DEVNULL)
    while not os.path.exists(sock):
        time.sleep(0.01)
    start = time.monotonic()
    c = subprocess.Popen(['gst-launch-1.0', '-q', 'shmsrc', f'socket-path={sock}', f'num-buffers={frames}', 'is-live=true', '!',
                          caps, '!', 'fakesink', 'sync=false'], stdout=subprocess.DEVNULL)
    cstatus, cusage = wait_bounded(c)
    wall = time.monotonic() - start
    _, pusage = wait_bounded(p)  # shmsink fails when its reader leaves ("gst_poll_wait returned -1")
    if cstatus != 0:
        raise SystemExit(f'failed: shmsrc status {cstatus}')
    return wall, pusage.ru_utime + pusage.ru_stime, cusage.ru_utime + cusage.ru_stime


def main():
    vm = os.environ.get('HDMABUF_TEST_SOURCE_VM', '0')
    results = {'hdmabuf': [], 'shm': []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            results['hdmabuf'].append(run_pair(
                f'hdmabufsrc stream=bench{r} ! fakesink sync=false',
                f'{source} ! hdmabufsink stream=bench{r} target-vm={vm} sync=false'))
            results['shm'].append(run_shm_pair(f'{tmp}/shm{r}.sock'))
    print(f'{frames} frames {width}x{height} RGBA, {rounds} rounds (median; min-max)')
    for name, rows in results.items():
        cols = list(zip(*rows))
        desc = []
        for label, values in zip(('wall', 'producer cpu', 'consumer cpu'), cols):
            v = sorted(values)
            desc.append(f'{label} {v[len(v) // 2]:.2f} s ({v[0]:.2f}-{v[-1]:.2f})')
        fps = frames / sorted(cols[0])[len(cols[0]) // 2]
        print(f'{name:8} {", ".join(desc)}; {fps:.0f} frames/s')


if __name__ == '__main__':
    main()
