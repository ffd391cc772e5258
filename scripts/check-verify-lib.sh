#!/bin/sh
# check-verify-lib.sh - the relying-party library (libattest-verify) links
# and runs without ESYS, the TCTI loader, libcurl or libevent: its shared
# object needs none of them, a program built from its pkg-config file alone
# (tests/rp/rp_decide.c) links, and that program decides (a deny with its
# reason for a chain that is not an agent's).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$top/$BUILD ;; esac
so=$BUILD/libattest-verify.so
forbidden='tss2-esys|tss2-sys|tss2-tcti|curl|event'
fail() { echo "check-verify-lib: $*" >&2; exit 1; }

[ -f "$so" ] || fail "$so missing (make test-bins builds it)"
needed=$(readelf -d "$so" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
if echo "$needed" | grep -Eq "$forbidden"; then
	fail "libattest-verify.so needs $(echo "$needed" | grep -E "$forbidden" | tr '\n' ' ')"
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/attest-rp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# shellcheck disable=SC2046
${CC:-cc} -std=c11 -Wall -Wextra -Werror -o "$tmp/rp_decide" "$top/tests/rp/rp_decide.c" \
	$(PKG_CONFIG_PATH="$BUILD/pkgconfig" pkg-config --cflags --libs attest-verify) \
	-Wl,-rpath,"$BUILD" -Wl,--as-needed || fail "rp_decide does not build from attest-verify.pc"
if readelf -d "$tmp/rp_decide" | grep NEEDED | grep -Eq "$forbidden"; then
	fail "rp_decide pulls in $(readelf -d "$tmp/rp_decide" | grep NEEDED | grep -E "$forbidden")"
fi
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=fleet-root \
	-days 1 -keyout "$tmp/root.key" -out "$tmp/root.pem" 2>/dev/null || fail "openssl req"
out=$("$tmp/rp_decide" "$tmp/root.pem" "$tmp/root.pem" read ehr:patient/1 || true)
case $out in
	"deny ATTEST_E_"*) ;;
	*) fail "rp_decide on a chain that is no agent's: '$out', want a deny with its code" ;;
esac
echo "check-verify-lib: libattest-verify.so needs $(echo "$needed" | tr '\n' ' '); a relying party links and decides ($out)"
