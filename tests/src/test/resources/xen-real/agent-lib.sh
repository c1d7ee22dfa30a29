# hdmabuf commands through one long-lived JVM per domain (org.hyperdmabuf.tests.guest.CommandAgent): under QEMU
# TCG a JVM takes tens of seconds to start, a command in a running one well under a second. Sourced by dom0's
# scenarios and, in the domU, by the commands dom0 sends it. Command ids name the files DIR/ID.out and DIR/ID.rc.
AGENT=${AGENT:-/run/agent}

# hj_poll SECONDS COMMAND...: runs COMMAND until it succeeds, at most SECONDS
hj_poll()
{
    hj_end=$(($(date +%s) + $1)); shift
    until "$@" > /dev/null 2>&1; do
        [ "$(date +%s)" -lt "$hj_end" ] || return 1
        sleep 0.2
    done
}

# agent_start JAVA_COMMAND...: starts the agent in the background (the java command up to the class name)
agent_start()
{
    mkdir -p "$AGENT" && rm -f "$AGENT/in" && mkfifo "$AGENT/in" || return 1
    "$@" org.hyperdmabuf.tests.guest.CommandAgent "$AGENT" > "$AGENT/agent.log" 2>&1 &
    AGENT_PID=$!
}

# agent_ready SECONDS: the agent reads commands
agent_ready()
{
    hj_poll "$1" grep -q 'AGENT READY' "$AGENT/agent.log" ||
        { echo "FAIL waiting $1 s for the command agent"; tail -n 20 "$AGENT/agent.log"; return 1; }
}

# hjstart ID ARG...: starts `hdmabuf ARG...` as command ID
hjstart()
{
    rm -f "$AGENT/$1.rc" "$AGENT/$1.out"
    echo "$*" > "$AGENT/in"
}

# hjwait ID SECONDS: waits for command ID to end, prints its output and returns its exit status
hjwait()
{
    hj_poll "$2" test -f "$AGENT/$1.rc" ||
        { echo "FAIL waiting $2 s for hdmabuf command $1"; tail -n 30 "$AGENT/$1.out"; return 1; }
    cat "$AGENT/$1.out"
    return "$(cat "$AGENT/$1.rc")"
}

# hj ID SECONDS ARG...: runs `hdmabuf ARG...` as command ID and waits for it (hjwait)
hj()
{
    hj_id=$1; hj_secs=$2; shift 2
    hjstart "$hj_id" "$@" && hjwait "$hj_id" "$hj_secs"
}

# hj_printed ID PATTERN SECONDS: command ID printed a line matching PATTERN (it may still run)
hj_printed()
{
    hj_poll "$3" grep -q "$2" "$AGENT/$1.out" ||
        { echo "FAIL waiting $3 s for '$2' from hdmabuf command $1"; tail -n 30 "$AGENT/$1.out"; return 1; }
}
