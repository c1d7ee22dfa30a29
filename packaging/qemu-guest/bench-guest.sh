#!/bin/sh
# Guest-mode benchmark: idle cost and fence round trip of a kvm-ivshmem guest daemon, polling vs interrupt
# (see README "Running in real KVM/QEMU guests"). Boots one QEMU guest (q35, intel-iommu, TCG unless ACCEL=kvm)
# on an ivshmem-doorbell device of an ivshmem server on this host, next to a host-mode daemon (peer 2). In the
# guest, for each mode (-O notification=polling, then interrupt) it starts `hdmabuf daemon` (peer 1), lets it
# idle, and measures over IDLE_S seconds the voluntary context switches of all its threads (its wake-ups) and
# its CPU time; then a fence producer in the guest and a fence consumer on the host ping-pong one fence
# (BLOCK waits on both sides), and the producer prints the round-trip percentiles. Prints one line per figure:
#
#   IDLE mode=interrupt seconds=10 wakeups=... wakeups_per_s=... cpu_ms=... threads: <name>=<switches> ...
#   RESULT mode=interrupt name=fence_block n=... p50_ns=... p99_ns=... p999_ns=...
#
#   bench-guest.sh [CACHE_DIR]      (default ~/.cache/hyperdmabuf/qemu-guest, as the tests use)
#
# Needs a built tree (mvn -DskipTests package -pl cli,bench -am), qemu-system-x86_64 and what prepare.sh needs.
# Environment: IDLE_S (default 10), ROUNDS (fence rounds, default 300), ACCEL (tcg), KEEP=1 keeps the work dir.
# Figures under TCG are not latencies of real hardware: compare the two modes of one run, never across machines.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cache=${1:-$HOME/.cache/hyperdmabuf/qemu-guest}
idle=${IDLE_S:-10}
rounds=${ROUNDS:-300}
accel=${ACCEL:-tcg}
java=$(readlink -f "$(command -v java)")
cp="$root/cli/target/hdmabuf.jar:$root/bench/target/bench.jar:$root/bench/target/lib/*"
[ -f "$root/cli/target/hdmabuf.jar" ] && [ -f "$root/bench/target/bench.jar" ] ||
    { echo "bench-guest.sh: build first: mvn -DskipTests package -pl cli,bench -am" >&2; exit 1; }

eval "$(sh "$here/prepare.sh" "$cache" | grep -E '^(KERNEL|INITRD)=')"
version=${KERNEL##*/vmlinuz-}
modules=$(dirname "$(dirname "$KERNEL")")/lib/modules/$version
work=$(mktemp -d "${TMPDIR:-/tmp}/hdmabuf-guest-bench.XXXXXX")
pids=""
cleanup()
{
    for p in $pids; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [ "${KEEP:-0}" = 1 ] && echo "work dir kept: $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT INT TERM
hdmabuf() { "$java" -Xmx256m -cp "$cp" org.hyperdmabuf.cli.Hdmabuf "$@"; }
bench_side() { "$java" -Xmx256m -cp "$cp" org.hyperdmabuf.bench.BenchSide "$@"; }
await_line() # FILE PATTERN SECONDS
{
    i=0
    until grep -q "$2" "$1" 2>/dev/null; do
        ! grep -q "GUEST SCRIPT EXIT" "$1" 2>/dev/null ||
            { tail -n 20 "$1" >&2; echo "bench-guest.sh: the guest ended before '$2'" >&2; exit 1; }
        i=$((i + 1)); [ "$i" -le $(($3 * 4)) ] || { echo "bench-guest.sh: no '$2' in $1 within $3 s" >&2; exit 1; }
        sleep 0.25
    done
}

# The guest's side: the same JVM and jars over the host root (9p), sized for TCG like the tests' guests.
cat > "$work/guest.sh" <<EOF
W=$work
J="$java -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xmx128m -Djava.io.tmpdir=/run -cp $cp"
for m in kernel/virt/lib/irqbypass.ko kernel/drivers/vfio/vfio.ko kernel/drivers/vfio/vfio_iommu_type1.ko \\
         kernel/drivers/vfio/vfio_virqfd.ko kernel/drivers/vfio/pci/vfio-pci-core.ko kernel/drivers/vfio/pci/vfio-pci.ko; do
    insmod $modules/\$m 2>/dev/null
done
echo '1af4 1110' > /sys/bus/pci/drivers/vfio-pci/new_id
# Per thread: "tid:name=switches" (a thread may end between the listing and the read: 0).
csw() { for f in /proc/\$1/task/*; do n=\$(sed -n 's/^voluntary_ctxt_switches:[^0-9]*//p' \$f/status 2>/dev/null)
    c=\$(tr ' ' _ < \$f/comm 2>/dev/null); echo "\${f##*/}:\${c:-gone}=\${n:-0}"; done; }
cpu() { awk '{print \$14 + \$15}' /proc/\$1/stat; }
wait_for() { i=0; while ! grep -q "\$2" "\$1" 2>/dev/null; do
    i=\$((i + 1)); [ \$i -lt 2400 ] || { echo "FAIL waiting for '\$2' in \$1"; return 1; }; sleep 0.25; done; }
for mode in polling interrupt; do
    \$J org.hyperdmabuf.cli.Hdmabuf daemon --socket /run/d.sock --backend kvm-ivshmem -O mode=guest \\
        -O device=0000:00:06.0 -O notification=\$mode --heartbeat-ms 250 --liveness-timeout-ms 20000 \\
        --policy \$W/no-policy.toml --policy-dir \$W/no-policy.d > \$W/daemon-\$mode.log 2>&1 &
    d=\$!
    wait_for \$W/daemon-\$mode.log READY || break
    sleep 3
    a=\$(csw \$d); ca=\$(cpu \$d); sleep $idle; b=\$(csw \$d); cb=\$(cpu \$d)
    # Threads alive at the end, against their count at the start (0 for new ones); ended threads are lost.
    per=""; n=0; for kv in \$b; do k=\${kv%%=*}; was=0
        for old in \$a; do [ "\${old%%=*}" = "\$k" ] && was=\${old#*=}; done
        x=\$((\${kv#*=} - was)); n=\$((n + x)); [ \$x -gt 0 ] && per="\$per \${k#*:}=\$x"; done
    hz=\$(getconf CLK_TCK 2>/dev/null || echo 100)
    echo "IDLE mode=\$mode seconds=$idle wakeups=\$n wakeups_per_s=\$((n / $idle)) cpu_ms=\$(((cb - ca) * 1000 / hz)) threads:\$per"
    echo "FENCE \$mode"
    \$J org.hyperdmabuf.bench.BenchSide fence-producer --socket /run/d.sock --target 2 --stream guest-\$mode \\
        --strategy BLOCK --warmup 50 --rounds $rounds --reps 1 2>&1 | sed -n "s/^RESULT /RESULT mode=\$mode /p"
    kill \$d; wait \$d
done
echo "GUEST DONE"
EOF

hdmabuf server --socket "$work/ivshmem.sock" --size 32M --vectors 4 --first-id 1 > "$work/server.log" 2>&1 &
pids="$pids $!"
await_line "$work/server.log" READY 60
qemu-system-x86_64 -accel "$accel" -m 1024 -smp 1 -nodefaults -display none -serial stdio -no-reboot \
    -machine q35 -device intel-iommu,intremap=on -kernel "$KERNEL" -initrd "$INITRD" \
    -append "console=ttyS0 panic=-1 loglevel=3 no_timer_check intel_iommu=on hdmabuf.work=$work hdmabuf.run=$work/guest.sh" \
    -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
    -virtfs "local,path=$work,mount_tag=work,security_model=none,multidevs=remap" \
    -chardev "socket,path=$work/ivshmem.sock,id=ivs" -device ivshmem-doorbell,chardev=ivs,vectors=4,addr=0x6 \
    > "$work/guest.out" 2>&1 &
qemu=$!
pids="$pids $qemu"
await_line "$work/server.log" "ivshmem peer 1 connected" 60 # QEMU takes id 1, the host daemon 2
hdmabuf daemon --socket "$work/host.sock" --backend kvm-ivshmem -O "socket=$work/ivshmem.sock" \
    --heartbeat-ms 250 --liveness-timeout-ms 20000 --policy "$work/no-policy.toml" \
    --policy-dir "$work/no-policy.d" > "$work/host.log" 2>&1 &
pids="$pids $!"
await_line "$work/host.log" READY 60
for mode in polling interrupt; do
    await_line "$work/guest.out" "FENCE $mode" 900
    grep "^IDLE mode=$mode" "$work/guest.out" || true
    bench_side fence-consumer --socket "$work/host.sock" --stream "guest-$mode" --strategy BLOCK --warmup 50 \
        --rounds "$rounds" --reps 1 > "$work/consumer-$mode.log" 2>&1 || echo "consumer ($mode) failed" >&2
    await_line "$work/guest.out" "RESULT mode=$mode" 300
    grep "^RESULT mode=$mode" "$work/guest.out"
done
await_line "$work/guest.out" "GUEST DONE" 300
grep "^FAIL" "$work/guest.out" >&2 && exit 1
wait "$qemu" || true
