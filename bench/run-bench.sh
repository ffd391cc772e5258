#!/bin/sh
# run-bench.sh - run the TPM benchmarks on swtpm (make bench).
#
# Builds one swtpm template (swtpm-ci/make-template.sh) in a temporary
# directory, runs $BUILD/bench/bench_tpm and then $BUILD/bench/bench_issue
# (attestd issuance; it starts $BUILD/attestd), then bench_mint (issuance
# work in process: make_leaf and keygen against ECDSA sign), bench_intent,
# bench_quote (quote appraisal, check-quote vs tpm2_checkquote), bench_store
# (the verifier's SQLite store, its database in the same scratch dir),
# bench_policy, bench_decide (in-process decisions), bench_audit (audit log
# appends and verification) and bench_verifier (the HTTP decision endpoint
# with attestd pushing), bench_json (JSON parsing stays linear in its input),
# bench_nginx (decisions through nginx auth_request against direct
# /v1/decide and /v1/authz, interleaved in one run; n/a without nginx),
# bench_spiffe (SVIDs per second through the SPIFFE Workload API against
# attestd's own protocol, interleaved in one run),
# bench_storm (issue 17: a launch storm of ATTEST_BENCH_STORM agents, 100 by
# default, 1000 for the issue's figure, on the slow-TPM TCTI, and the
# steady-state launch latency after it),
# and removes everything on exit. BENCH_ONLY="bench_verifier bench_fleet"
# runs only the named ones (the same environment). Report only: a
# missing tool or a failed run prints a
# message and the exit status says so, but `make bench` never fails on it.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$top/$BUILD ;; esac
bin=$BUILD/bench/bench_tpm
issue_bin=$BUILD/bench/bench_issue

if [ ! -x "$bin" ] && [ ! -x "$issue_bin" ]; then
	echo "run-bench: $bin and $issue_bin missing; run 'make bench'" >&2
	exit 1
fi

run=$(mktemp -d "${TMPDIR:-/tmp}/attest-bench.XXXXXX")
cleanup() {
	# A bench that died early may leave its attestd or attest-verifier
	# running (each writes its pid next to its state).
	for pid in "$run"/tmp/*/attestd.pid "$run"/tmp/*/verifier.pid "$run"/tmp/*/nginx.pid; do
		[ -f "$pid" ] || continue
		kill "$(cat "$pid")" 2>/dev/null || true
	done
	# A bench that died early may leave its swtpm instances running.
	for pid in "$run"/tmp/*/tpm/swtpm.pid; do
		[ -f "$pid" ] || continue
		"$top/swtpm-ci/swtpm-stop.sh" "$(dirname "$pid")" >/dev/null 2>&1 || true
	done
	rm -rf "$run"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if ! "$top/swtpm-ci/make-template.sh" "$run/tmpl" >"$run/template.log" 2>&1; then
	cat "$run/template.log" >&2
	echo "run-bench: could not build the swtpm template" >&2
	exit 1
fi

# bench_tpm's own scratch dirs and swtpm instances go under $run too, so the
# trap removes whatever an interrupted run leaves behind.
mkdir "$run/tmp"
export ATTEST_TEST_TEMPLATE="$run/tmpl" ATTEST_SRCDIR="$top" TMPDIR="$run/tmp"
# bench_issue runs attestd from here, as tests/run-tests.sh does.
export PATH="$BUILD:$PATH"
# ESYS logs its own view of every refused command; bench_tpm says more.
export TSS2_LOG=all+none

echo "# $(swtpm --version 2>&1 | head -n 1); $(tpm2_sign --version 2>&1 | sed -n 's/.*version="\([^"]*\)".*/tpm2-tools \1/p'); $(uname -srm)"
# Each bench runs even when the one before it failed or is missing; the
# status is the last failure's.
rc=0
for b in "$bin" "$issue_bin" "$BUILD/bench/bench_mint" "$BUILD/bench/bench_intent" "$BUILD/bench/bench_quote" \
	"$BUILD/bench/bench_store" "$BUILD/bench/bench_policy" "$BUILD/bench/bench_decide" \
	"$BUILD/bench/bench_audit" "$BUILD/bench/bench_verifier" "$BUILD/bench/bench_json" \
	"$BUILD/bench/bench_nginx" "$BUILD/bench/bench_spiffe" \
	"$BUILD/bench/bench_detect" \
	"$BUILD/bench/bench_storm"; do
	case " ${BENCH_ONLY:-${b##*/}} " in *" ${b##*/} "*) ;; *) continue ;; esac
	if [ ! -x "$b" ]; then
		echo "run-bench: $b missing; run 'make bench'" >&2
		rc=1
		continue
	fi
	"$b" || rc=$?
done
# issue 18: the fleet simulator (bench_fleet): 1M agents in the store
# (start time, RSS), quotes/s on SQLite and PostgreSQL, signed inventory
# reports/s and audit checkpoints/s (and the CPU of each), decisions at one
# and three replicas; issue 17 item 4: quotes/s over HTTPS with the nonce
# round trip at 1 and 16 hosts (quotes_https_*), store commits per quote. Bounded: ATTEST_FLEET_SECS (default 10) per run; a
# bigger run: ATTEST_FLEET_HOSTS=10000 ATTEST_FLEET_SECS=60 make bench.
case " ${BENCH_ONLY:-bench_fleet} " in
*" bench_fleet "*) ;;
*) exit $rc ;;
esac
if [ -x "$BUILD/bench/bench_fleet" ]; then
	"$BUILD/bench/bench_fleet" || rc=$?
else
	echo "run-bench: $BUILD/bench/bench_fleet missing; run 'make bench'" >&2
	rc=1
fi
exit $rc
