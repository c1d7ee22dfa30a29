#!/usr/bin/env bash
# Builds and tests the C side with meson, for `mvn verify` (module libhdmabuf): a normal build and an
# AddressSanitizer + UndefinedBehaviorSanitizer build, each in its own directory under OUT_DIR; then
# a clang build of the libFuzzer harnesses (libhdmabuf/fuzz), each run FUZZ_SECONDS on a copy of its
# seed corpus (0: not built, not run).
# usage: build-and-test.sh OUT_DIR [SKIP_TESTS [FUZZ_SECONDS]]   (SKIP_TESTS=true: build only, as mvn -DskipTests)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:?usage: build-and-test.sh OUT_DIR [SKIP_TESTS [FUZZ_SECONDS]]}"
skip_tests="${2:-false}"
fuzz_seconds="${3:-25}"

missing=()
for tool in meson ninja pkg-config protoc-c; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if command -v pkg-config >/dev/null 2>&1 && ! pkg-config --exists libprotobuf-c; then
    missing+=("libprotobuf-c (pkg-config)")
fi
if [ "$fuzz_seconds" != 0 ]; then
    command -v clang >/dev/null 2>&1 || missing+=("clang")
    # libFuzzer and the clang sanitizer runtimes (Debian: libclang-rt-<version>-dev).
    if command -v clang >/dev/null 2>&1 && ! [ -f "$(clang -print-file-name=libclang_rt.fuzzer-x86_64.a)" ]; then
        missing+=("libFuzzer (libclang-rt-dev)")
    fi
fi
if [ "${#missing[@]}" -gt 0 ]; then
    cat >&2 <<MSG
libhdmabuf: cannot build the C client library: ${missing[*]} not found.
  Install the Debian packages: apt-get install meson ninja-build pkg-config protobuf-c-compiler libprotobuf-c-dev
  clang libclang-rt-14-dev (.ci/run installs them), leave the fuzzing out: mvn verify -Dhdmabuf.fuzzSeconds=0,
  or the whole C side: mvn verify -Dhdmabuf.skipC=true
MSG
    exit 1
fi

# hdmabuf-wayland (clients/wayland) and its Weston test are left out of the meson build without
# these: say so, and fail under CI, where .ci/run installs them.
wl_missing=()
if ! pkg-config --exists wayland-client wayland-scanner wayland-protocols; then
    wl_missing+=(libwayland-dev wayland-protocols)
fi
command -v weston-screenshooter >/dev/null 2>&1 || wl_missing+=(weston)
/usr/bin/python3 -c 'import PIL' >/dev/null 2>&1 || wl_missing+=(python3-pil)
if [ "${#wl_missing[@]}" -gt 0 ]; then
    echo "hdmabuf-wayland: left out or untested without: apt-get install ${wl_missing[*]}" >&2
    [ "${CI:-}" = true ] && exit 1
fi

# The GStreamer plugin (gst/) and its tests likewise.
gst_missing=()
pkg-config --exists gstreamer-app-1.0 gstreamer-video-1.0 gstreamer-audio-1.0 ||
    gst_missing+=(libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev)
command -v gst-inspect-1.0 >/dev/null 2>&1 || gst_missing+=(gstreamer1.0-tools)
if [ "${#gst_missing[@]}" -gt 0 ]; then
    echo "GStreamer plugin: left out or untested without: apt-get install ${gst_missing[*]}" >&2
    [ "${CI:-}" = true ] && exit 1
fi
# gst-waylandsink needs waylandsink (gstreamer1.0-plugins-bad, which .ci/run installs): skipped without it,
# a failure under CI.
if command -v gst-inspect-1.0 >/dev/null 2>&1 && ! gst-inspect-1.0 waylandsink >/dev/null 2>&1; then
    echo "GStreamer plugin: gst-waylandsink is skipped without waylandsink (apt-get install gstreamer1.0-plugins-bad)" >&2
    [ "${CI:-}" = true ] && exit 1
fi

for build in "meson:" "meson-asan:-Db_sanitize=address,undefined"; do
    dir="$out/${build%%:*}"
    opts=(${build#*:})
    echo "libhdmabuf: $dir ${opts[*]:-}"
    if [ -f "$dir/build.ninja" ]; then
        meson setup --reconfigure "${opts[@]}" "$dir" "$root" >/dev/null
    else
        meson setup "${opts[@]}" "$dir" "$root" >/dev/null
    fi
    meson compile -C "$dir"
    [ "$skip_tests" = true ] && continue
    # One test at a time: each starts three daemon JVMs, and CI has two cores.
    meson test -C "$dir" --num-processes 1 --print-errorlogs
done

# Fuzzing: clang, ASan + UBSan, the harnesses only (-Dtests=disabled). -Db_lundef=false: clang leaves the
# sanitizer runtimes out of shared libraries, the executables bring them.
[ "$fuzz_seconds" = 0 ] && exit 0
dir="$out/meson-fuzz"
opts=(-Dfuzzing=enabled -Dtests=disabled -Db_sanitize=address,undefined -Db_lundef=false)
echo "libhdmabuf: $dir ${opts[*]}"
if [ -f "$dir/build.ninja" ]; then
    CC=clang meson setup --reconfigure "${opts[@]}" "$dir" "$root" >/dev/null
else
    CC=clang meson setup "${opts[@]}" "$dir" "$root" >/dev/null
fi
meson compile -C "$dir"
[ "$skip_tests" = true ] && exit 0
for seeds in "$root"/libhdmabuf/fuzz/corpus/*/; do
    name="$(basename "$seeds")"
    work="$dir/corpus-run/$name"
    rm -rf "$work" && mkdir -p "$work"
    echo "libhdmabuf: fuzz_$name for ${fuzz_seconds} s"
    # New inputs go to the scratch copy, never into the repository; a crash leaves its input in $dir.
    if ! (cd "$dir" && UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        "$dir/libhdmabuf/fuzz/fuzz_$name" -max_total_time="$fuzz_seconds" -timeout=10 -max_len=65536 \
        -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$dir/fuzz_$name-" "$work" "$seeds" \
        > "$dir/fuzz_$name.log" 2>&1); then
        tail -n 60 "$dir/fuzz_$name.log" >&2
        echo "libhdmabuf: fuzz_$name failed; the input is in $dir/fuzz_$name-*" >&2
        exit 1
    fi
    grep -E '^(Done|stat::number_of_executed_units)' "$dir/fuzz_$name.log" || true
done
