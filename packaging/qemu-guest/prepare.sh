#!/bin/sh
# Prepares a guest kernel and initramfs for running hyperdmabuf daemons in QEMU guests whose root is the
# host's filesystem, shared read-only over 9p (see README "Running in real KVM/QEMU guests").
#
#   prepare.sh CACHE_DIR
#
# Downloads Debian's current linux-image-*-amd64 package (never installed: unpacked with dpkg -x), builds a
# busybox initramfs with the 9p modules and this directory's guest-init, and prints
#   KERNEL=<path to vmlinuz>
#   INITRD=<path to initrd.gz>
# Everything lives in CACHE_DIR and is reused on the next run. Needs: apt-get, dpkg, busybox-static, cpio, kmod.
set -eu
cache=${1:?usage: prepare.sh CACHE_DIR}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)

# The exact package the metapackage depends on (a glob would download every kernel).
pkg=$(apt-cache depends linux-image-amd64 | sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -n 1)
[ -n "$pkg" ] || { echo "prepare.sh: cannot resolve linux-image-amd64 (apt-get update?)" >&2; exit 1; }
version=${pkg#linux-image-}
kdir="$cache/$pkg"
if [ ! -f "$kdir/boot/vmlinuz-$version" ]; then
    (cd "$cache" && rm -f "$pkg"_*.deb && apt-get download -q "$pkg" >&2)
    rm -rf "$kdir.tmp" && mkdir -p "$kdir.tmp"
    dpkg -x "$cache/$pkg"_*.deb "$kdir.tmp"
    rm -rf "$kdir" && mv "$kdir.tmp" "$kdir"
    rm -f "$cache/$pkg"_*.deb
fi

initrd="$cache/initrd-$version.gz"
if [ ! -f "$initrd" ] || [ "$here/guest-init" -nt "$initrd" ] || [ "$0" -nt "$initrd" ]; then
    root=$(mktemp -d)
    trap 'rm -rf "$root"' EXIT
    mkdir -p "$root/bin" "$root/modules" "$root/proc" "$root/sys" "$root/dev" "$root/host"
    cp /bin/busybox "$root/bin/busybox" 2>/dev/null || cp /usr/bin/busybox "$root/bin/busybox"
    ln -s busybox "$root/bin/sh"
    mods="$kdir/lib/modules/$version"
    # Load order: dependencies first (virtio transport, then netfs/fscache, then 9p over virtio).
    for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci netfs fscache 9pnet \
             9pnet_virtio 9p; do
        f=$(find "$mods/kernel" -name "$m.ko*" | head -n 1)
        [ -n "$f" ] || { echo "prepare.sh: module $m not in $pkg" >&2; exit 1; }
        case "$f" in
            *.ko.xz) xz -dc "$f" > "$root/modules/$m.ko" ;;
            *.ko.zst) zstd -qdc "$f" > "$root/modules/$m.ko" ;;
            *) cp "$f" "$root/modules/$m.ko" ;;
        esac
        echo "$m" >> "$root/modules/order"
    done
    cp "$here/guest-init" "$root/init"
    chmod 755 "$root/init"
    (cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$initrd.tmp"
    mv "$initrd.tmp" "$initrd"
fi
echo "KERNEL=$kdir/boot/vmlinuz-$version"
echo "INITRD=$initrd"
