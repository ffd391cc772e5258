#!/bin/sh
# run-tests.sh TEST_BIN... - run the CUnit test binaries, two at a time.
# Builds one swtpm template state for the whole run (swtpm-ci/), gives each
# binary a private TMPDIR, prints each binary's log when it fails, and ends
# with one line "tests: N passed, N failed".
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
jobs=${ATTEST_TEST_JOBS:-2}
run=$(mktemp -d "${TMPDIR:-/tmp}/attest-run.XXXXXX")
# A test that dies mid-way (a fatal assertion, a crash) cannot stop its
# swtpm: stop every swtpm this run started, by its pid file, before removing.
cleanup() {
	for f in "$run"/tmp.*/attest-test.*/attestd.pid "$run"/tmp.*/attest-test.*/verifier.pid; do
		[ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null
	done
	# a private PostgreSQL (tests/unit/testutil_pg.c): its pid and directory
	for f in "$run"/tmp.*/attest-pg.pid; do
		[ -f "$f" ] && kill -INT "$(cat "$f")" 2>/dev/null
	done
	for f in "$run"/tmp.*/attest-pg.dir; do
		[ -f "$f" ] || continue
		d=$(cat "$f")
		case "$d" in */attest-pg.*) sleep 1; rm -rf "$d" ;; esac
	done
	for d in "$run"/tmp.*/attest-test.*/tpm; do
		[ -f "$d/swtpm.pid" ] && "$top/swtpm-ci/swtpm-stop.sh" "$d" >/dev/null 2>&1
	done
	rm -rf "$run"
}
trap cleanup EXIT INT TERM

"$top/swtpm-ci/make-template.sh" "$run/tmpl" >"$run/template.log" 2>&1 || {
	cat "$run/template.log" >&2
	echo "run-tests: could not build the swtpm template" >&2
	exit 1
}
export ATTEST_TEST_TEMPLATE="$run/tmpl" ATTEST_SRCDIR="$top" BUILD="${BUILD:-build}"
# ESYS logs its own view of every refused command to stderr; our errors say more.
export TSS2_LOG="${TSS2_LOG:-all+none}"
export PATH="$top/${BUILD:-build}:$PATH"

mkdir -p "$run/logs"
for t in "$@"; do echo "$t"; done | xargs -P "$jobs" -I{} sh -c '
	t="$1"; run="$2"; name=$(basename "$t")
	mkdir -p "$run/tmp.$name"
	start=$(date +%s)
	if TMPDIR="$run/tmp.$name" "$t" >"$run/logs/$name.log" 2>&1; then rc=0; else rc=$?; fi
	echo "$rc $(( $(date +%s) - start ))" >"$run/logs/$name.rc"
' _ {} "$run"

passed=0 failed=0 bad=""
for t in "$@"; do
	name=$(basename "$t")
	log="$run/logs/$name.log"
	set -- $(cat "$run/logs/$name.rc" 2>/dev/null || echo "99 0")
	rc=$1 secs=$2
	# CUnit's run summary: "tests  N  N  N  N  0" = total ran passed failed inactive
	line=$(grep -E '^ +tests +[0-9]+' "$log" | tail -n 1 || true)
	if [ -n "$line" ]; then
		p=$(echo "$line" | awk '{print $4}')
		f=$(echo "$line" | awk '{print $5}')
	else
		p=0 f=1
	fi
	[ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
	passed=$((passed + p)); failed=$((failed + f))
	if [ "$f" -ne 0 ]; then
		bad="$bad $name"
		echo "---- $name: FAILED (exit $rc) ----"
		cat "$log"
	else
		echo "ok   $name: $p tests (${secs}s)"
	fi
done
[ -n "$bad" ] && echo "failed:$bad"
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
