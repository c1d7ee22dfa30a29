#!/bin/sh
# Makes the root the systemd guest test boots: unpacks prepare-systemd-root.sh's root into DIR, installs the given
# hyperdmabuf .deb there with apt-get, dependencies from Debian's archive (downloads kept in ARCHIVES_DIR; natively:
# under QEMU TCG the class-data archive its postinst trains alone takes minutes), configures the units for a small TCG guest and adds the check (check-units.sh, run at boot by
# hdmabuf-unit-check.service). Runs in a private mount namespace. Needs root.
# usage: make-systemd-guest-root.sh ROOT_TAR ARCHIVES_DIR DIR DEB
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/chroot-root.sh"
private_mounts "$@"
usage="usage: make-systemd-guest-root.sh ROOT_TAR ARCHIVES_DIR DIR DEB"
tar="${1:?$usage}"
archives="${2:?$usage}"
root="${3:?$usage}"
deb="${4:?$usage}"
unpack_root "$tar" "$root" "$archives"
cp "$deb" "$root/root/hyperdmabuf.deb"
chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    /root/hyperdmabuf.deb >"$root/root/apt.log" 2>&1 || { tail -30 "$root/root/apt.log"; exit 1; }
release_root "$root"
rm -f "$root/root/hyperdmabuf.deb"
echo "systemd-guest-root: installed $(chroot "$root" dpkg-query -W hyperdmabuf)"

# A small region and JVM for a TCG guest, the sample policy in force, and a drop-in as an admin would add one: a start
# timeout for a JVM under TCG on a busy machine (a minute or more to READY). The watchdog is the units' own.
sed -i 's/^HDMABUF_SERVER_OPTS=.*/HDMABUF_SERVER_OPTS="--size 32M"/' "$root/etc/default/hyperdmabuf"
sed -i 's/^HDMABUF_JAVA_OPTS=.*/HDMABUF_JAVA_OPTS="-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xmx96m"/' \
    "$root/etc/default/hyperdmabuf"
mkdir -p "$root/etc/hyperdmabuf/policy.d"
cp "$root/usr/share/doc/hyperdmabuf/examples/policy.toml" "$root/etc/hyperdmabuf/policy.toml"
for unit in hdmabuf-server hdmabuf-sink; do
    mkdir -p "$root/etc/systemd/system/$unit.service.d"
    printf '[Service]\nTimeoutStartSec=5min\n' >"$root/etc/systemd/system/$unit.service.d/tcg.conf"
done
# The journal in /run: flushing it to /var/log over 9p costs a TCG boot seconds.
mkdir -p "$root/etc/systemd/journald.conf.d"
printf '[Journal]\nStorage=volatile\n' >"$root/etc/systemd/journald.conf.d/volatile.conf"

# The check, started at boot; what a TCG boot need not spend time on is masked (the console is the test's).
cp "$here/check-units.sh" "$root/root/check-units.sh"
cp "$here/hdmabuf-unit-check.service" "$root/etc/systemd/system/"
mkdir -p "$root/etc/systemd/system/multi-user.target.wants"
ln -s ../hdmabuf-unit-check.service "$root/etc/systemd/system/multi-user.target.wants/hdmabuf-unit-check.service"
for unit in getty.target serial-getty@ttyS0.service apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer \
    e2scrub_all.timer e2scrub_reap.service fstrim.timer systemd-tmpfiles-clean.timer; do
    ln -sf /dev/null "$root/etc/systemd/system/$unit"
done
echo "systemd-guest-root: ready in $root"
