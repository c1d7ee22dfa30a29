# The dom0 side of RealXenTest, run by packaging/xen-guest/dom0-init in a chroot into the host's root. The test
# writes $W/env.sh (paths, class path) and agent-lib.sh next to this script. Each scenario prints
# "RESULT <name> ok|FAIL ... ms=N"; the test reads them from the serial console. A scenario that fails says why
# and the rest still run. Every hdmabuf command runs in one JVM per domain (agent-lib.sh).
W=$(dirname "$0")
. "$W/env.sh"
. "$PKG/dom0-lib.sh"
AGENT=/run/agent
. "$W/agent-lib.sh"
t0=$(now_ms)
# dom0's JVM starts (over 9p) while the toolstack comes up and the domU boots.
agent_start "$JAVA" $JAVA_OPTS -Dhdmabuf.client.timeout-ms=300000 -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xmx256m -Djava.io.tmpdir=/run \
    -Djava.security.egd=file:/dev/urandom -cp "$CP"
toolstack_up || { echo "RESULT toolstack FAIL"; exit 1; }
echo "RESULT toolstack ok ms=$(($(now_ms) - t0))"
xl info | grep -E '^(xen_version|free_memory)'

uid() { cat /proc/sys/kernel/random/uuid; }
# TCG stalls a busy domain for seconds: a generous liveness timeout (README), still well under the test's bounds.
DAEMON="--backend xen --heartbeat-ms 250 --liveness-timeout-ms $LIVENESS_MS --policy-dir $W/no-policy.d"
# The sink's policy: dom0 may share with the domU and the domain its restart becomes (Xen gives a new domain the
# next free id: 1, then 2), nothing else; dom3, one more configured peer, is a pair the policy forbids.
printf '[[share]]\nfrom = 0\nto = [1, 2]\n' > "$W/policy.toml"
SINK_LOG=$AGENT/sink.out

# du SECONDS COMMAND: a shell command in the domU, with agent-lib.sh's functions
du() { domu "$1" ". /lib/agent-lib.sh; $2"; }

# domu_boot: creates the domU and starts its agent's JVM (sets DOMID); domu_source then starts its source daemon
domu_boot()
{
    t=$(now_ms)
    cp "$KERNEL" /run/domu-kernel && cp "$W/domu.cpio" /run/domu.cpio || return 1
    domu_create hdmabuf-domu "$W/domu.cfg" 400 || return 1
    echo "RESULT domu-boot ok domid=$DOMID ms=$(($(now_ms) - t))"
    DOMU_BOOTED=$(now_ms)
    du 60 "agent_start /bin/hdmabuf-java"
}
domu_source()
{
    du 900 "agent_ready 890 &&
        hjstart source source --socket /run/source.sock $DAEMON --policy /none.toml -O domid=$DOMID -O peers=0 &&
        hj_printed source 'READY source' 300 && grep 'READY source' /run/agent/source.out" || return 1
    echo "RESULT source-daemon ok ms=$(($(now_ms) - DOMU_BOOTED))"
}
domu_up() { domu_boot && domu_source; }

# sink_sees VM: the sink's targets list that VM
sink_sees() { hj "targets-$(uid)" 60 targets --socket /run/sink.sock | grep -q "^ *$1 "; }
not() { ! "$@"; }
# down_logged VM COUNT: the sink logged more than COUNT "peer VM <VM> down" lines
down_logged() { [ "$(grep -c "peer VM $1 down" "$SINK_LOG")" -gt "$2" ]; }
# pool_free: the sink's free gntalloc bytes (caps)
pool_free() { hj "caps-$(uid)" 60 caps --socket /run/sink.sock | sed -n 's/^pool: .* \([0-9]*\) free$/\1/p'; }
pool_free_is() { [ "$(pool_free)" = "$1" ]; }

domu_boot || { echo "RESULT domu-boot FAIL"; exit 1; }
agent_ready 400 || { echo "RESULT session FAIL"; exit 1; }
echo "dom0 agent ready after $(($(now_ms) - t0)) ms"
hjstart sink sink --socket /run/sink.sock $DAEMON --policy "$W/policy.toml" -O domid=0 -O peers=1,2,3
domu_source || { echo "RESULT source-daemon FAIL"; domu 60 "tail -n 30 /run/agent/agent.log"; exit 1; }
t=$(now_ms)
hj_printed sink 'READY sink' 300 || exit 1
await "the sink to see the domU's source" 300 sink_sees "$DOMID" || { tail -n 30 "$SINK_LOG"; exit 1; }
echo "RESULT session ok ms=$(($(now_ms) - t))"
hj targets 60 targets --socket /run/sink.sock | sed 's/^/TARGETS /'
hj caps 60 caps --socket /run/sink.sock | sed 's/^/CAPS /; s/:  */: /'

# 1: a multi-megabyte file, byte-identical (the domU's sha256sum against the test's)
scenario_file()
{
    t=$(now_ms)
    du 600 "mkdir -p /run/in; rm -f /run/in/payload.bin;
        hjstart receive receive --out /run/in --count 1 --socket /run/source.sock --timeout 400 &&
        hj_printed receive 'READY receive' 590" || return 1
    echo "file: receiver ready after $(($(now_ms) - t)) ms"
    cp "$W/payload.bin" /run/payload.bin
    hj "send-$DOMID" 400 send /run/payload.bin --to "$DOMID" --socket /run/sink.sock --timeout 400 || return 1
    echo "file: delivered after $(($(now_ms) - t)) ms"
    du 600 "hjwait receive  590 && echo \"SHA256 \$(sha256sum /run/in/payload.bin)\"" || return 1
    echo "RESULT file ok ms=$(($(now_ms) - t))"
}
# dump_logs: the sink's log, the domU's daemon and receive logs and its JVM's threads, before a RESULT FAIL
# (the test stops at that line)
dump_logs()
{
    tail -n 40 "$SINK_LOG" | sed 's/^/SINK: /'
    du 120 "tail -n 60 /run/agent/source.out /run/agent/receive.out; kill -3 \$(pidof java); sleep 3;
        tail -n 150 /run/agent/agent.log"
}
scenario_file || { dump_logs; echo "RESULT file FAIL"; }

# 2: a fenced frame stream, every byte checked; the consumer's waits block and real event channels wake them
IRQS="grep 'evtchn:' /proc/interrupts | awk '{ n += \$2 } END { print n + 0 }'"
scenario_stream()
{
    t=$(now_ms)
    du 600 "$IRQS > /run/irq0;
        hjstart consumer stream-consumer --socket /run/source.sock --frames $FRAMES --wait BLOCK &&
        hj_printed consumer 'READY consumer' 590" || return 1
    echo "stream: consumer ready after $(($(now_ms) - t)) ms"
    hj producer 400 stream-producer --socket /run/sink.sock --to "$DOMID" --frames "$FRAMES" --width 256 \
        --height 64 --buffers 3 --wait BLOCK || return 1
    echo "stream: produced after $(($(now_ms) - t)) ms"
    du 600 "hjwait consumer 290; rc=\$?; echo \"EVTCHN-IRQS \$((\$($IRQS) - \$(cat /run/irq0)))\"; exit \$rc" ||
        return 1
    echo "RESULT stream ok ms=$(($(now_ms) - t))"
}
scenario_stream || echo "RESULT stream FAIL"

# 3: a read-only export: the importer's writable mapping is refused by the hypervisor, a read-only one works
scenario_read_only()
{
    t=$(now_ms)
    head -c 65536 "$W/payload.bin" > /run/small.bin
    hjstart send-ro send /run/small.bin --read-only --to "$DOMID" --socket /run/sink.sock --timeout 400
    du 600 "i=0; end=\$((\$(date +%s) + 280));
        while :; do
            i=\$((i + 1)); hj list-\$i 60 list --socket /run/source.sock > /run/list.txt
            id=\$(awk '\$5 == \"ro\" { print \$1; exit }' /run/list.txt); [ -n \"\$id\" ] && break
            [ \$(date +%s) -lt \$end ] || { echo 'FAIL no read-only buffer listed'; cat /run/list.txt; exit 1; }
            sleep 0.2
        done
        hj write-import 120 write-import --map-writable --socket /run/source.sock --id \$id" || return 1
    hjwait send-ro 400 > /run/send-ro.txt || { cat /run/send-ro.txt; return 1; }
    echo "RESULT read-only ok ms=$(($(now_ms) - t))"
}
scenario_read_only || echo "RESULT read-only FAIL"

# 4: policy: a pair the policy forbids is refused (EACCES); the targets list named the domU from xenstore (above)
scenario_policy()
{
    t=$(now_ms)
    if hj forbidden 120 send /run/small.bin --to 3 --socket /run/sink.sock --timeout 60 > /run/forbidden.txt; then
        echo "FAIL a send to dom3, which the policy forbids, went through"; return 1
    fi
    sed 's/^/POLICY /' /run/forbidden.txt
    grep -q EACCES /run/forbidden.txt || { echo "FAIL the forbidden send did not fail with EACCES"; return 1; }
    echo "RESULT policy ok ms=$(($(now_ms) - t))"
}
scenario_policy || echo "RESULT policy FAIL"

# 6: the gntalloc limit: an allocation past it is ENOSPC naming the limit, and leaves nothing allocated
scenario_limit()
{
    t=$(now_ms)
    before=$(pool_free)
    head -c $((5 * 1024 * 1024)) /dev/urandom > /run/big.bin
    if hj too-big 120 send /run/big.bin --to "$DOMID" --socket /run/sink.sock --timeout 60 > /run/too-big.txt; then
        echo "FAIL a 5 MiB send within dom0's default gntalloc limit of 4 MiB"; return 1
    fi
    sed 's/^/LIMIT /' /run/too-big.txt
    grep -q ENOSPC /run/too-big.txt && grep -q 'xen_gntalloc/parameters/limit' /run/too-big.txt ||
        { echo "FAIL not ENOSPC naming the limit"; return 1; }
    after=$(pool_free)
    echo "LIMIT pool free before $before after $after"
    [ -n "$before" ] && [ "$before" = "$after" ] || { echo "FAIL the refused allocation leaked"; return 1; }
    echo "RESULT limit ok ms=$(($(now_ms) - t))"
}
scenario_limit || echo "RESULT limit FAIL"

# 5: xl destroy of the importing domain in the middle of a stream: the exporter sees the peer lost within its
# liveness bound, its blocked waits end with EPEERLOST, its grants end (gntalloc accounting back to where it was);
# a restarted domain and daemon work again.
scenario_destroy()
{
    t=$(now_ms)
    baseline=$(pool_free)
    du 600 "hjstart long stream-consumer --socket /run/source.sock --frames 1000000 --wait BLOCK &&
        hj_printed long 'READY consumer' 590" || return 1
    hjstart long-producer stream-producer --socket /run/sink.sock --to "$DOMID" --frames 1000000 --width 256 \
        --height 64 --buffers 3 --wait BLOCK
    # Frames flow when the domU's event channels fire.
    du 600 "a=\$($IRQS); end=\$((\$(date +%s) + 280));
        until [ \$($IRQS) -gt \$((a + 50)) ]; do
            [ \$(date +%s) -lt \$end ] || { echo 'FAIL the stream does not flow'; exit 1; }; sleep 0.2; done" || return 1
    echo "DESTROY pool free before the stream $baseline, during it $(pool_free)"
    lost=$(grep -c "peer VM $DOMID down" "$SINK_LOG")
    d=$(now_ms)
    xl destroy hdmabuf-domu || return 1
    domu_gone hdmabuf-domu
    await "the producer's wait to end" $((LIVENESS_MS / 1000 + 30)) test -f "$AGENT/long-producer.rc" || return 1
    echo "DESTROY producer ended after $(($(now_ms) - d)) ms: $(tail -n 3 "$AGENT/long-producer.out" | tr '\n' ' ')"
    await "the sink to log the peer down" 30 down_logged "$DOMID" "$lost" || return 1
    echo "DESTROY $(grep "peer VM $DOMID down" "$SINK_LOG" | tail -n 1)"
    grep -q EPEERLOST "$AGENT/long-producer.out" || { echo "FAIL the producer did not see EPEERLOST"; return 1; }
    await "the sink to drop the destroyed domain" 30 not sink_sees "$DOMID" || return 1
    await "the destroyed domain to be released" 60 not xl list "$DOMID" || return 1
    echo "DESTROY domain released after $(($(now_ms) - d)) ms"
    await "the gntalloc pages back to $baseline free" 60 pool_free_is "$baseline" || return 1
    echo "DESTROY pool free $(pool_free) after $(($(now_ms) - d)) ms"
    old=$DOMID
    domu_up || return 1
    [ "$DOMID" != "$old" ] || { echo "FAIL the restarted domain kept domid $old"; return 1; }
    await "the sink to see the restarted domU's source" 120 sink_sees "$DOMID" || { dump_logs; return 1; }
    scenario_file || return 1
    echo "RESULT destroy ok ms=$(($(now_ms) - t))"
}
scenario_destroy || echo "RESULT destroy FAIL"

cp "$SINK_LOG" "$W/sink.log"
kill "$AGENT_PID"; wait "$AGENT_PID"
echo "RESULT done ok ms=$(($(now_ms) - t0))"
