#!/bin/sh
# banned.sh - fail if C sources call functions STYLE.md bans.
set -eu
cd "$(dirname "$0")/.."
pat='\b(atoi|atol|atoll|sprintf|vsprintf|strcpy|strcat|gets|rand|srand|strtok|tmpnam|mktemp)[[:space:]]*\('
if grep -nE "$pat" $(find libattest attestd provisioning verifier cli tests bench include -name '*.[ch]' 2>/dev/null); then
	echo "banned.sh: banned function used (see STYLE.md)" >&2
	exit 1
fi
# a detail is wrapped with attest_fail_wrap, never passed back into attest_fail
if grep -nE '\battest_fail(_tss|_ossl)?[[:space:]]*\(.*attest_errdetail[[:space:]]*\(' $(find libattest attestd provisioning verifier -name '*.[ch]'); then
	echo "banned.sh: wrap a detail with attest_fail_wrap, not attest_fail(..., attest_errdetail())" >&2
	exit 1
fi
# numbers read from text go through attest_parse_u64 (libattest/core/num.h):
# strtol and friends take spaces, signs, "0x" and trailing bytes unless each
# caller checks all of it, and sscanf's %d/%u/%llu take "-1" and wrap it.
# (tests/ and examples/ read their own output or show the public API only).
if grep -nE '\bstrto(l|ul|ll|ull|imax|umax)[[:space:]]*\(|\bsscanf[[:space:]]*\(.*%(hh|h|ll|l|j|z)?[diu]' \
	$(find libattest provisioning verifier cli bench attestd -name '*.[ch]'); then
	echo "banned.sh: parse numbers with attest_parse_u64 (core/num.h), not strto*/sscanf" >&2
	exit 1
fi
# libattest never prints or exits
if grep -nE '\b(exit|abort|printf|puts)[[:space:]]*\(|fprintf[[:space:]]*\((stdout|stderr)' libattest/*/*.c; then
	echo "banned.sh: libattest must not print or exit" >&2
	exit 1
fi
echo "banned.sh: ok"
