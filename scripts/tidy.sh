#!/bin/sh
# tidy.sh - clang-tidy over the C sources of libattest, the daemons and the
# tools, with a small set of checks as errors (run by make check; clang-tidy
# comes with make deps). CFLAGS: the project's
# compiler flags (make print-cflags); JOBS: parallel files (default 2).
#
# The checks (README.md, tests/fuzz/README.md "CI gates"): bugprone ones that find
# real memory and logic errors in C and have no false positives on this
# tree, and the CERT ones about unchecked conversions and bad randomness:
#   bugprone-suspicious-memset-usage, -suspicious-string-compare,
#   -not-null-terminated-result, -suspicious-memory-comparison,
#   -signed-char-misuse, -infinite-loop, -misplaced-widening-cast,
#   -bool-pointer-implicit-conversion, -suspicious-semicolon,
#   -multiple-statement-macro, -suspicious-include, -posix-return,
#   -redundant-branch-condition, -too-small-loop-variable,
#   -unused-return-value, -string-literal-with-embedded-nul,
#   -incorrect-roundings, -terminating-continue,
#   -misplaced-operator-in-strlen-in-alloc,
#   -misplaced-pointer-arithmetic-in-alloc, -suspicious-missing-comma,
#   -undefined-memory-manipulation, -swapped-arguments;
#   cert-err34-c (sscanf/atoi conversions that cannot report errors),
#   cert-str34-c, cert-flp30-c, cert-msc30-c (rand), cert-env33-c (system).
# Left out, with the reason: bugprone-sizeof-expression (flags
# sizeof(*v) for v a pointer to pointers, the idiom of every realloc
# here), bugprone-integer-division (the push jitter divides on purpose),
# cert-err33-c (every unchecked fprintf/snprintf to a sized buffer: noise),
# clang-analyzer-* (minutes per run on 2 cores).
set -eu
cd "$(dirname "$0")/.."
# clang-tidy is in the Makefile's DEB_PKGS (make deps installs it): a
# missing one is a set-up fault, not a reason to pass
if ! command -v clang-tidy >/dev/null 2>&1; then
	echo "tidy.sh: clang-tidy missing: run make deps as root (Debian package clang-tidy)" >&2
	exit 1
fi
CHECKS='-*,bugprone-suspicious-memset-usage,bugprone-suspicious-string-compare,bugprone-not-null-terminated-result,bugprone-suspicious-memory-comparison,bugprone-signed-char-misuse,bugprone-infinite-loop,bugprone-misplaced-widening-cast,bugprone-bool-pointer-implicit-conversion,bugprone-suspicious-semicolon,bugprone-multiple-statement-macro,bugprone-suspicious-include,bugprone-posix-return,bugprone-redundant-branch-condition,bugprone-too-small-loop-variable,bugprone-unused-return-value,bugprone-string-literal-with-embedded-nul,bugprone-incorrect-roundings,bugprone-terminating-continue,bugprone-misplaced-operator-in-strlen-in-alloc,bugprone-misplaced-pointer-arithmetic-in-alloc,bugprone-suspicious-missing-comma,bugprone-undefined-memory-manipulation,bugprone-swapped-arguments,cert-err34-c,cert-str34-c,cert-flp30-c,cert-msc30-c,cert-env33-c'
# clang's own warnings are gcc's business (-Werror there); only the checks
# above decide here
FLAGS="${CFLAGS:-$(make -s print-cflags)} -Iattestd -Iverifier -Wno-everything -DATTEST_BUILDING_LIB"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
export FLAGS CHECKS
# FLAGS unquoted inside: split into words, its quotes kept (-DX="...")
ls libattest/*/*.c attestd/*.c verifier/*.c cli/*.c provisioning/*.c |
	xargs -P "${JOBS:-2}" -n 8 sh -c \
		'clang-tidy -quiet --checks="$CHECKS" --warnings-as-errors="*" "$@" -- $FLAGS 2>/dev/null' sh \
	>"$out" || true
if grep -q 'error:' "$out"; then
	grep -A3 'error:' "$out" >&2
	echo "tidy.sh: clang-tidy found the above" >&2
	exit 1
fi
echo "tidy.sh: ok ($(ls libattest/*/*.c attestd/*.c verifier/*.c cli/*.c provisioning/*.c | wc -l) files)"
