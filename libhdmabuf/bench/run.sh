#!/usr/bin/env bash
# Runs the libhdmabuf benchmarks against real daemons: libhdmabuf/tests/with-daemons.py starts the
# ivshmem server, a sink and a source (the Java daemons: mvn -q -DskipTests package -pl cli -am) in a
# fresh HDMABUF_RUNTIME_DIR, then bench_fence and bench_events one after the other. Each program's
# Markdown table goes to OUT_DIR/<program>.md and is printed here at the end.
# usage: run.sh REPO BENCH_BUILD_DIR OUT_DIR   (BENCH_FENCE_ROUNDS, BENCH_EXPORTS: the programs' counts)
set -euo pipefail
root="${1:?usage: run.sh REPO BENCH_BUILD_DIR OUT_DIR}"
bin="${2:?usage: run.sh REPO BENCH_BUILD_DIR OUT_DIR}"
out="${3:?usage: run.sh REPO BENCH_BUILD_DIR OUT_DIR}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
rm -f "$out/bench_fence.md" "$out/bench_events.md"
python="$(command -v /usr/bin/python3 || command -v python3)"
"$python" "$root/libhdmabuf/tests/with-daemons.py" --root "$root" --timeout 900 -- \
    /bin/sh -c '"$1" "$2" > "$3/bench_fence.md" && "$4" "$5" > "$3/bench_events.md"' sh \
    "$bin/bench_fence" "${BENCH_FENCE_ROUNDS:-20000}" "$out" "$bin/bench_events" "${BENCH_EXPORTS:-1000}"
for f in bench_fence bench_events; do
    echo
    cat "$out/$f.md"
done
echo
echo "Markdown tables: $out/bench_fence.md, $out/bench_events.md"
