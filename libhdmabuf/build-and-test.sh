#!/usr/bin/env bash
# Builds and tests the C side with meson, for `mvn verify` (module libhdmabuf): a normal build and an
# AddressSanitizer + UndefinedBehaviorSanitizer build, each in its own directory under OUT_DIR.
# usage: build-and-test.sh OUT_DIR [SKIP_TESTS]   (SKIP_TESTS=true: build only, as mvn -DskipTests)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:?usage: build-and-test.sh OUT_DIR [SKIP_TESTS]}"
skip_tests="${2:-false}"

missing=()
for tool in meson ninja pkg-config protoc-c; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if command -v pkg-config >/dev/null 2>&1 && ! pkg-config --exists libprotobuf-c; then
    missing+=("libprotobuf-c (pkg-config)")
fi
if [ "${#missing[@]}" -gt 0 ]; then
    cat >&2 <<MSG
libhdmabuf: cannot build the C client library: ${missing[*]} not found.
  Install the Debian packages: apt-get install meson ninja-build pkg-config protobuf-c-compiler libprotobuf-c-dev
  (.ci/run installs them), or leave the C side out: mvn verify -Dhdmabuf.skipC=true
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
