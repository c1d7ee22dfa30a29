#!/bin/sh
# The package installation test: unpacks the clean Debian 12 root of prepare-root.sh into WORK_DIR/root, installs
# the given .deb files there with apt-get (their dependencies come from Debian's archive; downloads are kept in
# ARCHIVES_DIR), checks what they installed and runs `hdmabuf demo` from the installed files: no source tree, no
# Maven, only what the packages brought. Runs in a private mount namespace, so its mounts (proc, dev, the download
# cache) go away with it. Needs root. usage: install-and-run.sh ROOT_TAR ARCHIVES_DIR WORK_DIR DEB...
set -eu
. "$(dirname "$0")/chroot-root.sh"
private_mounts "$@"
tar="${1:?usage: install-and-run.sh ROOT_TAR ARCHIVES_DIR WORK_DIR DEB...}"
archives="$2"
work="$3"
shift 3
root="$work/root"
unpack_root "$tar" "$root" "$archives"
mkdir -p "$root/tmp/debs"
cp "$@" "$root/tmp/debs/"

debs=""
for deb in "$root"/tmp/debs/*.deb; do
    debs="$debs /tmp/debs/$(basename "$deb")"   # paths inside the root
done
echo "install-test: apt-get install$debs"
# shellcheck disable=SC2086 # one word per package
chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $debs \
    >"$work/apt.log" 2>&1 || { tail -30 "$work/apt.log"; exit 1; }

# What the package promises, checked inside the root.
chroot "$root" /bin/sh -eu <<'CHECK'
for f in /usr/bin/hdmabuf /usr/share/hyperdmabuf/hdmabuf.jar /usr/share/man/man1/hdmabuf.1.gz \
    /usr/share/man/man1/hdmabuf-sink.1.gz /usr/share/bash-completion/completions/hdmabuf \
    /usr/share/doc/hyperdmabuf/examples/policy.toml /lib/systemd/system/hdmabuf-sink.service \
    /lib/systemd/system/hdmabuf-server.service; do
    [ -e "$f" ] || { echo "install-test: missing $f"; exit 1; }
done
# A sample policy is documentation: nothing under /etc/hyperdmabuf changes what a daemon permits.
[ ! -e /etc/hyperdmabuf/policy.toml ] || { echo "install-test: the package installed a policy"; exit 1; }
getent group hdmabuf >/dev/null || { echo "install-test: no hdmabuf group"; exit 1; }
! command -v mvn >/dev/null || { echo "install-test: Maven in the root"; exit 1; }
echo "install-test: group $(getent group hdmabuf)"
# postinst made the class-data archive, and /usr/bin/hdmabuf's JVM maps it (our classes from the shared objects file).
[ -s /var/lib/hyperdmabuf/hdmabuf.jsa ] || { echo "install-test: no class-data archive"; exit 1; }
HDMABUF_JAVA_OPTS=-Xlog:class+load hdmabuf --version | grep -q 'org.hyperdmabuf.cli.Hdmabuf source: shared objects file' ||
    { echo "install-test: hdmabuf does not use its class-data archive"; exit 1; }
echo "install-test: $(hdmabuf --version)"
hdmabuf policy check --json /usr/share/doc/hyperdmabuf/examples/policy.toml
CHECK

echo "install-test: hdmabuf demo"
chroot "$root" /bin/sh -c 'cd / && exec hdmabuf demo --frames 30 --width 320 --height 240' 2>&1
echo "install-test: done"
