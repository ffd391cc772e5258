# shellcheck shell=bash
# Shared helpers for the swtpm-ci scripts. Source this file; do not execute it.
#
# Tunables (environment):
#   SWTPM_CI_PORT                       use exactly this server port (control: +1)
#   SWTPM_CI_PORT_MIN / SWTPM_CI_PORT_MAX  random port range (default 10240..32000,
#                                          below the Linux ephemeral range)
#   SWTPM_CI_START_TRIES                   bind attempts before giving up (default 50)
#   SWTPM_CI_READY_TIMEOUT                 seconds to wait for a started swtpm (default 10)
#   SWTPM_CI_STOP_TIMEOUT                  seconds between SIGTERM and SIGKILL (default 5)

SCI_PROG=${SCI_PROG:-$(basename "$0")}
# Set by sci_start_swtpm, read by the scripts that source this file.
# shellcheck disable=SC2034
SCI_PORT="" SCI_PID=""

sci_die() {
    printf '%s: error: %s\n' "$SCI_PROG" "$*" >&2
    exit 1
}

sci_warn() {
    printf '%s: warning: %s\n' "$SCI_PROG" "$*" >&2
}

sci_need() {
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 || sci_die "required program '$c' not found in PATH"
    done
}

# sci_abspath PATH  -> absolute, symlink-resolved path (PATH must exist)
sci_abspath() {
    (cd "$1" 2>/dev/null && pwd -P) || sci_die "cannot resolve directory '$1'"
}

# sci_proc_state PID -> single-letter process state ("" if no such process)
sci_proc_state() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || { echo ""; return 0; }
    stat=${stat##*) }
    echo "${stat%% *}"
}

# sci_pid_alive PID -> 0 if the process exists and is not a zombie
sci_pid_alive() {
    local s
    s=$(sci_proc_state "$1")
    [ -n "$s" ] && [ "$s" != Z ] && [ "$s" != X ]
}

# sci_pid_is_swtpm_for PID STATE_DIR -> 0 if PID is a swtpm whose command
# line contains the argument "dir=STATE_DIR" (the --tpmstate value).
sci_pid_is_swtpm_for() {
    local pid=$1 state=$2 arg first=1 is_swtpm=1 has_state=1
    [ -r "/proc/$pid/cmdline" ] || return 1
    while IFS= read -r -d '' arg; do
        if [ "$first" = 1 ]; then
            first=0
            [ "$(basename -- "$arg")" = swtpm ] && is_swtpm=0
        fi
        case "$arg" in
            "dir=$state" | "dir=$state,"*) has_state=0 ;;
        esac
    done < "/proc/$pid/cmdline"
    [ "$is_swtpm" = 0 ] && [ "$has_state" = 0 ]
}

# sci_read_pidfile FILE -> pid on stdout ("" if file missing/empty/garbage)
sci_read_pidfile() {
    local pid=""
    [ -r "$1" ] && pid=$(tr -dc '0-9' < "$1")
    echo "$pid"
}

sci_port_busy() {
    # Listening TCP socket on 127.0.0.1/any with that port?
    [ -n "$(ss -Hltn "( sport = :$1 )" 2>/dev/null)" ]
}

sci_random_port() {
    # SWTPM_CI_PORT: exactly this port (a TPM that comes back where it was)
    if [ -n "${SWTPM_CI_PORT:-}" ]; then
        echo "$SWTPM_CI_PORT"
        return
    fi
    local min=${SWTPM_CI_PORT_MIN:-10240} max=${SWTPM_CI_PORT_MAX:-32000}
    [ "$max" -gt $((min + 1)) ] || sci_die "bad SWTPM_CI_PORT_MIN/MAX range $min..$max"
    echo $((min + ((RANDOM << 15 | RANDOM) % (max - min - 1))))
}

# sci_start_swtpm STATE_DIR RUN_DIR
# Starts a daemonised swtpm on STATE_DIR with pid/log files in RUN_DIR, on a
# random free port pair P (server), P+1 (control) bound to 127.0.0.1.
# On success sets SCI_PORT and SCI_PID (globals used by the callers). Retries with a new port if bind fails.
sci_start_swtpm() {
    local state=$1 run=$2
    local tries=${SWTPM_CI_START_TRIES:-50} ready_to=${SWTPM_CI_READY_TIMEOUT:-10}
    local i p pid deadline
    local pidf="$run/swtpm.pid" logf="$run/swtpm.log"
    SCI_PORT="" SCI_PID=""
    for ((i = 1; i <= tries; i++)); do
        p=$(sci_random_port)
        if sci_port_busy "$p" || sci_port_busy $((p + 1)); then
            continue
        fi
        rm -f "$pidf"
        : > "$logf"
        if ! swtpm socket --tpm2 \
                --tpmstate "dir=$state" \
                --server "type=tcp,port=$p,bindaddr=127.0.0.1" \
                --ctrl "type=tcp,port=$((p + 1)),bindaddr=127.0.0.1" \
                --flags not-need-init,startup-clear \
                --daemon --pid "file=$pidf" --log "file=$logf" \
                </dev/null >/dev/null 2>>"$logf"; then
            if grep -qi 'address already in use' "$logf"; then
                continue    # lost a race for the port: try another one
            fi
            sci_die "swtpm failed to start on $state (log $logf): $(tr '\n' ' ' < "$logf")"
        fi
        # swtpm binds before daemonising; wait for the pid file and the ctrl channel.
        deadline=$((SECONDS + ready_to))
        while :; do
            pid=$(sci_read_pidfile "$pidf")
            if [ -n "$pid" ] && sci_pid_alive "$pid" && sci_pid_is_swtpm_for "$pid" "$state" &&
                    swtpm_ioctl --tcp "127.0.0.1:$((p + 1))" -g >/dev/null 2>&1; then
                # shellcheck disable=SC2034
                SCI_PORT=$p SCI_PID=$pid
                return 0
            fi
            if [ -n "$pid" ] && ! sci_pid_alive "$pid"; then
                sci_die "swtpm (pid $pid) exited during startup (log $logf): $(tr '\n' ' ' < "$logf")"
            fi
            if [ "$SECONDS" -ge "$deadline" ]; then
                [ -n "$pid" ] && sci_pid_is_swtpm_for "$pid" "$state" && kill -KILL "$pid" 2>/dev/null
                sci_die "swtpm did not become ready within ${ready_to}s on port $p (log $logf)"
            fi
            sleep 0.05
        done
    done
    sci_die "could not find a free port pair after $tries attempts (range ${SWTPM_CI_PORT_MIN:-10240}..${SWTPM_CI_PORT_MAX:-32000})"
}

# sci_stop_swtpm RUN_DIR STATE_DIR
# Stops the swtpm whose pid is in RUN_DIR/swtpm.pid, after checking it is a
# swtpm using STATE_DIR. SIGTERM, then SIGKILL after SWTPM_CI_STOP_TIMEOUT s.
sci_stop_swtpm() {
    local run=$1 state=$2 pidf="$1/swtpm.pid" pid deadline to=${SWTPM_CI_STOP_TIMEOUT:-5}
    pid=$(sci_read_pidfile "$pidf")
    if [ -z "$pid" ]; then
        [ -e "$pidf" ] && sci_warn "pid file $pidf is empty or invalid; removing it"
        rm -f "$pidf"
        return 0
    fi
    if ! sci_pid_alive "$pid"; then
        rm -f "$pidf"
        return 0
    fi
    sci_pid_is_swtpm_for "$pid" "$state" ||
        sci_die "pid $pid from $pidf is not a swtpm using $state; refusing to kill it"
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + to))
    while sci_pid_alive "$pid" && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.05; done
    if sci_pid_alive "$pid" && sci_pid_is_swtpm_for "$pid" "$state"; then
        sci_warn "swtpm pid $pid did not exit ${to}s after SIGTERM; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        deadline=$((SECONDS + 5))
        while sci_pid_alive "$pid" && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.05; done
        sci_pid_alive "$pid" && sci_die "swtpm pid $pid survived SIGKILL"
    fi
    rm -f "$pidf"
}
