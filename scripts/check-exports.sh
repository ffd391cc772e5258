#!/bin/sh
# check-exports.sh LIB.so - the shared library exports only attest_* symbols,
# versioned ATTEST_0.
set -eu
# every export is attest_* at the version node of libattest/libattest.map
# (nm lists the node itself as an absolute symbol)
bad=$(nm -D --defined-only "$1" | awk '$2 != "A" {print $3}' |
	grep -v '^attest_[A-Za-z0-9_]*@@ATTEST_0$' || true)
if [ -n "$bad" ]; then
	echo "check-exports: $1 exports non-API symbols:" >&2
	echo "$bad" >&2
	exit 1
fi
echo "check-exports: $1 exports $(nm -D --defined-only "$1" | wc -l) attest_* symbols only"
