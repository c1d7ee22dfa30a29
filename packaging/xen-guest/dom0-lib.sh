# Shell functions for a test dom0 (sourced by the script dom0-init runs): starts Xen's toolstack from the
# unpacked packages, creates a domU running domu-init, and runs commands in it through xenstore.
#   XEN_ROOT=DIR; . dom0-lib.sh        (DIR: prepare.sh's XEN_ROOT; dash's "." passes no arguments)
xen_root=${XEN_ROOT:?}
xen_bin=$(ls -d "$xen_root"/usr/lib/xen-*/bin | head -n 1)
export LD_LIBRARY_PATH="$xen_root/usr/lib/x86_64-linux-gnu"
PATH=$xen_bin:$xen_root/usr/bin:$xen_root/usr/sbin:$PATH
export PATH

now_ms() { awk '{ printf "%d\n", $1 * 1000 }' /proc/uptime; }

# toolstack_up: xenstored, dom0's xenstore entries, the console daemon (domU consoles go to its log files)
toolstack_up()
{
    mkdir -p /var/run/xenstored /var/lib/xenstored /var/lib/xen /var/run/xen /var/log/xen/console /etc/xen
    [ -f /etc/xen/xl.conf ] || : > /etc/xen/xl.conf
    ln -sfn "$(dirname "$xen_bin")" "/usr/lib/$(basename "$(dirname "$xen_bin")")"
    xenstored --pid-file=/var/run/xenstored.pid || return 1
    xen-init-dom0 || return 1
    xenconsoled --log=guest --log-dir=/var/log/xen/console || return 1
}

# domu_create NAME CONFIG SECONDS: creates the domain, copies its console to ours, waits for domu-init; sets DOMID
domu_create()
{
    created=$(now_ms)
    xl create "$2" || return 1
    DOMID=$(xl domid "$1") || return 1
    echo "xl create $1: domid $DOMID in $(($(now_ms) - created)) ms"
    # Three times dom0's weight per vCPU: its JVMs otherwise starve the guest's start-up on a busy host.
    xl sched-credit2 -d "$1" -w 768 > /dev/null 2>&1 || true
    tail -n +1 -F "/var/log/xen/console/guest-$1.log" 2>/dev/null &
    DOMU_TAIL=$!
    DOMU_N=0
    await "domU $1 up" "$3" xenstore-read "/local/domain/$DOMID/data/hdmabuf-test/up"
}

# domu_gone NAME: stops copying the console of a destroyed domain, and removes its log (a new domain of that
# name starts a new one)
domu_gone()
{
    kill "$DOMU_TAIL" 2>/dev/null
    rm -f "/var/log/xen/console/guest-$1.log"
}

# await WHAT SECONDS COMMAND...: runs COMMAND until it succeeds, at most SECONDS
await()
{
    what=$1; secs=$2; shift 2
    end=$(($(now_ms) + secs * 1000))
    until "$@" > /dev/null 2>&1; do
        [ "$(now_ms)" -lt "$end" ] || { echo "FAIL waiting $secs s for $what"; return 1; }
        sleep 0.5 # each poll forks: costly in a PV dom0 under TCG
    done
}

# domu SECONDS COMMAND: runs the shell command in the domU (domu-init) and returns its exit code
domu()
{
    p=/local/domain/$DOMID/data/hdmabuf-test
    n=$DOMU_N
    DOMU_N=$((n + 1))
    xenstore-write -R "$p/cmd/$n" "$2" || return 1
    end=$(($(now_ms) + $1 * 1000))
    until rc=$(xenstore-read "$p/rc/$n" 2>/dev/null); do
        [ "$(now_ms)" -lt "$end" ] || { echo "FAIL waiting $1 s for domU command $n: $2"; return 1; }
        timeout 5 xenstore-watch -n 2 "$p/rc/$n" > /dev/null 2>&1 # as domu-init waits for commands
    done
    return "$rc"
}
