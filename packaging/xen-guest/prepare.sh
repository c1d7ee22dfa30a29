#!/bin/sh
# Prepares a Xen hypervisor, a PV dom0 and a PV domU for running hyperdmabuf daemons on a real Xen under QEMU
# (see README "Running on a real Xen host").
#
#   prepare.sh CACHE_DIR
#
# Downloads Debian's Xen hypervisor, toolstack and current kernel packages (never installed: unpacked with
# dpkg -x) and builds, all uncompressed (under TCG, Xen and xl spend 5-30 s decompressing):
#   XEN=<the hypervisor, a multiboot ELF for qemu -kernel>
#   KERNEL=<vmlinux, the PV kernel of dom0 and of the domU>
#   DOM0_INITRD=<cpio: busybox, the Xen and 9p modules, dom0-init>
#   DOMU_INITRD=<cpio: busybox, the Xen modules, a jlink'ed JRE, xenstore-read/write, domu-init>
#   JRE=<that JRE (at /jre in the domU): its java makes the domU's class-data archive>
#   XEN_ROOT=<the unpacked toolstack: xl, xenstored, xenconsoled, xen-init-dom0, their libraries>
# Everything lives in CACHE_DIR and is reused on the next run. A domU's class path is appended by its user as a
# second cpio archive (the kernel unpacks concatenated archives). Needs: apt-get, dpkg, busybox-static, cpio,
# kmod, xz-utils and a JDK with jlink.
set -eu
cache=${1:?usage: prepare.sh CACHE_DIR}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)

depends() { apt-cache depends "$1" | sed -n 's/^ *Depends: \([^<>]*\)$/\1/p'; }
# The exact packages the metapackages depend on (a glob would download every version).
kpkg=$(depends linux-image-amd64 | grep '^linux-image-[0-9].*-amd64$' | head -n 1)
xhyp=$(depends xen-system-amd64 | grep '^xen-hypervisor-[0-9.]*-amd64$' | head -n 1)
xutils=$(depends xen-system-amd64 | grep '^xen-utils-[0-9.]*$' | head -n 1)
[ -n "$kpkg" ] && [ -n "$xhyp" ] && [ -n "$xutils" ] ||
    { echo "prepare.sh: cannot resolve linux-image-amd64 and xen-system-amd64 (apt-get update?)" >&2; exit 1; }
kver=${kpkg#linux-image-}
xver=$(apt-cache policy "$xhyp" | sed -n 's/^ *Candidate: //p')

fetch() # DIR PACKAGE...: unpacks the packages into DIR once
{
    dir=$1; shift
    [ -f "$dir/.complete" ] && return 0
    rm -rf "$dir.tmp" "$cache/debs" && mkdir -p "$dir.tmp" "$cache/debs"
    (cd "$cache/debs" && apt-get download -q "$@" >&2)
    for deb in "$cache"/debs/*.deb; do dpkg -x "$deb" "$dir.tmp"; done
    rm -rf "$cache/debs" "$dir" && touch "$dir.tmp/.complete" && mv "$dir.tmp" "$dir"
}

fetch "$cache/$kpkg" "$kpkg"
kdir=$cache/$kpkg
mods=$kdir/lib/modules/$kver
[ -f "$mods/modules.dep" ] || depmod -b "$kdir" "$kver"

# The toolstack with the Xen libraries it links (other libraries come from the host: same Debian release).
xroot=$cache/xen-$xver
if [ ! -f "$xroot/.complete" ]; then
    want="$xhyp xen-hypervisor-common $xutils xen-utils-common xenstore-utils"
    todo=$want
    while [ -n "$todo" ]; do
        next=""
        for p in $todo; do
            for d in $(depends "$p" | grep -E '^lib(xen|yajl)' || true); do
                case " $want $next " in *" $d "*) ;; *) next="$next $d" ;; esac
            done
        done
        want="$want $next"
        todo=$next
    done
    fetch "$xroot" $want
fi
xlib=$xroot/usr/lib/x86_64-linux-gnu
xbin=$(ls -d "$xroot"/usr/lib/xen-*/bin | head -n 1)

xen=$cache/xen-$xver.elf
if [ ! -f "$xen" ]; then
    gzip -dc "$(ls "$xroot"/boot/xen-*-amd64.gz | head -n 1)" > "$xen.tmp" && mv "$xen.tmp" "$xen"
fi

# The ELF kernel inside the bzImage: its xz payload starts payload_offset (0x248) bytes into the protected-mode
# code, which follows (setup_sects (0x1f1) + 1) sectors of real-mode setup; payload_length is at 0x24c.
vmlinux=$cache/vmlinux-$kver
if [ ! -f "$vmlinux" ]; then
    bz=$kdir/boot/vmlinuz-$kver
    u8() { od -An -tu1 -j "$2" -N 1 "$1" | tr -d ' '; }
    u32() { od -An -tu4 -j "$2" -N 4 "$1" | tr -d ' '; }
    start=$(( ($(u8 "$bz" 497) + 1) * 512 + $(u32 "$bz" 584) ))
    tail -c +$((start + 1)) "$bz" | head -c "$(u32 "$bz" 588)" | xz -dc > "$vmlinux.tmp" 2>/dev/null || true
    [ "$(head -c 4 "$vmlinux.tmp" | od -An -c | tr -d ' ')" = "177ELF" ] ||
        { echo "prepare.sh: no xz ELF payload in $bz" >&2; exit 1; }
    mv "$vmlinux.tmp" "$vmlinux"
fi

modules() # ROOT MODULE...: the modules and their dependencies, uncompressed, in load order in ROOT/modules/order
{
    root=$1; shift
    mkdir -p "$root/modules"
    for m in "$@"; do
        modprobe -d "$kdir" -S "$kver" --show-depends "$m" | sed -n 's/^insmod \([^ ]*\).*/\1/p'
    done | awk '!seen[$0]++' | while read -r f; do
        n=$(basename "$f"); n=${n%.xz}; n=${n%.zst}
        case "$f" in
            *.ko.xz) xz -dc "$f" > "$root/modules/$n" ;;
            *.ko.zst) zstd -qdc "$f" > "$root/modules/$n" ;;
            *) cp "$f" "$root/modules/$n" ;;
        esac
        echo "$n" >> "$root/modules/order"
    done
}

busybox_root() # ROOT
{
    mkdir -p "$1/bin" "$1/proc" "$1/sys" "$1/dev" "$1/run" "$1/tmp"
    cp /bin/busybox "$1/bin/busybox" 2>/dev/null || cp /usr/bin/busybox "$1/bin/busybox"
    ln -s busybox "$1/bin/sh"
}

pack() # ROOT OUT
{
    (cd "$1" && find . | cpio -o -H newc --quiet) > "$2.tmp"
    mv "$2.tmp" "$2"
}

dom0=$cache/dom0-$kver.cpio
if [ ! -f "$dom0" ] || [ "$here/dom0-init" -nt "$dom0" ] || [ "$0" -nt "$dom0" ]; then
    root=$(mktemp -d)
    busybox_root "$root"
    modules "$root" xenfs xen-evtchn xen-gntalloc xen-gntdev xen-privcmd virtio_pci 9pnet_virtio 9p overlay
    cp "$here/dom0-init" "$root/init" && chmod 755 "$root/init"
    pack "$root" "$dom0"
    rm -rf "$root"
fi

# The domU has no 9p (no virtio under Xen PV): its JVM, tools and libraries travel in its initramfs.
jre=$cache/jre-$(java -version 2>&1 | sed -n '1s/.*"\(.*\)".*/\1/p')
if [ ! -x "$jre/bin/java" ]; then
    rm -rf "$jre"
    jlink --add-modules java.base,java.logging,java.management,java.naming,jdk.jfr,jdk.unsupported \
        --strip-debug --no-header-files --no-man-pages --output "$jre" >&2
    "$jre/bin/java" -Xshare:dump > /dev/null 2>&1 || true # a CDS archive: the JVM starts faster under TCG
fi
domu=$cache/domu-$kver.cpio
if [ ! -f "$domu" ] || [ "$here/domu-init" -nt "$domu" ] || [ "$0" -nt "$domu" ] || [ "$jre" -nt "$domu" ]; then
    root=$(mktemp -d)
    busybox_root "$root"
    modules "$root" xen-evtchn xen-gntalloc xen-gntdev
    cp -a "$jre" "$root/jre"
    mkdir -p "$root/usr/bin"
    cp "$xroot/usr/bin/xenstore" "$root/usr/bin/"
    for t in read write exists rm ls watch; do ln -s xenstore "$root/usr/bin/xenstore-$t"; done
    # Shared libraries of the JRE and the tools, as the host resolves them (the Xen ones from the toolstack), and
    # the glibc compatibility stubs the native code unpacked from jars links against (netty's epoll: libdl.so.2).
    { find "$root/jre" "$root/usr/bin/xenstore" -type f \( -name '*.so' -o -perm -u+x \) |
          LD_LIBRARY_PATH=$xlib xargs ldd 2>/dev/null |
          sed -n 's/.*=> \(\/[^ ]*\) .*/\1/p; s/^[[:space:]]*\(\/lib64\/[^ ]*\) .*/\1/p'
      for l in libdl.so.2 libpthread.so.0 librt.so.1 libutil.so.1; do
          ls /lib/x86_64-linux-gnu/$l 2>/dev/null || true
      done; } | sort -u | while read -r lib; do
            case "$lib" in "$root"/*) continue ;; esac
            dest=$root/lib/x86_64-linux-gnu
            case "$lib" in /lib64/*) dest=$root/lib64 ;; esac
            mkdir -p "$dest" && cp -L "$lib" "$dest/"
        done
    cp "$here/domu-init" "$root/init" && chmod 755 "$root/init"
    pack "$root" "$domu"
    rm -rf "$root"
fi

echo "XEN=$xen"
echo "KERNEL=$vmlinux"
echo "DOM0_INITRD=$dom0"
echo "DOMU_INITRD=$domu"
echo "JRE=$jre"
echo "XEN_ROOT=$xroot"
echo "XEN_BIN=$xbin"
