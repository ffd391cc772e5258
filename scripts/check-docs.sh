#!/bin/sh
# check-docs.sh - every error code in include/attest/attest.h has its entry
# in docs/errors.md.
set -eu
cd "$(dirname "$0")/.."
missing=0
for code in $(grep -oE 'ATTEST_(OK|E_[A-Z_]+) = [0-9]+' include/attest/attest.h | cut -d' ' -f1); do
	if ! grep -q "\`$code\`" docs/errors.md; then
		echo "check-docs: $code has no entry in docs/errors.md" >&2
		missing=1
	fi
done
[ "$missing" -eq 0 ] && echo "check-docs: every error code is documented"
exit "$missing"
