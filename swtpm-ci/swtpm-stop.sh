#!/usr/bin/env bash
# Stop the swtpm started by swtpm-start.sh for one WORK_DIR.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: swtpm-stop.sh WORK_DIR

Stops the swtpm whose pid is in WORK_DIR/swtpm.pid. The pid is only signalled
after checking (via /proc/PID/cmdline) that it is a swtpm process using
--tpmstate dir=WORK_DIR/state. Sends SIGTERM, waits up to
SWTPM_CI_STOP_TIMEOUT seconds (default 5), then SIGKILL. Removes the pid file.
Succeeds silently if the process is already gone. WORK_DIR/state, the log and
the tcti file are left in place.

Options:
  -h, --help    show this help
EOF
}

SCI_PROG=swtpm-stop.sh
# shellcheck source=lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

case "${1-}" in
    -h | --help) usage; exit 0 ;;
esac
[ $# -eq 1 ] || { usage >&2; sci_die "expected exactly one argument WORK_DIR"; }
[ -d "$1" ] || sci_die "work directory '$1' does not exist"
work=$(sci_abspath "$1")

sci_stop_swtpm "$work" "$work/state"
