#!/usr/bin/env bash
# Builds QEMU's own ivshmem server (contrib/ivshmem-server) from Debian bookworm's qemu source package, for the
# interop tests: Debian ships no binary of it. Prints the binary's path on stdout; everything else goes to stderr.
#
# Only the server's two C files, QEMU's queue.h and the protocol header are taken from the source; the few QEMU
# utility functions they call come from shim/ (glib does the option parsing, as in QEMU). The binary is cached
# and rebuilt only when missing.
#
# Needs: apt-get (the source download), xz-utils, gcc, pkg-config, libglib2.0-dev.
# Exit codes: 0 built or cached; 2 a prerequisite or the source is not available (the caller may skip);
# 1 anything else (a real build failure).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="${HDMABUF_CACHE:-$HOME/.cache/hyperdmabuf}/qemu-ivshmem-server"
bin="$cache/ivshmem-server"
suite=bookworm

if [ -x "$bin" ]; then
    echo "$bin"
    exit 0
fi
unavailable() { echo "qemu-ivshmem-server: $*" >&2; exit 2; }
for tool in apt-get tar xz gcc pkg-config; do
    command -v "$tool" >/dev/null || unavailable "$tool not found"
done
pkg-config --exists glib-2.0 || unavailable "glib-2.0 development files not found (libglib2.0-dev)"

# The machine's own Debian mirror: the first source of "deb" lines for the suite itself, one-line or deb822.
mirror="$(
    {
        cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
            sed -E -n 's/^[[:space:]]*deb[[:space:]]+(\[[^]]*\][[:space:]]+)?([^[:space:]]+)[[:space:]]+([^[:space:]]+).*/\2 \3/p' |
            awk -v s="$suite" '$2 == s { print $1 }'
        for f in /etc/apt/sources.list.d/*.sources; do
            [ -f "$f" ] || continue
            awk -v s="$suite" 'BEGIN { RS = ""; FS = "\n" }
                { types = uris = suites = ""
                  for (n = 1; n <= NF; n++) {
                      if ($n ~ /^Types:/) types = $n; else if ($n ~ /^URIs:/) uris = $n; else if ($n ~ /^Suites:/) suites = $n }
                  if (types ~ /[ \t]deb([ \t]|$)/ && (" " suites " ") ~ ("[ \t]" s "[ \t]")) { sub(/^URIs:[ \t]*/, "", uris); split(uris, u, /[ \t]+/); print u[1] } }' "$f"
        done
    } | awk 'NR == 1'
)"
[ -n "$mirror" ] || unavailable "no Debian $suite mirror in /etc/apt sources"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[ -f "$keyring" ] || unavailable "$keyring not found"

# A private apt state: a deb-src line for the suite, its own lists and caches; the machine's apt is untouched.
apt_dir="$cache/apt"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$cache/src"
echo "deb-src [signed-by=$keyring] $mirror $suite main" > "$apt_dir/sources.list"
apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
    -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o "APT::Sandbox::User=$(id -un)"
    -o "Debug::NoLocking=true")
orig() { find "$cache/src" -maxdepth 1 -name 'qemu_*.orig.tar.*' | sort | tail -n 1; }
if [ -z "$(orig)" ]; then
    echo "qemu-ivshmem-server: downloading Debian's qemu source package from $mirror ($suite)" >&2
    apt-get "${apt_opts[@]}" -qq update >&2 || unavailable "apt-get update of the deb-src list failed"
    (cd "$cache/src" && apt-get "${apt_opts[@]}" -qq source --download-only qemu >&2) ||
        unavailable "apt-get source --download-only qemu failed"
fi
tarball="$(orig)"
[ -n "$tarball" ] || unavailable "no qemu orig tarball after the download"

# Only the files the server needs (QEMU's sources stay in the cache, never in the repository).
work="$(mktemp -d "$cache/build.XXXXXX")"
trap 'rm -rf "$work"' EXIT
tar -xf "$tarball" -C "$work" --strip-components=1 --wildcards \
    '*/contrib/ivshmem-server/ivshmem-server.c' '*/contrib/ivshmem-server/ivshmem-server.h' \
    '*/contrib/ivshmem-server/main.c' '*/include/qemu/queue.h' '*/include/hw/misc/ivshmem.h'
version="$(basename "$tarball" | sed -e 's/^qemu_//' -e 's/\.orig\.tar\..*$//')"

# The shim's headers come first: they stand in for QEMU's (osdep.h, cutils.h, ...), queue.h is QEMU's own.
# shellcheck disable=SC2046
gcc -std=gnu11 -O2 -Wall -Wno-unused-function -D_GNU_SOURCE \
    -I"$here/shim" -I"$work/include" -I"$work/contrib/ivshmem-server" \
    -o "$work/ivshmem-server" \
    "$work/contrib/ivshmem-server/main.c" "$work/contrib/ivshmem-server/ivshmem-server.c" "$here/shim/shim.c" \
    $(pkg-config --cflags --libs glib-2.0) -lrt
mv "$work/ivshmem-server" "$bin"
echo "qemu-ivshmem-server: built QEMU $version contrib/ivshmem-server into $bin" >&2
echo "$bin"
