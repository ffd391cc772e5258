#!/usr/bin/env bash
# Self-test of the swtpm-ci harness: template build, N parallel instances,
# NV/EK cert checks, openssl verify, stop, no swtpm left behind.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: selftest.sh [N]

Builds a template in a temporary directory, starts N (default 4) swtpm
instances in parallel, checks each one (tpm2_getcap properties-fixed,
NV indices 0x01c00002/0x01c0000a/0x01c00016, EK certs read from NV verify
against vendor-roots.pem with openssl verify), stops them all and checks
that none of the started swtpm processes is still alive. Exit 0 on success.
Keeps the temporary directory when a check fails.

Options:
  -h, --help    show this help
EOF
}

SCI_PROG=selftest.sh
here=$(cd "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
# shellcheck source=lib.sh
. "$here/lib.sh"

case "${1-}" in -h | --help) usage; exit 0 ;; esac
n=${1:-4}
case "$n" in '' | *[!0-9]*) sci_die "N must be a positive integer" ;; esac
sci_need tpm2_getcap tpm2_nvreadpublic tpm2_nvread openssl

tmp=$(mktemp -d "${TMPDIR:-/tmp}/swtpm-ci-selftest.XXXXXX")
ok=0
finish() {
    local i
    for ((i = 1; i <= n; i++)); do
        [ -f "$tmp/w$i/swtpm.pid" ] && { "$here/swtpm-stop.sh" "$tmp/w$i" || true; }
    done
    if [ "$ok" = 1 ]; then rm -rf -- "$tmp"; else echo "selftest: FAILED, kept $tmp" >&2; fi
}
trap finish EXIT

t0=$(date +%s%N)
"$here/make-template.sh" "$tmp/tmpl" >&2
t1=$(date +%s%N)

pids=()
for ((i = 1; i <= n; i++)); do
    "$here/swtpm-start.sh" "$tmp/tmpl" "$tmp/w$i" > "$tmp/out$i" &
    pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || sci_die "a parallel swtpm-start.sh failed"; done
t2=$(date +%s%N)

swpids=()
for ((i = 1; i <= n; i++)); do
    tcti=$(cat "$tmp/w$i/tcti")
    [ "$(cat "$tmp/out$i")" = "$tcti" ] || sci_die "instance $i: stdout differs from tcti file"
    swpids+=("$(sci_read_pidfile "$tmp/w$i/swtpm.pid")")
    tpm2_getcap properties-fixed -T "$tcti" | grep -q TPM2_PT_MANUFACTURER ||
        sci_die "instance $i: tpm2_getcap properties-fixed failed"
    for idx in 0x01c00002 0x01c0000a 0x01c00016; do
        size=$(tpm2_nvreadpublic -T "$tcti" "$idx" | sed -n 's/^ *size: *//p')
        [ -n "$size" ] || sci_die "instance $i: NV index $idx missing"
        tpm2_nvread -T "$tcti" -C o -s "$size" "$idx" -o "$tmp/w$i/$idx.der" 2>/dev/null
        openssl x509 -inform der -in "$tmp/w$i/$idx.der" -out "$tmp/w$i/$idx.pem"
        res=$(openssl verify -CAfile "$tmp/tmpl/vendor-roots.pem" "$tmp/w$i/$idx.pem" 2>&1) ||
            sci_die "instance $i: openssl verify $idx: $res"
        echo "instance $i $tcti $idx: $res" >&2
    done
done

t2s=$(date +%s%N)
pids=()
for ((i = 1; i <= n; i++)); do
    "$here/swtpm-stop.sh" "$tmp/w$i" &
    pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || sci_die "a parallel swtpm-stop.sh failed"; done
t3=$(date +%s%N)
for p in "${swpids[@]}"; do
    sci_pid_alive "$p" && sci_die "swtpm pid $p still running after swtpm-stop.sh"
done
ok=1
printf 'selftest: OK (%d instances; make-template %d ms, parallel start %d ms, stop %d ms)\n' \
    "$n" $(((t1 - t0) / 1000000)) $(((t2 - t1) / 1000000)) $(((t3 - t2s) / 1000000))
