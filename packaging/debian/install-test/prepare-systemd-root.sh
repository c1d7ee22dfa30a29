#!/bin/sh
# Prepares the Debian 12 root the systemd guest test boots: prepare-root.sh's clean minbase root plus systemd as init
# and the package's dependencies (a Java 17 runtime, adduser), installed with apt-get from Debian's archive (downloads
# kept in CACHE_DIR/archives, shared with the package installation test) and packed once into
# CACHE_DIR/bookworm-systemd.tar.gz (reused while it exists). The hyperdmabuf package itself is not in it: the test
# installs that in the booted guest. Prints ROOT_TAR=<path>. Needs root, debootstrap and util-linux.
# usage: prepare-systemd-root.sh CACHE_DIR [MIRROR]
set -eu
cache="${1:?usage: prepare-systemd-root.sh CACHE_DIR [MIRROR]}"
here="$(cd "$(dirname "$0")" && pwd)"
tar="$cache/bookworm-systemd.tar.gz"
if [ ! -s "$tar" ]; then
    . "$here/chroot-root.sh"
    private_mounts "$@"
    minbase="$(sh "$here/prepare-root.sh" "$@" | sed -n 's/^ROOT_TAR=//p')"
    work="$(mktemp -d "$cache/systemd-root.XXXXXX")"
    trap 'rm -rf "$work"' EXIT
    root="$work/root"
    unpack_root "$minbase" "$root" "$cache/archives"
    echo "prepare-systemd-root: apt-get install systemd systemd-sysv openjdk-17-jre-headless adduser (once)" >&2
    chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        systemd systemd-sysv openjdk-17-jre-headless adduser >"$work/apt.log" 2>&1 ||
        { tail -30 "$work/apt.log" >&2; exit 1; }
    release_root "$root"
    # The guest's first boot makes its own machine id (an empty file: systemd writes one on a writable root).
    : >"$root/etc/machine-id"
    echo hdmabuf-guest >"$root/etc/hostname"
    tar -C "$root" -czf "$tar.part" .
    mv "$tar.part" "$tar"
fi
echo "ROOT_TAR=$tar"
