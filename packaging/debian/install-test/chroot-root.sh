# Sourced by the install-test scripts.
# private_mounts "$@": runs the calling script again in a private mount namespace (unless it already is there), so
# its mounts go away with it.
private_mounts() {
    if [ "${HDMABUF_IN_NAMESPACE:-}" != 1 ]; then
        HDMABUF_IN_NAMESPACE=1 exec unshare --mount --propagation private "$0" "$@"
    fi
}
# unpack_root TAR ROOT ARCHIVES_DIR: a fresh ROOT from TAR, ready for apt-get in a chroot: proc, the host's /dev, a
# private /dev/shm, the download cache ARCHIVES_DIR as apt's archives, the host's resolv.conf.
unpack_root() {
    rm -rf "$2"
    mkdir -p "$2" "$3/partial"
    tar -C "$2" -xzf "$1"
    mount -t proc proc "$2/proc"
    mount --bind /dev "$2/dev"
    mount -t tmpfs -o mode=1777 tmpfs "$2/dev/shm"
    mount --bind "$3" "$2/var/cache/apt/archives"
    cp /etc/resolv.conf "$2/etc/resolv.conf"
}
# release_root ROOT: undoes unpack_root's mounts and resolv.conf (the root is then packed or booted).
release_root() {
    umount "$1/var/cache/apt/archives" "$1/dev/shm" "$1/dev" "$1/proc"
    rm -f "$1/etc/resolv.conf"
}
