#!/usr/bin/env bash
# Start a private swtpm instance from a template built by make-template.sh.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: swtpm-start.sh [--keep-state] TEMPLATE_DIR WORK_DIR

Copies TEMPLATE_DIR/state (built by make-template.sh) to WORK_DIR/state and
starts a daemonised swtpm on it:

  swtpm socket --tpm2 --tpmstate dir=WORK_DIR/state
        --server type=tcp,port=P,bindaddr=127.0.0.1
        --ctrl   type=tcp,port=P+1,bindaddr=127.0.0.1
        --flags not-need-init,startup-clear --daemon
        --pid file=WORK_DIR/swtpm.pid --log file=WORK_DIR/swtpm.log

P is a random free port (retried with another port when the bind fails, so
parallel callers are safe). On success writes WORK_DIR/tcti and prints the
TCTI string "swtpm:host=127.0.0.1,port=P" as the only line on stdout.
Stop it with swtpm-stop.sh WORK_DIR.

Options:
  --keep-state  if WORK_DIR/state already exists, reuse it (simulates a
                reboot of the same TPM) instead of refusing
  -h, --help    show this help

Environment: SWTPM_CI_PORT_MIN, SWTPM_CI_PORT_MAX, SWTPM_CI_START_TRIES,
SWTPM_CI_READY_TIMEOUT (see lib.sh).
EOF
}

SCI_PROG=swtpm-start.sh
# shellcheck source=lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

keep=0
args=()
while [ $# -gt 0 ]; do
    case "$1" in
        -h | --help) usage; exit 0 ;;
        --keep-state) keep=1 ;;
        --) shift; args+=("$@"); break ;;
        -*) usage >&2; sci_die "unknown option '$1'" ;;
        *) args+=("$1") ;;
    esac
    shift
done
[ ${#args[@]} -eq 2 ] || { usage >&2; sci_die "expected TEMPLATE_DIR and WORK_DIR"; }

sci_need swtpm swtpm_ioctl ss

tmpl=${args[0]}
[ -d "$tmpl" ] || sci_die "template directory '$tmpl' does not exist"
tmpl=$(sci_abspath "$tmpl")
{ [ -f "$tmpl/.complete" ] && [ -d "$tmpl/state" ]; } ||
    sci_die "'$tmpl' is not a complete template (missing .complete or state/); run make-template.sh"

mkdir -p -- "${args[1]}" || sci_die "cannot create work directory '${args[1]}'"
work=$(sci_abspath "${args[1]}")

oldpid=$(sci_read_pidfile "$work/swtpm.pid")
if [ -n "$oldpid" ] && sci_pid_alive "$oldpid" && sci_pid_is_swtpm_for "$oldpid" "$work/state"; then
    sci_die "a swtpm (pid $oldpid) is already running for $work; stop it with swtpm-stop.sh first"
fi
rm -f "$work/swtpm.pid" "$work/tcti"

if [ -e "$work/state" ]; then
    [ "$keep" = 1 ] || sci_die "$work/state already exists (use --keep-state to reuse it, or a fresh WORK_DIR)"
else
    cp -R -p -- "$tmpl/state" "$work/state.tmp.$$" || sci_die "cannot copy template state to $work"
    mv -- "$work/state.tmp.$$" "$work/state"
fi

# If we are interrupted after swtpm started but before the tcti file is
# written, do not leave an orphaned swtpm behind.
on_exit() {
    local rc=$?
    if [ $rc -ne 0 ] && [ ! -f "$work/tcti" ] && [ -f "$work/swtpm.pid" ]; then
        (sci_stop_swtpm "$work" "$work/state") || true
    fi
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

sci_start_swtpm "$work/state" "$work"

tcti="swtpm:host=127.0.0.1,port=$SCI_PORT"
printf '%s\n' "$tcti" > "$work/tcti.tmp.$$"
mv -- "$work/tcti.tmp.$$" "$work/tcti"
trap - EXIT INT TERM
printf '%s\n' "$tcti"
