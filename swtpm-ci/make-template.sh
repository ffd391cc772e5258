#!/usr/bin/env bash
# Build one template TPM 2.0 state (swtpm) for a whole test run.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: make-template.sh OUTDIR

Builds ONE manufactured swtpm TPM 2.0 state in OUTDIR for a whole test run
(copy it per test with swtpm-start.sh). Must run as root or as a user that
owns OUTDIR; needs swtpm, swtpm_setup, swtpm_localca (swtpm-tools),
tpm2-tools >= 5 and openssl >= 3.0.

What it creates in OUTDIR:
  state/                TPM state (tpm2-00.permall); start with
                        --flags not-need-init,startup-clear
  localca/              swtpm_localca CA: root + intermediate (keys, certs)
  p256ca/               test EC P-256 CA (key.pem, cert.pem) for the P-256 EK
  vendor-roots.pem      localca root + localca intermediate + p256ca cert
  certs/                EK certificates (DER) as stored in NV:
                          ek-rsa2048.crt    NV 0x01c00002 (swtpm, RSA-2048 EK)
                          ek-nistp256.crt   NV 0x01c0000a (this script, TCG L-2 EK)
                          ek-secp384r1.crt  NV 0x01c00016 (swtpm, P-384 EK)
                          platform-cert.der NV 0x01c08000 (swtpm platform cert)
  ek/                   per EK: <name>.template (marshalled TPMT_PUBLIC used
                        with TPM2_CreatePrimary), <name>.pub.pem, <name>.tpm2b_public
  ek-templates.txt      the EK templates and the reproduction check results
  swtpm_setup.conf, swtpm-localca.conf, swtpm-localca.options, *.log
  .complete             written last

NVRAM is not locked (no --lock-nvram). Persistent EK handles made by swtpm:
0x81010001 (RSA) and 0x81010016 (P-384). The P-256 EK is not persisted.

If OUTDIR/.complete exists the script prints the summary and exits 0; if
OUTDIR contains a partial build it refuses (remove OUTDIR and retry).

Environment:
  SWTPM_CI_PCR_BANKS   PCR banks to activate (default "sha256"; e.g. "sha1,sha256")
  plus the SWTPM_CI_* port/timeout variables described in lib.sh.

Options:
  -h, --help    show this help
EOF
}

SCI_PROG=make-template.sh
# shellcheck source=lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

case "${1-}" in
    -h | --help) usage; exit 0 ;;
    -*) usage >&2; sci_die "unknown option '$1'" ;;
esac
[ $# -eq 1 ] || { usage >&2; sci_die "expected exactly one argument OUTDIR"; }

sci_need swtpm swtpm_setup swtpm_localca swtpm_ioctl ss openssl xxd cmp \
    tpm2_createprimary tpm2_readpublic tpm2_flushcontext tpm2_nvdefine tpm2_nvwrite \
    tpm2_nvread tpm2_getcap tpm2_shutdown

start_ms=$(($(date +%s%N) / 1000000))
mkdir -p -- "$1" || sci_die "cannot create '$1'"
out=$(sci_abspath "$1")

summary() {
    printf 'swtpm-ci template %s: EK certs NV 0x01c00002 (RSA-2048 L-1), 0x01c0000a (P-256 L-2), 0x01c00016 (P-384 H-3); vendor roots %s; %s\n' \
        "$out" "$out/vendor-roots.pem" "$1"
}

if [ -f "$out/.complete" ]; then
    summary "already complete"
    exit 0
fi
for d in state localca p256ca certs ek .run; do
    [ -e "$out/$d" ] && sci_die "$out/$d exists but $out/.complete does not: partial template; remove $out and retry"
done

run="$out/.run"
mkdir -p "$out/state" "$out/localca" "$out/p256ca" "$out/certs" "$out/ek" "$run"
chmod 700 "$out/localca" "$out/p256ca"
log="$out/make-template.log"
: > "$log"

cleanup() {
    local rc=$?
    if [ -f "$run/swtpm.pid" ]; then
        (sci_stop_swtpm "$run" "$out/state") || true
    fi
    if [ $rc -ne 0 ]; then
        printf '%s: error: template build failed (rc=%s); see %s and %s\n' \
            "$SCI_PROG" "$rc" "$log" "$out/swtpm_setup.log" >&2
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --------------------------------------------------------------------------
# 1. swtpm_setup with a private swtpm_localca CA in OUTDIR/localca
# --------------------------------------------------------------------------
cat > "$out/swtpm-localca.conf" <<EOF
statedir = $out/localca
signingkey = $out/localca/signkey.pem
issuercert = $out/localca/issuercert.pem
certserial = $out/localca/certserial
EOF
cat > "$out/swtpm-localca.options" <<EOF
--platform-manufacturer attestd-test
--platform-version 2.1
--platform-model swtpm-ci
EOF
cat > "$out/swtpm_setup.conf" <<EOF
create_certs_tool = $(command -v swtpm_localca)
create_certs_tool_config = $out/swtpm-localca.conf
create_certs_tool_options = $out/swtpm-localca.options
active_pcr_banks = ${SWTPM_CI_PCR_BANKS:-sha256}
EOF

runas=()
# As root swtpm_setup would otherwise drop to the 'tss' user; keep root so
# no tss account or chown of OUTDIR is needed.
[ "$(id -u)" = 0 ] && runas=(--runas root)

if ! swtpm_setup --tpm2 --config "$out/swtpm_setup.conf" "${runas[@]}" \
        --tpmstate "$out/state" --createek --create-ek-cert --create-platform-cert \
        --pcr-banks "${SWTPM_CI_PCR_BANKS:-sha256}" \
        --write-ek-cert-files "$out/certs" --logfile "$out/swtpm_setup.log" \
        </dev/null >>"$log" 2>&1; then
    sci_die "swtpm_setup failed: $(tail -n 5 "$out/swtpm_setup.log" 2>/dev/null | tr '\n' ' ')"
fi
for f in ek-rsa2048.crt ek-secp384r1.crt; do
    [ -s "$out/certs/$f" ] || sci_die "swtpm_setup did not write $out/certs/$f"
done
for f in swtpm-localca-rootca-cert.pem issuercert.pem; do
    [ -s "$out/localca/$f" ] || sci_die "swtpm_localca did not create $out/localca/$f"
done

# --------------------------------------------------------------------------
# 2. Test P-256 EK CA
# --------------------------------------------------------------------------
openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$out/p256ca/key.pem" -out "$out/p256ca/cert.pem" \
    -subj "/O=attestd-test/CN=attestd test P-256 EK CA" -days 36500 -sha256 \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" >>"$log" 2>&1 ||
    sci_die "openssl failed to create the P-256 test CA (see $log)"

# --------------------------------------------------------------------------
# 3. Start swtpm temporarily, recreate the EKs from their templates
# --------------------------------------------------------------------------
sci_start_swtpm "$out/state" "$run"
export TPM2TOOLS_TCTI="swtpm:host=127.0.0.1,port=$SCI_PORT"

tpm() { # run a tpm2 tool, output to the log, die with a message on failure
    "$@" >>"$log" 2>&1 || sci_die "'$*' failed (see $log)"
}

# Unique fields for tpm2_createprimary -u: tpm2-tools 5.4 copies the file into
# the in-memory TPMU_PUBLIC_ID (host-endian UINT16 size + buffer; for ECC the
# x buffer is 128 bytes before y), so build those layouts explicitly.
le16() { printf '%b' "\\x$(printf %02x $(($1 & 255)))\\x$(printf %02x $(($1 >> 8)))"; }
{ le16 256; head -c 256 /dev/zero; } > "$run/unique-rsa2048"
{ le16 32; head -c 128 /dev/zero; le16 32; head -c 128 /dev/zero; } > "$run/unique-p256"
{ le16 0; head -c 128 /dev/zero; le16 0; head -c 128 /dev/zero; } > "$run/unique-empty-ecc"

POLICY_A_SHA256=837197674484b3f81a90cc8d46a5d724fd52d76e06520b64f2a1da1b331469aa
POLICY_H_SHA384=b26e7d28d11a50bc53d882bcf5fd3a1a074148bb35d3b4e4cb1c0ad9bde419cacb47ba09699646150f9fc000f3f80e12
ATTR_L='fixedtpm|fixedparent|sensitivedataorigin|adminwithpolicy|restricted|decrypt'
ATTR_H='fixedtpm|fixedparent|sensitivedataorigin|userwithauth|adminwithpolicy|restricted|decrypt'

spki_der() { # PEM-or-DER public key / cert -> DER SubjectPublicKeyInfo on stdout
    case "$1" in
        cert:*) openssl x509 -inform der -in "${1#cert:}" -noout -pubkey | openssl pkey -pubin -outform der ;;
        *) openssl pkey -pubin -in "$1" -outform der ;;
    esac
}

# make_ek NAME HALG KALG ATTRS POLICYHEX UNIQUEFILE
make_ek() {
    local name=$1
    xxd -r -p <<<"$5" > "$run/policy-$name"
    tpm tpm2_createprimary -C e -g "$2" -G "$3" -a "$4" -L "$run/policy-$name" -u "$6" \
        -c "$run/$name.ctx" --template-data "$out/ek/$name.template"
    tpm tpm2_readpublic -c "$run/$name.ctx" -f pem -o "$out/ek/$name.pub.pem"
    tpm tpm2_readpublic -c "$run/$name.ctx" -f tss -o "$out/ek/$name.tpm2b_public"
    tpm tpm2_flushcontext -t
}

make_ek rsa2048-L1 sha256 rsa2048:null:aes128cfb "$ATTR_L" "$POLICY_A_SHA256" "$run/unique-rsa2048"
make_ek nistp256-L2 sha256 ecc_nist_p256:null:aes128cfb "$ATTR_L" "$POLICY_A_SHA256" "$run/unique-p256"
make_ek secp384r1-H3 sha384 ecc_nist_p384:null:aes256cfb "$ATTR_H" "$POLICY_H_SHA384" "$run/unique-empty-ecc"

# Persistent EKs created by swtpm_setup
tpm tpm2_getcap handles-persistent
tpm tpm2_readpublic -c 0x81010001 -f tss -o "$run/persist-81010001.tpm2b_public"
tpm tpm2_readpublic -c 0x81010016 -f tss -o "$run/persist-81010016.tpm2b_public"

# --------------------------------------------------------------------------
# 4. P-256 EK certificate (TCG EK credential profile shape), NV 0x01c0000a
# --------------------------------------------------------------------------
# Same TPM identity/spec attributes as swtpm 0.7.1 puts in its EK certs.
# (OpenSSL strips everything up to the first '.' in dirName field names, hence "tcg.")
cat > "$run/ek-p256.cnf" <<'EOF'
[ek]
basicConstraints = critical, CA:FALSE
keyUsage = critical, keyAgreement
extendedKeyUsage = 2.23.133.8.1
subjectAltName = critical, dirName:tpm_dn
# subjectDirectoryAttributes: tcg-at-tpmSpecification family "2.0" level 0 revision 164
2.5.29.9 = DER:3019301706056781050210310E300C0C03322E30020100020200A4
authorityKeyIdentifier = keyid:always
[tpm_dn]
tcg.2.23.133.2.1 = id:00001014
tcg.2.23.133.2.2 = swtpm
tcg.2.23.133.2.3 = id:20191023
EOF
openssl x509 -new -subj "/" -force_pubkey "$out/ek/nistp256-L2.pub.pem" \
    -CA "$out/p256ca/cert.pem" -CAkey "$out/p256ca/key.pem" \
    -set_serial "0x01$(openssl rand -hex 8)" -days 36500 -sha256 \
    -extfile "$run/ek-p256.cnf" -extensions ek \
    -outform der -out "$out/certs/ek-nistp256.crt" >>"$log" 2>&1 ||
    sci_die "openssl failed to issue the P-256 EK certificate (see $log)"

p256size=$(stat -c %s "$out/certs/ek-nistp256.crt")
# Same attributes swtpm 0.7.1 uses for 0x01c00002/0x01c00016 (0x62072001).
tpm tpm2_nvdefine 0x01c0000a -C p -s "$p256size" \
    -a 'ppwrite|writedefine|ppread|ownerread|authread|no_da|platformcreate'
tpm tpm2_nvwrite 0x01c0000a -C p -i "$out/certs/ek-nistp256.crt"

# Read every EK cert back from NV and compare with the files.
nvread_to() { # INDEX FILE
    local size
    size=$(tpm2_nvreadpublic "$1" 2>>"$log" | sed -n 's/^ *size: *//p' | head -n1)
    [ -n "$size" ] || sci_die "NV index $1 is not defined"
    tpm tpm2_nvread "$1" -C o -s "$size" -o "$2"
}
nvread_to 0x01c00002 "$run/nv-01c00002"
nvread_to 0x01c0000a "$run/nv-01c0000a"
nvread_to 0x01c00016 "$run/nv-01c00016"
nvread_to 0x01c08000 "$out/certs/platform-cert.der"
cmp -s "$run/nv-01c00002" "$out/certs/ek-rsa2048.crt" || sci_die "NV 0x01c00002 differs from certs/ek-rsa2048.crt"
cmp -s "$run/nv-01c0000a" "$out/certs/ek-nistp256.crt" || sci_die "NV 0x01c0000a differs from certs/ek-nistp256.crt"
cmp -s "$run/nv-01c00016" "$out/certs/ek-secp384r1.crt" || sci_die "NV 0x01c00016 differs from certs/ek-secp384r1.crt"

# --------------------------------------------------------------------------
# 5. Verify the templates reproduce the certified keys
# --------------------------------------------------------------------------
check() { # LABEL CMD... -> "yes" or die
    if "${@:2}"; then echo yes; else sci_die "verification failed: $1"; fi
}
same_spki() { cmp -s <(spki_der "$1") <(spki_der "$2"); }
r_rsa=$(check "RSA EK template L-1 reproduces cert key" same_spki "$out/ek/rsa2048-L1.pub.pem" "cert:$out/certs/ek-rsa2048.crt")
r_p256=$(check "P-256 EK template L-2 reproduces cert key" same_spki "$out/ek/nistp256-L2.pub.pem" "cert:$out/certs/ek-nistp256.crt")
r_p384=$(check "P-384 EK template H-3 reproduces cert key" same_spki "$out/ek/secp384r1-H3.pub.pem" "cert:$out/certs/ek-secp384r1.crt")
p_rsa=$(check "0x81010001 public area == recreated L-1 object" cmp -s "$run/persist-81010001.tpm2b_public" "$out/ek/rsa2048-L1.tpm2b_public")
p_p384=$(check "0x81010016 public area == recreated H-3 object" cmp -s "$run/persist-81010016.tpm2b_public" "$out/ek/secp384r1-H3.tpm2b_public")

hexof() { xxd -p "$1" | tr -d '\n'; }
name_of() { tpm2_readpublic -c "$1" 2>>"$log" | sed -n 's/^name: *//p' | head -n1; }

cat > "$out/ek-templates.txt" <<EOF
# EK public-area templates of this swtpm $(swtpm --version 2>&1 | sed -n 's/.*version \([0-9.]*\).*/\1/p') template state
# (generated by swtpm-ci/make-template.sh on $(date -u +%Y-%m-%dT%H:%M:%SZ)).
# template_hex is the marshalled TPMT_PUBLIC (big-endian, as sent in
# TPM2_CreatePrimary(TPM_RH_ENDORSEMENT)). "reproduces_cert_key = yes" means
# CreatePrimary with exactly this template yielded the public key in the cert.
# TCG names refer to the TCG EK Credential Profile (L-1/L-2 low range,
# H-3 high range template).

[rsa2048]
tcg_template        = L-1 (RSA 2048)
created_by          = swtpm_setup --createek
persistent_handle   = 0x81010001
cert_nv_index       = 0x01c00002
type                = TPM_ALG_RSA (0x0001)
nameAlg             = TPM_ALG_SHA256 (0x000b)
objectAttributes    = 0x000300b2 (fixedTPM|fixedParent|sensitiveDataOrigin|adminWithPolicy|restricted|decrypt)
authPolicy          = $POLICY_A_SHA256 (PolicySecret(TPM_RH_ENDORSEMENT), SHA-256)
symmetric           = TPM_ALG_AES 128 TPM_ALG_CFB
scheme              = TPM_ALG_NULL
keyBits             = 2048
exponent            = 0 (i.e. 65537)
unique              = 256 zero bytes (size 256)
template_hex        = $(hexof "$out/ek/rsa2048-L1.template")
name                = $(name_of 0x81010001)
reproduces_cert_key = $r_rsa
persistent_object_identical_to_recreated = $p_rsa

[nistp256]
tcg_template        = L-2 (ECC NIST P-256)
created_by          = swtpm-ci/make-template.sh (not persisted; recreate with CreatePrimary)
persistent_handle   = none
cert_nv_index       = 0x01c0000a (cert issued by p256ca/cert.pem, EC P-256 CA, ecdsa-with-SHA256)
type                = TPM_ALG_ECC (0x0023)
nameAlg             = TPM_ALG_SHA256 (0x000b)
objectAttributes    = 0x000300b2 (fixedTPM|fixedParent|sensitiveDataOrigin|adminWithPolicy|restricted|decrypt)
authPolicy          = $POLICY_A_SHA256 (PolicySecret(TPM_RH_ENDORSEMENT), SHA-256)
symmetric           = TPM_ALG_AES 128 TPM_ALG_CFB
scheme              = TPM_ALG_NULL
curveID             = TPM_ECC_NIST_P256 (0x0003)
kdf                 = TPM_ALG_NULL
unique              = x: 32 zero bytes, y: 32 zero bytes
template_hex        = $(hexof "$out/ek/nistp256-L2.template")
reproduces_cert_key = $r_p256

[secp384r1]
tcg_template        = H-3 (ECC NIST P-384, high range) -- NOT a low-range L-template
created_by          = swtpm_setup --createek
persistent_handle   = 0x81010016
cert_nv_index       = 0x01c00016
type                = TPM_ALG_ECC (0x0023)
nameAlg             = TPM_ALG_SHA384 (0x000c)
objectAttributes    = 0x000300f2 (fixedTPM|fixedParent|sensitiveDataOrigin|userWithAuth|adminWithPolicy|restricted|decrypt)
authPolicy          = $POLICY_H_SHA384 (TCG EK profile high-range "PolicyB" SHA-384 digest, as used by the H-templates)
symmetric           = TPM_ALG_AES 256 TPM_ALG_CFB
scheme              = TPM_ALG_NULL
curveID             = TPM_ECC_NIST_P384 (0x0004)
kdf                 = TPM_ALG_NULL
unique              = x: empty (size 0), y: empty (size 0)
template_hex        = $(hexof "$out/ek/secp384r1-H3.template")
name                = $(name_of 0x81010016)
reproduces_cert_key = $r_p384
persistent_object_identical_to_recreated = $p_p384
EOF

# --------------------------------------------------------------------------
# 6. Clean TPM shutdown, stop, and check the state restarts
# --------------------------------------------------------------------------
tpm tpm2_shutdown
swtpm_ioctl --tcp "127.0.0.1:$((SCI_PORT + 1))" -s >>"$log" 2>&1 || sci_warn "swtpm_ioctl -s failed; falling back to SIGTERM"
sci_stop_swtpm "$run" "$out/state"

sci_start_swtpm "$out/state" "$run"
export TPM2TOOLS_TCTI="swtpm:host=127.0.0.1,port=$SCI_PORT"
handles=$(tpm2_getcap handles-nv-index 2>>"$log" | tr -d ' -' | tr 'A-F\n' 'a-f ')
for idx in 0x1c00002 0x1c0000a 0x1c00016; do
    case " $handles " in *" $idx "*) ;; *) sci_die "restart check: NV index $idx missing (have: $handles)" ;; esac
done
swtpm_ioctl --tcp "127.0.0.1:$((SCI_PORT + 1))" -s >>"$log" 2>&1 || true
sci_stop_swtpm "$run" "$out/state"

# --------------------------------------------------------------------------
# 7. Vendor roots, cleanup, completion marker
# --------------------------------------------------------------------------
cat "$out/localca/swtpm-localca-rootca-cert.pem" "$out/localca/issuercert.pem" \
    "$out/p256ca/cert.pem" > "$out/vendor-roots.pem"
for c in ek-rsa2048 ek-nistp256 ek-secp384r1; do
    openssl verify -CAfile "$out/vendor-roots.pem" \
        <(openssl x509 -inform der -in "$out/certs/$c.crt") >>"$log" 2>&1 ||
        sci_die "openssl verify of certs/$c.crt against vendor-roots.pem failed (see $log)"
done

rm -rf -- "$run"
trap - EXIT INT TERM
date -u +%Y-%m-%dT%H:%M:%SZ > "$out/.complete"
ms=$(($(date +%s%N) / 1000000 - start_ms))
summary "built in $((ms / 1000)).$(printf %03d $((ms % 1000)))s"
