#!/bin/sh
# The systemd guest test's checks, run by hdmabuf-unit-check.service in a QEMU guest whose PID 1 is Debian's systemd:
# verifies the installed package's units, then starts, reloads and wedges the ivshmem server and the sink daemon under
# the real service manager. Reports "unit-check: ..." lines on the console (the test reads
# them), "unit-check: FAILED ..." on the first failed check, and powers the guest off. usage: check-units.sh
set -u
# On the serial console, where the test reads them unprefixed, and in the journal (stdout).
say() {
    echo "unit-check: $*"
    echo "unit-check: $*" >/dev/ttyS0
}
# say_each PREFIX: says each line of stdin.
say_each() { while IFS= read -r line; do say "$1$line"; done; }
fail() {
    say "FAILED $*"
    journalctl --no-pager -n 40 -o short-monotonic | say_each "journal: "
    systemctl --no-block poweroff
    exit 1
}
prop() { systemctl show -P "$2" "$1"; }
# await SECONDS DESCRIPTION COMMAND...: polls COMMAND every 0.1 s until it succeeds; fails after SECONDS.
await() {
    secs=$1
    limit=$(($(date +%s) + secs))
    what="$2"
    shift 2
    until "$@"; do
        [ "$(date +%s)" -lt "$limit" ] || fail "$what: not within $secs s"
        sleep 0.1
    done
}
state_is() { [ "$(prop "$1" ActiveState)" = "$2" ]; }
journal_count() { journalctl --no-pager -o cat -u "$1" | grep -c "$2"; }
count_above() { [ "$(journal_count "$1" "$2")" -gt "$3" ]; }
policy_in_force() { timeout 120 hdmabuf stats --socket /run/hyperdmabuf/sink.sock | sed -n 's/^policy: //p'; }

[ "$(readlink /proc/1/exe)" = /usr/lib/systemd/systemd ] || [ "$(readlink /proc/1/exe)" = /lib/systemd/systemd ] ||
    fail "PID 1 is $(readlink /proc/1/exe), not systemd"
say "init $(readlink /proc/1/exe): $(systemctl --version | head -n 1)"

# The package was installed with dpkg -i into this root before the boot (make-systemd-guest-root.sh).
[ -s /var/lib/hyperdmabuf/hdmabuf.jsa ] || fail "no class-data archive"
say "installed $(dpkg-query -W hyperdmabuf), units $(prop hdmabuf-sink.service LoadState)"

# The man pages are checked where the package is built; this root has no man-db.
timeout 300 systemd-analyze verify --man=no /lib/systemd/system/hdmabuf-*.service >/run/verify.log 2>&1 ||
    { say_each "verify: " </run/verify.log; fail "systemd-analyze verify"; }
[ ! -s /run/verify.log ] || { say_each "verify: " </run/verify.log; fail "systemd-analyze verify warned"; }
say "verify ok: $(ls /lib/systemd/system/hdmabuf-*.service | xargs -n 1 basename | tr '\n' ' ')"

# Type=notify: the unit stays "activating" until the daemon's READY=1 (sent once its socket accepts), which carries
# the first STATUS= too; so a unit seen active has a status text and a socket.
start=$(date +%s)
systemctl start --no-block hdmabuf-server.service
state=$(prop hdmabuf-server.service ActiveState)
[ "$state" = activating ] || fail "hdmabuf-server is $state right after start, not activating"
await 300 "hdmabuf-server active" eval '! state_is hdmabuf-server.service activating'
state_is hdmabuf-server.service active || fail "hdmabuf-server went $(prop hdmabuf-server.service ActiveState)"
status=$(prop hdmabuf-server.service StatusText)
[ -n "$status" ] || fail "hdmabuf-server active without a STATUS= (READY=1 carries one)"
[ -S /run/hyperdmabuf/ivshmem.sock ] || fail "hdmabuf-server active before its socket exists"
say "server activating, then active after $(($(date +%s) - start)) s: $status"

# systemctl start of a Type=notify unit returns once READY=1 came.
start=$(date +%s)
timeout 300 systemctl start hdmabuf-sink.service || fail "systemctl start hdmabuf-sink: $(prop hdmabuf-sink.service Result)"
state_is hdmabuf-sink.service active || fail "hdmabuf-sink is $(prop hdmabuf-sink.service ActiveState) after start"
[ -S /run/hyperdmabuf/sink.sock ] || fail "hdmabuf-sink active before its socket exists"
say "sink active when systemctl start returned after $(($(date +%s) - start)) s: $(prop hdmabuf-sink.service StatusText)"
pid=$(prop hdmabuf-sink.service MainPID)
policy=$(policy_in_force)
[ "$policy" = "[/etc/hyperdmabuf/policy.toml]" ] || fail "policy in force at start: '$policy'"

# systemctl reload (SIGHUP): the daemon loads its policy again and the unit goes back to active, same process.
loaded=$(journal_count hdmabuf-sink.service "policy reloaded from")
timeout 60 systemctl reload hdmabuf-sink.service || fail "systemctl reload hdmabuf-sink"
await 60 "a policy reload after SIGHUP" count_above hdmabuf-sink.service "policy reloaded from" "$loaded"
await 60 "hdmabuf-sink active after the reload" state_is hdmabuf-sink.service active
[ "$(prop hdmabuf-sink.service MainPID)" = "$pid" ] || fail "the reload replaced the process"
say "reload ok: $(journalctl --no-pager -o cat -u hdmabuf-sink.service | grep "policy reloaded from" | tail -n 1)"

# A broken drop-in: the reload fails, the last good policy stays in force and the unit stays active.
failed=$(journal_count hdmabuf-sink.service "policy reload failed")
echo 'this is [not toml' >/etc/hyperdmabuf/policy.d/broken.toml
timeout 60 systemctl reload hdmabuf-sink.service || fail "systemctl reload hdmabuf-sink with a broken policy"
await 60 "a failed policy reload" count_above hdmabuf-sink.service "policy reload failed" "$failed"
await 60 "hdmabuf-sink active after the failed reload" state_is hdmabuf-sink.service active
[ "$(prop hdmabuf-sink.service MainPID)" = "$pid" ] || fail "the failed reload replaced the process"
policy=$(policy_in_force)
[ "$policy" = "[/etc/hyperdmabuf/policy.toml]" ] || fail "policy in force after the failed reload: '$policy'"
say "broken policy refused, unit active, policy in force: $policy"
rm /etc/hyperdmabuf/policy.d/broken.toml # else the restarted daemon would refuse to start

# The watchdog: a stopped process sends no WATCHDOG=1; systemd aborts it and Restart=on-failure starts a new one.
[ "$(prop hdmabuf-sink.service NRestarts)" = 0 ] || fail "hdmabuf-sink restarted before the wedge"
start=$(date +%s)
kill -STOP "$pid"
await 120 "a restart after the watchdog timeout" eval '[ "$(prop hdmabuf-sink.service NRestarts)" -ge 1 ]'
await 300 "hdmabuf-sink active again" state_is hdmabuf-sink.service active
new=$(prop hdmabuf-sink.service MainPID)
[ "$new" != "$pid" ] || fail "MainPID $pid unchanged after the watchdog restart"
timeout_line=$(journalctl --no-pager -o cat -u hdmabuf-sink.service | grep "Watchdog timeout" | tail -n 1)
[ -n "$timeout_line" ] || fail "no watchdog timeout in the journal"
say "watchdog: '$timeout_line', NRestarts=$(prop hdmabuf-sink.service NRestarts), pid $pid -> $new, active again after $(($(date +%s) - start)) s"

# systemctl stop: SIGTERM, exit 143 (SuccessExitStatus), so inactive and not failed.
timeout 120 systemctl stop hdmabuf-sink.service hdmabuf-server.service || fail "systemctl stop"
for unit in hdmabuf-sink.service hdmabuf-server.service; do
    state_is "$unit" inactive || fail "$unit is $(prop "$unit" ActiveState) after stop"
done
say "stopped: both inactive"
say "done"
systemctl --no-block poweroff
