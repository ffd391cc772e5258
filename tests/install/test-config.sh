#!/bin/sh
# test-config.sh - the configuration files of attestd and attest-verifier
# serve (run by make check): the shipped examples (dist/config/) parse; the
# command line overrides the file; --print-config writes a file that reads
# back to the same configuration; an unknown key, a duplicate, trailing
# garbage and a bad value are refused with the file and line; an explicit
# --config that does not exist is an error. The parser itself:
# tests/unit/test_conf.c and tests/fuzz/fuzz_conf.c.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$top/$BUILD ;; esac
tmp=$(mktemp -d "${TMPDIR:-/tmp}/attest-config.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() { echo "test-config: FAILED: $*" >&2; exit 1; }
A="$BUILD/attestd"
V="$BUILD/attest-verifier serve"

# refused CMD... -- WANT: exit 2 and WANT in stderr
refused() {
	want=$1
	shift
	rc=0
	"$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
	[ "$rc" -eq 2 ] || fail "$* exited $rc, want 2 ($(cat "$tmp/err"))"
	grep -qF -- "$want" "$tmp/err" || fail "$*: '$(cat "$tmp/err")' lacks '$want'"
}

# the examples parse
$A --config "$top/dist/config/attestd.conf" --print-config >"$tmp/a0" || fail "dist attestd.conf"
grep -qx 'group = attestd-agents' "$tmp/a0" || fail "dist attestd.conf: no group"
$V --config "$top/dist/config/verifier.conf" --print-config >"$tmp/v0" || fail "dist verifier.conf"

# the store key (issue 18): a PostgreSQL URI, kept whole; anything else refused
printf 'state = /a\nca = /b\nstore = postgresql://v@db.example/x?sslmode=verify-full&connect_timeout=5\n' >"$tmp/vs.conf"
$V --config "$tmp/vs.conf" --print-config >"$tmp/vs" || fail "verifier store key"
grep -qx 'store = postgresql://v@db.example/x?sslmode=verify-full&connect_timeout=5' "$tmp/vs" ||
	fail "verifier store key not kept whole"
refused '--store: want a postgresql:// URI' $V --config "$tmp/vs.conf" --store mysql://db/x

# attestd: flags over the file, print -> read back
cat >"$tmp/a.conf" <<'CONF'
# a comment
state = /srv/attestd
  max-clients = 100
eventlog = "/path with space/log"
verifier = https://v.example:8443
verifier-ca = /etc/v.pem
CONF
$A --config "$tmp/a.conf" --max-clients 7 --print-config >"$tmp/a1" || fail "attestd --print-config"
grep -qx 'max-clients = 7' "$tmp/a1" || fail "the command line did not override max-clients"
grep -qx 'state = /srv/attestd' "$tmp/a1" || fail "state from the file not used"
grep -qx 'eventlog = "/path with space/log"' "$tmp/a1" || fail "quoted value"
$A --config "$tmp/a1" --print-config >"$tmp/a2" || fail "attestd --config of its own output"
[ "$(tail -n +2 "$tmp/a1")" = "$(tail -n +2 "$tmp/a2")" ] || fail "attestd: printed config reads back differently"

printf 'state = /a\nmax-clientz = 1\n' >"$tmp/bad1"
refused "$tmp/bad1: line 2: unknown key \"max-clientz\"" $A --config "$tmp/bad1"
printf 'state = /a\nstate = /b\n' >"$tmp/bad2"
refused 'line 2: "state" given twice (first on line 1)' $A --config "$tmp/bad2"
printf 'state = /a b\n' >"$tmp/bad3"
refused 'line 1: trailing garbage' $A --config "$tmp/bad3"
printf '\nmax-ttl = 99999\n' >"$tmp/bad4"
refused "--max-ttl: \"99999\" is not a number in 1..86400 ($tmp/bad4 line 2)" $A --config "$tmp/bad4"
refused "$tmp/nonexistent: no such file" $A --config "$tmp/nonexistent"
refused 'is not a number' $A --config "$tmp/a.conf" --max-clients x

# attest-verifier serve: required keys from the file, flags over it
printf 'state = %s/vs\nca = %s/ca\nnonce-ttl = 30\n' "$tmp" "$tmp" >"$tmp/v.conf"
$V --config "$tmp/v.conf" --nonce-ttl 45 --print-config >"$tmp/v1" || fail "serve --print-config"
grep -qx 'nonce-ttl = 45' "$tmp/v1" || fail "the command line did not override nonce-ttl"
grep -qx "state = $tmp/vs" "$tmp/v1" || fail "state from the file not used"
$V --config "$tmp/v1" --print-config >"$tmp/v2" || fail "serve --config of its own output"
[ "$(tail -n +2 "$tmp/v1")" = "$(tail -n +2 "$tmp/v2")" ] || fail "serve: printed config reads back differently"
printf 'ca = /x\n' >"$tmp/v3.conf"
refused '--state is required' $V --config "$tmp/v3.conf"
printf 'state = /x\nlisten = 1.2.3.4:1 extra\n' >"$tmp/v4.conf"
refused "$tmp/v4.conf: line 2: trailing garbage" $V --config "$tmp/v4.conf"
# a value from the file is checked like the flag: the serve command refuses it
printf 'state = /x\nca = /y\nnonce-ttl = 1\n' >"$tmp/v5.conf"
refused '--nonce-ttl: "1" is not a whole number in 5..3600' $V --config "$tmp/v5.conf"
echo "test-config: ok (attestd and attest-verifier serve: examples, override, round trip, 9 refusals)"
