# The dom0 side of RealXenTest, run by packaging/xen-guest/dom0-init in a chroot into the host's root. The test
# writes $W/env.sh (paths, class path) next to this script. Each scenario prints "RESULT <name> ok|FAIL ... ms=N";
# the test reads them from the serial console. A scenario that cannot start says why and the rest still run.
W=$(dirname "$0")
. "$W/env.sh"
. "$PKG/dom0-lib.sh"
t0=$(now_ms)
toolstack_up || { echo "RESULT toolstack FAIL"; exit 1; }
echo "RESULT toolstack ok ms=$(($(now_ms) - t0))"
xl info | grep -E '^(xen_version|free_memory)'

JVM_OPTS="-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Djava.io.tmpdir=/run -Djava.security.egd=file:/dev/urandom"
J="$JAVA $JVM_OPTS -Xmx256m -cp $CP org.hyperdmabuf.cli.Hdmabuf"
# In the domU: /bin/hdmabuf runs the JRE of its initramfs on the same class path at the same paths.
JU=hdmabuf
# TCG stalls a busy domain for seconds: a generous liveness timeout (README), still well under the test's bounds.
DAEMON="--backend xen --heartbeat-ms 250 --liveness-timeout-ms $LIVENESS_MS --policy $W/no-policy.toml --policy-dir $W/no-policy.d"

# domU_up: creates the domU and starts its source daemon (sets DOMID)
domu_up()
{
    t=$(now_ms)
    cp "$KERNEL" /run/domu-kernel && cp "$W/domu.cpio" /run/domu.cpio || return 1
    domu_create hdmabuf-domu "$W/domu.cfg" 400 || return 1
    echo "RESULT domu-boot ok domid=$DOMID ms=$(($(now_ms) - t))"
    t=$(now_ms)
    domu 300 "$JU source --socket /run/source.sock $DAEMON -O domid=$DOMID -O peers=0 > /run/source.log 2>&1 &
        wait_for /run/source.log 'READY source' 290 && grep 'READY source' /run/source.log" || return 1
    echo "RESULT source-daemon ok ms=$(($(now_ms) - t))"
}

# sink_sees VM: the sink's targets list that VM
sink_sees()
{
    $J targets --socket /run/sink.sock | grep -q "^ *$1 "
}
not() { ! "$@"; }
# down_logged VM COUNT: the sink logged more than COUNT "peer VM <VM> down" lines
down_logged() { [ "$(grep -c "peer VM $1 down" "$W/sink.log")" -gt "$2" ]; }

# The sink first: its JVM starts (over 9p) while the domU boots. Its peers: the domU's domid and the one its
# restart gets (Xen gives a new domain the next free id; the first domU is 1).
$J sink --socket /run/sink.sock $DAEMON -O domid=0 -O peers=1,2 > "$W/sink.log" 2>&1 &
SINK=$!
domu_up || { echo "RESULT domu-boot FAIL"; domu 60 "dmesg | grep -i random"; exit 1; }
t=$(now_ms)
await "READY sink" 300 grep -q 'READY sink' "$W/sink.log" || { tail -n 30 "$W/sink.log"; exit 1; }
await "the sink to see the domU's source" 300 sink_sees "$DOMID" || { tail -n 30 "$W/sink.log"; exit 1; }
echo "RESULT session ok ms=$(($(now_ms) - t))"
$J targets --socket /run/sink.sock | sed 's/^/TARGETS /'
$J caps --socket /run/sink.sock | sed 's/^/CAPS /; s/:  */: /'

# 1: a multi-megabyte file, byte-identical (the domU's sha256sum against the test's)
scenario_file()
{
    t=$(now_ms)
    domu 300 "mkdir -p /run/in; ($JU receive --out /run/in --count 1 --socket /run/source.sock --timeout 400;
        echo \$? > /run/receive.rc) > /run/receive.log 2>&1 & wait_for /run/receive.log 'READY receive' 290" ||
        return 1
    cp "$W/payload.bin" /run/payload.bin
    $J send /run/payload.bin --to "$DOMID" --socket /run/sink.sock --timeout 400 || return 1
    domu 300 "wait_for /run/receive.rc . 290; cat /run/receive.log; echo \"SHA256 \$(sha256sum /run/in/payload.bin)\";
        exit \$(cat /run/receive.rc)" || return 1
    echo "RESULT file ok ms=$(($(now_ms) - t))"
}
scenario_file || echo "RESULT file FAIL"

# 2: a fenced frame stream, every byte checked; the consumer's waits block and real event channels wake them
evtchn_irqs() { grep 'evtchn:' /proc/interrupts | awk '{ n += $2 + $3 } END { print n + 0 }'; }
scenario_stream()
{
    t=$(now_ms)
    domu 300 "grep 'evtchn:' /proc/interrupts | awk '{ n += \$2 + \$3 } END { print n + 0 }' > /run/irq0;
        ($JU stream-consumer --socket /run/source.sock --frames $FRAMES --wait BLOCK; echo \$? > /run/consumer.rc) \
        > /run/consumer.log 2>&1 & wait_for /run/consumer.log 'READY consumer' 290" || return 1
    $J stream-producer --socket /run/sink.sock --to "$DOMID" --frames "$FRAMES" --width 256 --height 64 \
        --buffers 3 --wait BLOCK || return 1
    domu 300 "wait_for /run/consumer.rc . 290; cat /run/consumer.log;
        echo \"EVTCHN-IRQS \$((\$(grep 'evtchn:' /proc/interrupts | awk '{ n += \$2 + \$3 } END { print n + 0 }') - \$(cat /run/irq0)))\";
        exit \$(cat /run/consumer.rc)" || return 1
    echo "RESULT stream ok ms=$(($(now_ms) - t))"
}
scenario_stream || echo "RESULT stream FAIL"

# 3: a read-only export: the importer's writable mapping is refused by the hypervisor, a read-only one works
scenario_read_only()
{
    t=$(now_ms)
    head -c 65536 "$W/payload.bin" > /run/small.bin
    $J send /run/small.bin --read-only --to "$DOMID" --socket /run/sink.sock --timeout 400 > /run/send-ro.log 2>&1 &
    sender=$!
    domu 300 "end=\$((\$(date +%s) + 280)); until id=\$(hdmabuf list --socket /run/source.sock | awk '\$5 == \"ro\" { print \$1 }' | grep .); do
            [ \$(date +%s) -lt \$end ] || { echo 'FAIL no read-only buffer listed'; exit 1; }; sleep 0.2; done
        hdmabuf write-import --map-writable --socket /run/source.sock --id \$id" || return 1
    wait "$sender" || { cat /run/send-ro.log; return 1; }
    echo "RESULT read-only ok ms=$(($(now_ms) - t))"
}
scenario_read_only || echo "RESULT read-only FAIL"

# 5: xl destroy of the importing domain in the middle of a stream: the exporter sees the peer lost within its
# liveness bound, its blocked waits end with EPEERLOST, its grants end; a restarted domain and daemon work again.
scenario_destroy()
{
    t=$(now_ms)
    domu 300 "(hdmabuf stream-consumer --socket /run/source.sock --frames 1000000 --wait BLOCK > /run/long.log 2>&1 &);
        wait_for /run/long.log 'READY consumer' 290" || return 1
    $J stream-producer --socket /run/sink.sock --to "$DOMID" --frames 1000000 --width 256 --height 64 --buffers 3 \
        --wait BLOCK > /run/long-producer.log 2>&1 &
    producer=$!
    # Frames flow when the domU's event channels fire.
    domu 300 "a=\$(grep 'evtchn:' /proc/interrupts | awk '{ n += \$2 + \$3 } END { print n + 0 }');
        end=\$((\$(date +%s) + 280));
        until [ \$(grep 'evtchn:' /proc/interrupts | awk '{ n += \$2 + \$3 } END { print n + 0 }') -gt \$((a + 50)) ]; do
            [ \$(date +%s) -lt \$end ] || { echo 'FAIL the stream does not flow'; exit 1; }; sleep 0.2; done" || return 1
    lost=$(grep -c 'peer VM '"$DOMID"' down' "$W/sink.log")
    d=$(now_ms)
    xl destroy hdmabuf-domu || return 1
    domu_gone hdmabuf-domu
    await "the producer's wait to end" $((LIVENESS_MS / 1000 + 30)) not kill -0 "$producer" || return 1
    echo "DESTROY producer ended after $(($(now_ms) - d)) ms: $(tail -n 3 /run/long-producer.log | tr '\n' ' ')"
    await "the sink to log the peer down" 30 down_logged "$DOMID" "$lost" || return 1
    echo "DESTROY $(grep "peer VM $DOMID down" "$W/sink.log" | tail -n 1)"
    grep -q EPEERLOST /run/long-producer.log || { echo "FAIL the producer did not see EPEERLOST"; return 1; }
    await "the sink to drop the destroyed domain" 30 not sink_sees "$DOMID" || return 1
    await "the destroyed domain to be released" 60 not xl list "$DOMID" || return 1
    echo "DESTROY domain released after $(($(now_ms) - d)) ms"
    old=$DOMID
    domu_up || return 1
    [ "$DOMID" != "$old" ] || { echo "FAIL the restarted domain kept domid $old"; return 1; }
    await "the sink to see the restarted domU's source" 120 sink_sees "$DOMID" || return 1
    scenario_file || return 1
    echo "RESULT destroy ok ms=$(($(now_ms) - t))"
}
scenario_destroy || echo "RESULT destroy FAIL"

kill "$SINK"; wait "$SINK"
echo "RESULT done ok ms=$(($(now_ms) - t0))"
