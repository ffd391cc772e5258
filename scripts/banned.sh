#!/bin/sh
# banned.sh - fail if C sources call functions STYLE.md bans. Run by make
# check (and make lint) over every C file of the tree: libattest, the
# daemons and tools, tests, benchmarks, examples (build directories and .git
# are skipped).
set -eu
cd "$(dirname "$0")/.."
all=$(find . \( -path './build*' -o -path ./.git \) -prune -o -name '*.[ch]' -print | sort)
prod=$(find libattest provisioning verifier cli bench attestd -name '*.[ch]' | sort)
pat='\b(atoi|atol|atoll|atof|sprintf|vsprintf|strcpy|strcat|gets|rand|srand|strtok|tmpnam|mktemp)[[:space:]]*\('
if grep -nE "$pat" $all; then
	echo "banned.sh: banned function used (see STYLE.md)" >&2
	exit 1
fi
# a detail is wrapped with attest_fail_wrap, never passed back into attest_fail
if grep -nE '\battest_fail(_tss|_ossl)?[[:space:]]*\(.*attest_errdetail[[:space:]]*\(' $(find libattest attestd provisioning verifier -name '*.[ch]'); then
	echo "banned.sh: wrap a detail with attest_fail_wrap, not attest_fail(..., attest_errdetail())" >&2
	exit 1
fi
# numbers read from text go through attest_parse_u64 (libattest/core/num.h)
# or attest_parse_utc: strtol and friends take spaces, signs, "0x" and
# trailing bytes unless each caller checks all of it, and sscanf's %d/%u/
# %llu (with or without a width: "%4d" takes "-1", "+1" and " 1") take "-1"
# and wrap it.
if grep -nE '\bstrto(l|ul|ll|ull|imax|umax)[[:space:]]*\(|\bsscanf[[:space:]]*\(.*%[0-9]*(hh|h|ll|l|j|z)?[diu]' \
	$prod; then
	echo "banned.sh: parse numbers with attest_parse_u64 (core/num.h), not strto*/sscanf" >&2
	exit 1
fi
# everywhere else (tests, examples): a strto* must have an end pointer to
# check (tests/unit/testutil.h tu_leading_num is the checked one of the tests)
if grep -nE '\bstrto(l|ul|ll|ull|imax|umax|d|f|ld)[[:space:]]*\([^,;]*,[[:space:]]*(NULL|0)[[:space:]]*[,)]' $all; then
	echo "banned.sh: strto* without an end pointer is unchecked (tu_leading_num in tests)" >&2
	exit 1
fi
# libattest never prints or exits
if grep -nE '\b(exit|abort|printf|puts)[[:space:]]*\(|fprintf[[:space:]]*\((stdout|stderr)' libattest/*/*.c; then
	echo "banned.sh: libattest must not print or exit" >&2
	exit 1
fi
echo "banned.sh: ok ($(echo "$all" | wc -l) files)"
