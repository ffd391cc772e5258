#!/bin/sh
# swtpm-seeds.sh [CORPUS_DIR] - add TPM-made seeds to the fuzz corpus
# (default tests/fuzz/corpus): the public areas of a real EK and AK, a real
# TPM2_Quote (TPMS_ATTEST), its TPMT_SIGNATURE, the quote and signature in
# fuzz_tpm's split form ([u16 BE n][attest][signature]), the P-256 EK
# certificate from NV, tpm2_quote's serialized PCR file (fuzz_vbody) and
# the swtpm's answers to fuzz_tpmrsp's operations. Uses a private swtpm
# (swtpm-ci/) in a temp dir.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
corpus=${1:-$top/tests/fuzz/corpus}
work=$(mktemp -d "${TMPDIR:-/tmp}/attest-seeds.XXXXXX")
cleanup() {
	[ -f "$work/tpm/swtpm.pid" ] && "$top/swtpm-ci/swtpm-stop.sh" "$work/tpm" >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

"$top/swtpm-ci/make-template.sh" "$work/tmpl" >"$work/tmpl.log" 2>&1 ||
	{ cat "$work/tmpl.log" >&2; exit 1; }
TPM2TOOLS_TCTI=$("$top/swtpm-ci/swtpm-start.sh" "$work/tmpl" "$work/tpm")
export TPM2TOOLS_TCTI
cd "$work"
# fz_quote_nonce of fuzz_fixture.c, so the quote gets past the nonce check
nonce=$(printf 'fuzz: quote qualifying data ....' | xxd -p -c 64)
tpm2_createek -c ek.ctx -G ecc -u ek.pub >/dev/null
tpm2_createak -C ek.ctx -c ak.ctx -G ecc -g sha256 -s ecdsa -u ak.pub -n ak.name >/dev/null
tpm2_flushcontext -t
tpm2_flushcontext -s
tpm2_quote -c ak.ctx -l sha256:0,1,2,3,4,5,6,7 -q $nonce -g sha256 \
	-m quote.msg -s quote.sig -o pcrs.out >/dev/null
tpm2_nvread -C o 0x01c0000a -o ekcert.der 2>/dev/null

n=$(wc -c <quote.msg)
printf "$(printf '\\%03o\\%03o' $((n >> 8)) $((n & 255)))" >split
cat quote.msg quote.sig >>split

install -m 0644 ek.pub "$corpus/tpm/swtpm-ek-public"
install -m 0644 ak.pub "$corpus/tpm/swtpm-ak-public"
install -m 0644 quote.msg "$corpus/tpm/swtpm-quote"
install -m 0644 quote.sig "$corpus/tpm/swtpm-signature"
install -m 0644 split "$corpus/tpm/swtpm-quote-signed"
install -m 0644 ekcert.der "$corpus/enrol/swtpm-ek-cert.der"
# check-quote's serialized PCR file (fuzz_vbody route pcrs)
{ printf 'pcrs\n'; cat pcrs.out; } >vbody-pcrs
install -m 0644 vbody-pcrs "$corpus/vbody/swtpm-pcrs-serialized"

# tpmrsp: the swtpm's answers to each group of fuzz_tpmrsp's operations,
# recorded through the target's own TCTI (needs $BUILD/fuzz/replay_tpmrsp)
replay=${BUILD:-$top/build}/fuzz/replay_tpmrsp
mkdir -p "$corpus/tpmrsp"
for ops in 01 02 04 08 10 20 40 7f; do
	printf "\\$(printf '%03o' 0x$ops)" >ops.bin
	FUZZRSP_RECORD="$work/rec-$ops" FUZZRSP_CHILD="$TPM2TOOLS_TCTI" "$replay" ops.bin >/dev/null 2>&1
	install -m 0644 "rec-$ops" "$corpus/tpmrsp/swtpm-ops-$ops"
done
echo "swtpm-seeds: wrote 15 seeds under $corpus"
