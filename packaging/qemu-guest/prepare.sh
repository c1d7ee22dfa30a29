#!/bin/sh
# Prepares a guest kernel and initramfs for running hyperdmabuf daemons in QEMU guests whose root is the
# host's filesystem, shared read-only over 9p (see README "Running in real KVM/QEMU guests").
#
#   prepare.sh CACHE_DIR [SUITE]
#
# Downloads Debian's current linux-image-*-amd64 package (never installed: unpacked with dpkg -x, its modules
# indexed with depmod -b), builds a busybox initramfs with the 9p modules and this directory's guest-init, and
# prints
#   KERNEL=<path to vmlinuz>
#   INITRD=<path to initrd.gz>
# With SUITE (e.g. bookworm-backports) the kernel is that suite's linux-image-amd64, resolved through a private apt
# configuration in CACHE_DIR/apt-SUITE (its own sources list, lists and archives, refreshed once a day): the host's
# apt configuration is neither read nor changed.
# Everything lives in CACHE_DIR and is reused on the next run. Needs: apt-get, dpkg, busybox-static, cpio, kmod.
set -eu
cache=${1:?usage: prepare.sh CACHE_DIR [SUITE]}
suite=${2:-}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)

apt_options=""
if [ -n "$suite" ]; then
    adir="$cache/apt-$suite"
    mkdir -p "$adir/sources.list.d" "$adir/preferences.d" "$adir/state/lists/partial" "$adir/cache/archives/partial"
    touch "$adir/state/status"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $suite main" \
        > "$adir/sources.list"
    apt_options="-o Dir::Etc::SourceList=$adir/sources.list -o Dir::Etc::SourceParts=$adir/sources.list.d
        -o Dir::Etc::Preferences=$adir/preferences -o Dir::Etc::PreferencesParts=$adir/preferences.d
        -o Dir::State=$adir/state -o Dir::State::status=$adir/state/status -o Dir::Cache=$adir/cache
        -o APT::Sandbox::User=root"
    if [ -z "$(find "$adir/updated" -mtime -1 2>/dev/null)" ]; then
        # shellcheck disable=SC2086 # apt_options is a list of words
        apt-get $apt_options update -q >&2
        touch "$adir/updated"
    fi
fi

# The exact package the metapackage depends on (a glob would download every kernel).
# shellcheck disable=SC2086
pkg=$(apt-cache $apt_options depends linux-image-amd64 |
    sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -n 1)
[ -n "$pkg" ] || { echo "prepare.sh: cannot resolve linux-image-amd64 (apt-get update?)" >&2; exit 1; }
version=${pkg#linux-image-}
kdir="$cache/$pkg"
if [ ! -f "$kdir/boot/vmlinuz-$version" ]; then
    # shellcheck disable=SC2086
    (cd "$cache" && rm -f "$pkg"_*.deb && apt-get $apt_options download -q "$pkg" >&2)
    rm -rf "$kdir.tmp" && mkdir -p "$kdir.tmp"
    dpkg -x "$cache/$pkg"_*.deb "$kdir.tmp"
    rm -rf "$kdir" && mv "$kdir.tmp" "$kdir"
    rm -f "$cache/$pkg"_*.deb
fi
# The package ships no modules.dep (its postinst makes it): index the unpacked tree.
[ -f "$kdir/lib/modules/$version/modules.dep" ] || depmod -b "$kdir" "$version"

initrd="$cache/initrd-$version.gz"
if [ ! -f "$initrd" ] || [ "$here/guest-init" -nt "$initrd" ] || [ "$0" -nt "$initrd" ]; then
    root=$(mktemp -d)
    trap 'rm -rf "$root"' EXIT
    mkdir -p "$root/bin" "$root/modules" "$root/proc" "$root/sys" "$root/dev" "$root/host"
    cp /bin/busybox "$root/bin/busybox" 2>/dev/null || cp /usr/bin/busybox "$root/bin/busybox"
    ln -s busybox "$root/bin/sh"
    # The modules 9p over virtio-pci needs, dependencies first (modprobe resolves them from modules.dep; parts
    # built into this kernel are left out).
    for m in virtio_pci 9pnet_virtio 9p; do
        modprobe -d "$kdir" -S "$version" --show-depends "$m" | sed -n 's/^insmod \([^ ]*\).*/\1/p'
    done | awk '!seen[$0]++' > "$root/modules.list"
    [ -s "$root/modules.list" ] || { echo "prepare.sh: no 9p modules in $pkg" >&2; exit 1; }
    while read -r f; do
        m=$(basename "$f"); m=${m%%.ko*}
        case "$f" in
            *.ko.xz) xz -dc "$f" > "$root/modules/$m.ko" ;;
            *.ko.zst) zstd -qdc "$f" > "$root/modules/$m.ko" ;;
            *) cp "$f" "$root/modules/$m.ko" ;;
        esac
        echo "$m" >> "$root/modules/order"
    done < "$root/modules.list"
    rm "$root/modules.list"
    cp "$here/guest-init" "$root/init"
    chmod 755 "$root/init"
    (cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$initrd.tmp"
    mv "$initrd.tmp" "$initrd"
fi
echo "KERNEL=$kdir/boot/vmlinuz-$version"
echo "INITRD=$initrd"
