#!/usr/bin/env python3
"""Runs a C test against real daemons, each in its own process, as the Java tests and the demo do.

Starts the ivshmem server, a sink daemon ("VM 1") and a source daemon ("VM 2") in a fresh
HDMABUF_RUNTIME_DIR, then the --bg commands (in the background), then the main command; every
command must exit 0. In commands and the environment, {sink}, {source}, {sink_vm}, {source_vm},
{sink_pid}, {source_pid} (the daemons' processes, for a test that kills one), {dir}, {java} (the
hdmabuf command line as a java invocation) and {java_tests} (java with the command line's jar and the
tests module's classes: a main class of tests/src/test/java follows) are substituted; the test's
environment also has HDMABUF_TEST_SINK_VM, _SOURCE_VM, _SINK_PID and _SOURCE_PID. --policy gives
both daemons a policy file (POLICY.md; without it they run permissive), --source-policy the
source another one. --python-gen generates the Python bindings of the .proto files with protoc into the
run directory and points HDMABUF_PY_GEN at them (examples/python needs them).

Exit status: the first failure's, 77 (meson's "skipped") when java or cli/target/hdmabuf.jar is missing
(or, for {java_tests}, the tests module's compiled classes: mvn test-compile -pl tests -am).

usage: with-daemons.py --root REPO [--vectors N] [--region-size SIZE] [--policy FILE [--source-policy FILE]]
                       [--max-clients N] [--python-gen] [--bg 'CMD'] [--bg-ready WORD] [--timeout S] -- CMD [ARG]...
"""
import argparse
import os
import pathlib
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

JVM = ['-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-Xss512k',
       '-Dorg.slf4j.simpleLogger.defaultLogLevel=warn']
START_TIMEOUT = 60


class Child:
    """A process whose output is echoed with a prefix and searched for a READY line."""

    def __init__(self, name, argv, env):
        self.name = name
        self.lines = []
        self.cond = threading.Condition()
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        self.thread = threading.Thread(target=self._pump, daemon=True)
        self.thread.start()

    def _pump(self):
        for raw in self.proc.stdout:
            line = raw.decode('utf-8', 'replace').rstrip('\n')
            print(f'[{self.name}] {line}', flush=True)
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def await_line(self, word, timeout):
        end = time.monotonic() + timeout
        with self.cond:
            while True:
                for line in self.lines:
                    if line.startswith(word):
                        return line
                left = end - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self.thread.is_alive()):
                    raise RuntimeError(f'{self.name}: no {word} line within {timeout} s '
                                       f'(exit {self.proc.poll()})')
                self.cond.wait(min(left, 0.5))

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def field(line, key):
    for word in line.split():
        if word.startswith(key + '='):
            return word[len(key) + 1:]
    raise RuntimeError(f'no {key}= in {line!r}')


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--root', required=True)
    ap.add_argument('--vectors', type=int, default=None, help='doorbell vectors per peer (server default 16)')
    ap.add_argument('--region-size', default='64M', help='the ivshmem region (default 64M)')
    ap.add_argument('--policy', default=None, help='the policy file of both daemons (default: none, permissive)')
    ap.add_argument('--source-policy', default=None, help='the source daemon\'s policy file instead of --policy')
    ap.add_argument('--max-clients', type=int, default=None, help='the sink daemon\'s client limit')
    ap.add_argument('--bg', action='append', default=[], help='a command to run in the background')
    ap.add_argument('--bg-ready', default=None, help='a line the --bg commands print when ready')
    ap.add_argument('--python-gen', action='store_true', help='generate the Python bindings (HDMABUF_PY_GEN)')
    ap.add_argument('--timeout', type=int, default=240)
    ap.add_argument('cmd', nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd[:1] == ['--'] else a.cmd
    root = pathlib.Path(a.root)
    jar = root / 'cli/target/hdmabuf.jar'  # the CLI with its whole class path
    java = shutil.which('java')
    if java is None or not jar.is_file():
        print(f'SKIP: needs java and the command line\'s jar ({jar}); build it with '
              '`mvn -q -DskipTests package -pl cli -am`', flush=True)
        return 1 if os.environ.get('CI') == 'true' else 77  # CI must not skip silently
    cli = [java] + JVM + ['-cp', str(jar), 'org.hyperdmabuf.cli.Hdmabuf']
    test_classes = root / 'tests/target/test-classes'
    java_tests = [java] + JVM + ['-cp', f'{jar}:{test_classes}']
    if any('{java_tests}' in c for c in a.bg + cmd) and not (test_classes / 'org/hyperdmabuf/tests').is_dir():
        print(f'SKIP: needs the tests module\'s classes ({test_classes}); build them with '
              '`mvn -q -DskipTests test-compile -pl tests -am`', flush=True)
        return 1 if os.environ.get('CI') == 'true' else 77
    run_dir = tempfile.mkdtemp(prefix='hdmabuf-c-', dir='/tmp')  # socket paths stay short
    env = dict(os.environ, HDMABUF_RUNTIME_DIR=run_dir)
    children = []
    try:
        if a.python_gen:
            proto = root / 'abi-spec/src/main/proto'
            gen = pathlib.Path(run_dir) / 'pygen'
            gen.mkdir()
            subprocess.run(['protoc', '-I', str(proto), f'--python_out={gen}', str(proto / 'hyperdmabuf_common.proto'),
                            str(proto / 'client.proto')], check=True, timeout=START_TIMEOUT)
            env['HDMABUF_PY_GEN'] = str(gen)
        ivshmem = f'{run_dir}/ivshmem.sock'
        server = ['server', '--socket', ivshmem, '--size', a.region_size, '--max-id', '7']
        if a.vectors is not None:
            server += ['--vectors', str(a.vectors)]
        children.append(Child('server', cli + server, env))
        children[-1].await_line('READY', START_TIMEOUT)
        vms = {}
        pids = {}
        policies = {'sink': a.policy, 'source': a.source_policy or a.policy}
        for role in ('sink', 'source'):
            policy = policies[role] or f'{run_dir}/no-policy.toml'
            argv = cli + [role, '--ivshmem', ivshmem, '--socket', f'{run_dir}/{role}.sock', '--name', role,
                          '--policy', policy, '--policy-dir', f'{run_dir}/no-policy.d']
            if role == 'sink' and a.max_clients is not None:
                argv += ['--max-clients', str(a.max_clients)]
            children.append(Child(role, argv, env))
            vms[role] = field(children[-1].await_line('READY', START_TIMEOUT), 'vm')
            pids[role] = str(children[-1].proc.pid)
        subst = {'sink': f'{run_dir}/sink.sock', 'source': f'{run_dir}/source.sock', 'sink_vm': vms['sink'],
                 'source_vm': vms['source'], 'sink_pid': pids['sink'], 'source_pid': pids['source'], 'dir': run_dir, 'java': ' '.join(shlex.quote(c) for c in cli),
                 'java_tests': ' '.join(shlex.quote(c) for c in java_tests)}
        env['HDMABUF_TEST_SINK_VM'] = vms['sink']
        env['HDMABUF_TEST_SOURCE_VM'] = vms['source']
        env['HDMABUF_TEST_SINK_PID'] = pids['sink']
        env['HDMABUF_TEST_SOURCE_PID'] = pids['source']
        background = []
        for i, line in enumerate(a.bg):
            argv = shlex.split(line.format(**subst))
            background.append(Child(f'bg{i}', argv, env))
            children.append(background[-1])
            if a.bg_ready:
                background[-1].await_line(a.bg_ready, START_TIMEOUT)
        argv = []
        for c in cmd:
            argv += cli if c == '{java}' else java_tests if c == '{java_tests}' else [c.format(**subst)]
        main_child = Child('test', argv, env)
        children.append(main_child)
        rc = main_child.proc.wait(a.timeout)
        main_child.thread.join(5)
        if rc != 0:
            print(f'FAILED: the test exited {rc}', flush=True)
            for b in background:
                b.stop()
            return rc
        for b in background:
            brc = b.proc.wait(a.timeout)
            b.thread.join(5)
            if brc != 0:
                print(f'FAILED: background command {b.name} exited {brc}', flush=True)
                return brc
        return 0
    except subprocess.TimeoutExpired as e:
        print(f'FAILED: timed out: {e}', flush=True)
        return 1
    except (RuntimeError, subprocess.CalledProcessError, OSError) as e:
        print(f'FAILED: {e}', flush=True)
        return 1
    finally:
        for c in reversed(children):
            c.stop()
        shutil.rmtree(run_dir, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
