#!/bin/sh
# check-exports.sh LIB.so - the shared library exports only attest_* symbols.
set -eu
bad=$(nm -D --defined-only "$1" | awk '{print $3}' | grep -v '^attest_' || true)
if [ -n "$bad" ]; then
	echo "check-exports: $1 exports non-API symbols:" >&2
	echo "$bad" >&2
	exit 1
fi
echo "check-exports: $1 exports $(nm -D --defined-only "$1" | wc -l) attest_* symbols only"
