#!/bin/sh
# Prepares a clean Debian 12 root for the package installation test: debootstrap --variant=minbase from Debian's
# archive, with its package lists, packed once into CACHE_DIR/bookworm-minbase.tar.gz (reused while it exists).
# Prints ROOT_TAR=<path>. Needs root and debootstrap. usage: prepare-root.sh CACHE_DIR [MIRROR]
set -eu
cache="${1:?usage: prepare-root.sh CACHE_DIR [MIRROR]}"
mirror="${2:-http://deb.debian.org/debian}"
tar="$cache/bookworm-minbase.tar.gz"
mkdir -p "$cache"
if [ ! -s "$tar" ]; then
    work="$(mktemp -d "$cache/root.XXXXXX")"
    trap 'rm -rf "$work"' EXIT
    echo "prepare-root: debootstrap --variant=minbase bookworm from $mirror (a few minutes, once)" >&2
    debootstrap --variant=minbase bookworm "$work/root" "$mirror" >"$work/debootstrap.log" 2>&1 ||
        { tail -20 "$work/debootstrap.log" >&2; exit 1; }
    # debootstrap leaves no package lists: apt-get install in the test resolves dependencies from them.
    chroot "$work/root" apt-get update -qq
    chroot "$work/root" apt-get clean
    tar -C "$work/root" -czf "$tar.part" .
    mv "$tar.part" "$tar"
fi
echo "ROOT_TAR=$tar"
