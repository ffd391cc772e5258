#!/bin/sh
# demo.sh - enrol a swtpm-backed host against a fresh fleet CA and walk every
# flow through to the audit log's proofs (make demo).
#
# Everything lives in one temporary directory: the swtpm template and
# instance (tpm/), the fleet CA (ca/), the host's attestd state (state/) and
# the enrolment messages. The swtpm is always stopped on exit; the directory
# is removed unless ATTEST_DEMO_KEEP=1.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
# The installed tree instead of the build tree (tests/install/test-install.sh):
# ATTEST_DEMO_PATH (directories of the tools, put first on PATH) and
# ATTEST_DEMO_EXAMPLES (the directory of agent_client and resource_server).
if [ -n "${ATTEST_DEMO_PATH:-}" ]; then
	PATH=$ATTEST_DEMO_PATH:$PATH
	EXAMPLES=${ATTEST_DEMO_EXAMPLES:?ATTEST_DEMO_EXAMPLES with ATTEST_DEMO_PATH}
	for b in attestctl attest-provision attestd attest-verifier; do
		command -v "$b" >/dev/null || { echo "demo: $b not on $ATTEST_DEMO_PATH" >&2; exit 1; }
	done
else
	for b in attestctl attest-provision attestd attest-verifier; do
		[ -x "$BUILD/$b" ] || { echo "demo: $BUILD/$b missing; run make first" >&2; exit 1; }
	done
	PATH=$BUILD:$PATH
	EXAMPLES=${ATTEST_DEMO_EXAMPLES:-$BUILD/examples}
fi
for b in agent_client resource_server; do
	[ -x "$EXAMPLES/$b" ] || { echo "demo: $EXAMPLES/$b missing; run make first" >&2; exit 1; }
done
export PATH

TD=demo.attestd.test
HOST=web-01
WORK=$(mktemp -d "${TMPDIR:-/tmp}/attestd-demo.XXXXXX")
# An agent may start only with the variables its registration allows
# (docs/agents.md, "Environment"): everything the demo starts gets a fixed
# environment, not the one of the shell or make that ran it.
KEEP=${ATTEST_DEMO_KEEP:-0}
b=$BUILD e=$EXAMPLES
for v in $(env | sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)=.*/\1/p'); do
	case $v in
	PATH | HOME | USER | LOGNAME | SHELL | PWD | OLDPWD | SHLVL | LANG | LANGUAGE | LC_* | TERM | TZ) ;;
	*) unset "$v" 2>/dev/null || true ;;
	esac
done
BUILD=$b EXAMPLES=$e # shell variables from here on, not exported

cleanup() {
	rc=$?
	trap - EXIT INT TERM
	for p in ${NGINX_PID:-} ${RS_PID:-} ${ATTESTD_PID:-} ${VERIFIER_PID:-}; do
		kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true
	done
	if [ -f "$WORK/tpm/swtpm.pid" ]; then
		"$ROOT/swtpm-ci/swtpm-stop.sh" "$WORK/tpm" || echo "demo: could not stop swtpm" >&2
	fi
	if [ "$KEEP" = 1 ]; then
		echo "demo: kept $WORK (swtpm stopped)"
	else
		rm -rf "$WORK"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step() { printf '\n== %s\n' "$*"; }
# Agents start without the demo's own variables (ATTEST_TCTI, the join
# token): attestd allows them only the registered environment.
run() {
	printf '$ %s\n' "$*"
	case $1 in
	agents/*) env -u ATTEST_TCTI -u ATTEST_JOIN_TOKEN "$@" ;;
	*) "$@" ;;
	esac
}

cd "$WORK"
DAY0=$(date -u +%F) # the report of step 28 covers the demo's days

step "0. software TPM: swtpm with EK certificates (swtpm-ci)"
if ! "$ROOT/swtpm-ci/make-template.sh" tmpl >template.log 2>&1; then
	cat template.log >&2
	exit 1
fi
ATTEST_TCTI=$("$ROOT/swtpm-ci/swtpm-start.sh" tmpl tpm)
export ATTEST_TCTI
echo "ATTEST_TCTI=$ATTEST_TCTI"
run attestctl tpm info

step "1. fleet CA: attest-provision init (fleet root + online issuing CA)"
run attest-provision init --dir ca --trust-domain "$TD" --vendor-roots tmpl/vendor-roots.pem
echo "--- the fleet root goes offline: from here on only the issuing CA signs"
mkdir -p offline && chmod 700 offline
run mv ca/root.key offline/root.key

step "2. operator: single-use join token for $HOST"
printf '$ attest-provision token --dir ca --host %s --operator demo\n' "$HOST"
TOKEN=$(attest-provision token --dir ca --host "$HOST" --operator demo)
echo "$TOKEN"

step "3. host: attestctl host enroll (EK, AK, host issuing key -> request)"
# the token travels in the environment, not on a command line others can read
export ATTEST_JOIN_TOKEN="$TOKEN"
run attestctl host enroll --state state --host "$HOST" --out request.json

step "4. fleet CA: attest-provision enrol-request (EK chain, AK, token -> challenge)"
run attest-provision enrol-request --dir ca --in request.json --out challenge.json

step "5. host: attestctl host enroll --answer (ActivateCredential, CertifyCreation, quote)"
run attestctl host enroll --state state --answer challenge.json --out response.json

step "6. fleet CA: attest-provision enrol-response (evidence -> host CA certificate)"
run attest-provision enrol-response --dir ca --in response.json --out result.json

step "7. host: attestctl host enroll --finish (pinned fleet root)"
run attestctl host enroll --state state --finish result.json --root ca/root.pem

step "8. host: attestctl host show"
run attestctl host show --state state

step "9. relying party: verify the host CA certificate against the fleet root (through the issuing CA)"
run openssl verify -CAfile ca/root.pem -untrusted state/issuing-ca.pem state/host-ca.pem
for c in ca/root.pem state/issuing-ca.pem state/host-ca.pem; do
	echo "--- $c"
	openssl x509 -in "$c" -noout -subject -issuer \
		-ext basicConstraints,keyUsage,subjectAltName,nameConstraints
done
echo "--- EK the CA bound to $HOST (allowlist form):"
run attest-provision ek-hash --cert tmpl/certs/ek-nistp256.crt
printf '$ ls ca/eks\n'
ls ca/eks

# expect_refusal CMD...: run a command that must be refused (exit 1).
expect_refusal() {
	rc=0
	run "$@" || rc=$?
	if [ "$rc" -ne 1 ]; then
		echo "demo: FAILED: expected a refusal (exit 1), got exit $rc" >&2
		exit 1
	fi
	echo "refused as expected"
}

step "10. refusal: the same join token replayed for a second enrolment"
run attestctl host enroll --state state2 --host "$HOST" --out request2.json
expect_refusal attest-provision enrol-request --dir ca --in request2.json --out challenge2.json

step "11. renewal: a fresh quote of the reference boot PCRs earns a new host CA certificate"
run attest-provision renew-challenge --dir ca --host "$HOST" --out renew.json
run attestctl host renew --state state --answer renew.json --out renew-response.json
run attest-provision renew-response --dir ca --in renew-response.json --out renewed.json
run attestctl host renew --state state --finish renewed.json
run openssl verify -CAfile ca/root.pem -untrusted state/issuing-ca.pem state/host-ca.pem
echo "--- the replayed renewal answer:"
expect_refusal attest-provision renew-response --dir ca --in renew-response.json --out x.json
echo "--- rotate the issuing CA: refused while the root is offline, done with it brought back"
expect_refusal attest-provision issuing-ca rotate --dir ca
cp state/host-ca.pem old-host-ca.pem
cp state/issuing-ca.pem old-issuing-ca.pem
run attest-provision issuing-ca rotate --dir ca --root-key offline/root.key --days 30
echo "--- the host CA the old issuing CA signed stays valid; the next renewal gets the new one"
run openssl verify -CAfile ca/root.pem -untrusted old-issuing-ca.pem old-host-ca.pem
run attest-provision renew-challenge --dir ca --host "$HOST" --out renew.json
run attestctl host renew --state state --answer renew.json --out renew-response.json
run attest-provision renew-response --dir ca --in renew-response.json --out renewed.json
run attestctl host renew --state state --finish renewed.json
run openssl verify -CAfile ca/root.pem -untrusted state/issuing-ca.pem state/host-ca.pem
openssl x509 -in state/host-ca.pem -noout -issuer

step "12. refusal: the host boots something else (PCR 0 extended), renewal is denied"
run tpm2_pcrextend -T "$ATTEST_TCTI" 0:sha256=$(printf 'evil bootloader' | sha256sum | cut -d' ' -f1)
run attest-provision renew-challenge --dir ca --host "$HOST" --out renew2.json
run attestctl host renew --state state --answer renew2.json --out renew2-response.json
expect_refusal attest-provision renew-response --dir ca --in renew2-response.json --out x.json

step "13. attestd: the host daemon takes the TPM (agent and admin sockets)"
# an EHR is a trusted intent issuer (step 17): attestd reads its public key
# from STATE/intent-issuers/ at start
openssl ecparam -name prime256v1 -genkey -noout -out ehr-issuer.key 2>/dev/null
openssl pkey -in ehr-issuer.key -pubout -out ehr.pem
mkdir -p state/intent-issuers
cp ehr.pem state/intent-issuers/ehr.pem
echo "trusted intent issuer: state/intent-issuers/ehr.pem (the EHR's public key)"
attestd --state state --socket "$WORK/attestd.sock" --admin-socket "$WORK/admin.sock" \
	2>attestd.log &
ATTESTD_PID=$!
i=0
while [ ! -S "$WORK/admin.sock" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ -S "$WORK/admin.sock" ] || { cat attestd.log >&2; echo "demo: attestd did not start" >&2; exit 1; }
# the agent socket is served by an unprivileged front (docs/privsep.md)
i=0
while ! grep -q 'seccomp filter on' attestd.log && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
sed -n 's/^[^ ]* attestd\(-front\)\{0,1\}: //p' attestd.log
echo "two processes: the monitor keeps the TPM and the keys, the front parses what agents send"
ps -o pid=,user=,comm= -p "$ATTESTD_PID" --ppid "$ATTESTD_PID" | sed 's/^ */  /'

step "14. operator: register two agents (TPM key bound to each measured binary)"
mkdir -m 0755 agents
cp "$EXAMPLES/agent_client" agents/triage
cp "$EXAMPLES/agent_client" agents/scribe
chmod 0755 agents/triage agents/scribe
ADM="--admin-socket $WORK/admin.sock"
# register NAME ARGS...: show the command, then the key facts of the reply
register() {
	n=$1
	shift
	printf '$ attestctl agent register --name %s %s\n' "$n" "$*"
	# shellcheck disable=SC2086
	attestctl agent register $ADM --name "$n" "$@" | grep -E '"(id|binary_sha256|risk_score|policy_digest)"'
}
register triage --binary agents/triage --uids "$(id -u)" --scopes ehr:read,ehr:annotate \
	--tier high --classes phi --max-ttl 300 --delegate-depth 1
register scribe --binary agents/scribe --uids "$(id -u)" --scopes notes:write,ehr:read \
	--tier medium --classes phi --max-ttl 300
mkdir -m 0700 certs

step "15. agents launch and ask for certificates (strict: the TPM signs; session: a 15-min issuer)"
run agents/triage --agent triage --socket "$WORK/attestd.sock" --mode strict --ttl 120 --out certs/triage
run agents/scribe --agent scribe --socket "$WORK/attestd.sock" --mode session --out certs/scribe
for a in triage scribe; do
	echo "--- chain of $a (leaf first), verified against the fleet root:"
	openssl crl2pkcs7 -nocrl -certfile "certs/$a/cert.pem" | openssl pkcs7 -print_certs -noout |
		sed -n 's/^subject=/  subject: /p'
	openssl x509 -in "certs/$a/cert.pem" -noout -ext subjectAltName | sed -n 's/^ *URI:/  leaf SAN: /p'
	run openssl verify -CAfile ca/root.pem -untrusted "certs/$a/cert.pem" "certs/$a/cert.pem"
done

step "15b. SPIFFE: an unmodified Workload API client gets its X.509-SVID; attestd finds the agent from its measurement"
# examples/spiffe_client: gRPC (nghttp2 + protobuf-c from attestd/workload.proto)
# on the workload socket beside the agent socket; it never names itself
cp "$EXAMPLES/spiffe_client" agents/mesh
chmod 0755 agents/mesh
register mesh --binary agents/mesh --uids "$(id -u)" --scopes ehr:read --tier medium \
	--classes phi --max-ttl 300
mkdir -m 0700 certs/mesh
export SPIFFE_ENDPOINT_SOCKET="unix://$WORK/workload.sock"
echo "SPIFFE_ENDPOINT_SOCKET=$SPIFFE_ENDPOINT_SOCKET"
run agents/mesh --out certs/mesh
unset SPIFFE_ENDPOINT_SOCKET
run openssl verify -CAfile ca/root.pem -untrusted certs/mesh/svid.pem certs/mesh/svid.pem

step "16. refusal: the triage binary is modified on disk; its next launch is refused"
printf 'tampered' >> agents/triage
expect_refusal agents/triage --agent triage --socket "$WORK/attestd.sock" --out certs/triage2
echo "--- attestd's log says why:"
sed -n 's/^[^ ]* attestd: //p' attestd.log | grep refused | tail -n 1

step "17. intent: an EHR (trusted intent issuer) grants triage the user's intent (purpose TREATMENT, ehr:read on ehr:patient/123/*)"
# put the registered triage binary back (step 16 tampered with it)
cp "$EXAMPLES/agent_client" agents/triage
TRIAGE_ID=spiffe://$TD/host/$HOST/agent/triage
SCRIBE_ID=spiffe://$TD/host/$HOST/agent/scribe
printf '$ attestctl intent issue --key ehr-issuer.key --issuer ehr --user dr.alice@hospital.example --aud %s ... > grant.jws\n' "$TRIAGE_ID"
attestctl intent issue --key ehr-issuer.key --issuer ehr --user dr.alice@hospital.example \
	--aud "$TRIAGE_ID" --purpose TREATMENT --text "follow-up visit" \
	--scopes ehr:read,ehr:annotate --resources 'ehr:patient/123/*' --ttl 600 --max-depth 1 \
	--jti task-4711 >grant.jws
echo "grant.jws: $(wc -c <grant.jws) bytes, JWS ES256 signed by the EHR"
echo "--- triage presents the grant; its leaf carries it:"
run agents/triage --agent triage --socket "$WORK/attestd.sock" --ttl 300 --intent grant.jws \
	--out certs/triage-intent
echo "--- triage delegates to scribe with narrower scopes and resources:"
printf '$ attestctl intent delegate --key certs/triage-intent/key.pem --chain certs/triage-intent/cert.pem --parent grant.jws --aud %s --scopes ehr:read --resources %s --ttl 120 > delegation.jws\n' "$SCRIBE_ID" "'ehr:patient/123/notes/*'"
attestctl intent delegate --key certs/triage-intent/key.pem --chain certs/triage-intent/cert.pem \
	--parent grant.jws --aud "$SCRIBE_ID" --scopes ehr:read --resources 'ehr:patient/123/notes/*' \
	--ttl 120 >delegation.jws
echo "delegation.jws: $(wc -c <delegation.jws) bytes, signed with triage's leaf key (x5c: triage's chain)"
echo "--- scribe presents the delegation; its leaf embeds the whole chain:"
run agents/scribe --agent scribe --socket "$WORK/attestd.sock" --intent delegation.jws \
	--out certs/scribe-intent
run openssl verify -CAfile ca/root.pem -untrusted certs/scribe-intent/cert.pem certs/scribe-intent/cert.pem
echo "--- the chain in scribe's leaf, verified offline (fleet root + the EHR's key):"
run attestctl cert show --in certs/scribe-intent/cert.pem --root ca/root.pem --issuer ehr=ehr.pem
echo "--- the same delegation presented again (its nonce is single-use):"
expect_refusal agents/scribe --agent scribe --socket "$WORK/attestd.sock" --intent delegation.jws \
	--out certs/scribe-intent2

step "18. refusal: a delegation that widens the scopes (ehr:write was never granted) is refused"
expect_refusal attestctl intent delegate --key certs/triage-intent/key.pem \
	--chain certs/triage-intent/cert.pem --parent grant.jws --aud "$SCRIBE_ID" \
	--scopes ehr:read,ehr:write --resources 'ehr:patient/123/*' --ttl 120

step "19. verifier: attest-verifier with its own TLS CA, callers, the hospital policy, the EHR as intent issuer"
run attest-verifier init --state vs
run attest-verifier caller add --state vs --name ops --role admin --out ops
run attest-verifier caller add --state vs --name ehr-api --role resource --out ehr-api
cp "$ROOT/examples/policy.json" vs/policy.json
cp ehr.pem vs/intent-issuers/ehr.pem
openssl ecparam -name prime256v1 -genkey -noout -out alice.key 2>/dev/null
openssl pkey -in alice.key -pubout -out vs/operators/alice.pem
run attest-verifier policy check vs/policy.json
# Started as root, the verifier's serving process drops to a user of its
# own once its socket, TLS key, store and audit log are open; the signer
# keeps root and the issuing CA key (docs/verifier.md "Key custody"). The
# demo has no attest-verifier user: nobody, who must reach vs/ and ca/.
VUSER=
if [ "$(id -u)" = 0 ]; then
	VUSER="--user nobody"
	chmod 0711 "$WORK"
fi
attest-verifier serve --state vs --ca ca --listen 127.0.0.1:0 --port-file vs.port $VUSER \
	2>verifier.log &
VERIFIER_PID=$!
i=0
while [ ! -s vs.port ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ -s vs.port ] || { cat verifier.log >&2; echo "demo: the verifier did not start" >&2; exit 1; }
VURL=https://127.0.0.1:$(cat vs.port)
ADMIN="--cacert vs/tls/ca.pem --cert ops.pem --key ops.key"
sed -n 's/^[^ ]* attest-verifier: //p' verifier.log

step "20. operator: the boot state after step 12 is approved as a signed reference-value set"
kill "$ATTESTD_PID" && wait "$ATTESTD_PID" 2>/dev/null || true
ATTESTD_PID=
# attestd's audit log as of now (checkpointed at stop), kept for step 27
cp -r state/audit audit-step20
pcrs=$(tpm2_pcrread -T "$ATTEST_TCTI" sha256:0,1,2,3,4,5,6,7 |
	sed -n 's/^ *\([0-7]\) *: 0x\([0-9A-F]*\)$/"\1":"\2"/p' | tr 'A-F' 'a-f' | paste -sd, -)
printf '{"version":"1","name":"fleet-2026-11","pcrs":{%s}}\n' "$pcrs" >set.json
run attest-verifier refset sign --key alice.key --kid alice --in set.json --out set.jws
printf '$ curl %s -H "Content-Type: application/json" -d {"jws":...} %s/v1/refsets\n' "$ADMIN" "$VURL"
# shellcheck disable=SC2086
curl -s $ADMIN -H 'Content-Type: application/json' -d "{\"jws\":\"$(cat set.jws)\"}" "$VURL/v1/refsets"
echo

step "21. attestd pushes quotes (every 2 s) and its agent inventory to the verifier"
attestd --state state --socket "$WORK/attestd.sock" --admin-socket "$WORK/admin.sock" \
	--verifier "$VURL" --verifier-ca vs/tls/ca.pem --push-interval 2 --eventlog none \
	2>>attestd.log &
ATTESTD_PID=$!
i=0
while ! attestctl host attest $ADM >attest.out 2>&1 && [ $i -lt 50 ]; do sleep 0.2; i=$((i + 1)); done
run attestctl host attest $ADM

step "22. the EHR API (example resource server, TLS 1.3 mTLS) asks the verifier for every request: scribe reads a note"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=ehr-api -days 1 \
	-addext subjectAltName=IP:127.0.0.1 -keyout rs.key -out rs.pem 2>/dev/null
"$EXAMPLES/resource_server" --listen 127.0.0.1:0 --port-file rs.port --cert rs.pem --key rs.key \
	--fleet-root ca/root.pem --verifier "$VURL" --verifier-ca vs/tls/ca.pem \
	--caller-cert ehr-api.pem --caller-key ehr-api.key --research-consent 123 2>rs.log &
RS_PID=$!
i=0
while [ ! -s rs.port ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
RSURL=https://127.0.0.1:$(cat rs.port)
# call PATH [CURL ARGS]: the request of the agent whose certificate is in
# $AS (default: scribe with its intent leaf), status and body
AS=certs/scribe-intent
call() {
	p=$1
	shift
	printf '$ curl --cert %s/cert.pem --key ... %s %s%s\n' "$AS" "$*" "$RSURL" "$p"
	curl -s --tlsv1.3 --cacert rs.pem --cert "$AS/cert.pem" \
		--key "$AS/key.pem" -w '\nHTTP %{http_code}\n' "$@" "$RSURL$p"
}
call /records/patient/123/notes/7
echo "--- the verifier's decision, with the whole chain user -> triage -> scribe:"
tail -n 1 rs.log
grep 'decision for' verifier.log | tail -n 1 | sed 's/^[^ ]* attest-verifier: //'
echo "--- outside the intent (patient 456) and outside the policy (a write):"
call /records/patient/456/notes/7
call /records/patient/123/notes/7 -d '{"text":"amended"}'

step "23. research: a study agent reads patient 123's record for a study (purpose RESEARCH, the patient consented)"
cp "$EXAMPLES/agent_client" agents/study
chmod 0755 agents/study
register study --binary agents/study --uids "$(id -u)" --scopes ehr:research --tier low \
	--classes phi --max-ttl 300
STUDY_ID=spiffe://$TD/host/$HOST/agent/study
printf '$ attestctl intent issue --key ehr-issuer.key --issuer ehr --user dr.bob@hospital.example --aud %s --purpose RESEARCH ... > research.jws\n' "$STUDY_ID"
attestctl intent issue --key ehr-issuer.key --issuer ehr --user dr.bob@hospital.example \
	--aud "$STUDY_ID" --purpose RESEARCH --text "diabetes outcomes study, IRB 2026-017" \
	--scopes ehr:research --resources 'ehr:patient/*' --ttl 600 --jti irb-2026-017 \
	>research.jws
run agents/study --agent study --socket "$WORK/attestd.sock" --intent research.jws --out certs/study
# the verifier learns of the new agent from attestd's next inventory report
i=0
# shellcheck disable=SC2086
while ! curl -s $ADMIN "$VURL/v1/agents" | grep -q "$STUDY_ID" && [ $i -lt 50 ]; do
	sleep 0.2
	i=$((i + 1))
done
AS=certs/study
call /records/patient/123/record
AS=certs/scribe-intent
grep 'decision for' verifier.log | tail -n 1 | sed 's/^[^ ]* attest-verifier: //'

step "23b. nginx in front of the EHR API (auth_request -> the verifier's /v1/authz, examples/nginx/attest.conf): nurse reads; an operator revokes nurse: refused by nginx at once, and by attestd after its next push"
NGINX=$(command -v nginx 2>/dev/null || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; } || true)
if [ -n "$NGINX" ]; then
	cp "$BUILD/examples/agent_client" agents/nurse
	chmod 0755 agents/nurse
	register nurse --binary agents/nurse --uids "$(id -u)" --scopes ehr:read --tier low \
		--classes phi --max-ttl 300
	NURSE_ID=spiffe://$TD/host/$HOST/agent/nurse
	attestctl intent issue --key ehr-issuer.key --issuer ehr --user dr.carol@hospital.example \
		--aud "$NURSE_ID" --purpose TREATMENT --text "ward round" --scopes ehr:read \
		--resources 'ehr:patient/123/*' --ttl 600 --jti ward-round-1 >nurse.jws
	run agents/nurse --agent nurse --socket "$WORK/attestd.sock" --mode strict --intent nurse.jws \
		--out certs/nurse
	i=0
	# shellcheck disable=SC2086
	while ! curl -s $ADMIN "$VURL/v1/agents" | grep -q "$NURSE_ID" && [ $i -lt 50 ]; do
		sleep 0.2
		i=$((i + 1))
	done
	freeport() {
		python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
	}
	NGPORT=$(freeport)
	UPPORT=$(freeport)
	mkdir -p nginx/logs nginx/tmp
	cp ca/root.pem nginx/fleet-root.pem
	cp rs.pem nginx/server.pem
	cp rs.key nginx/server.key
	cp ehr-api.pem nginx/caller.pem
	cp ehr-api.key nginx/caller.key
	cp vs/tls/ca.pem nginx/verifier-ca.pem
	# the example as it is, its paths and ports made the demo's
	sed -e "s|/etc/attest/|$WORK/nginx/|g" -e "s|listen 443 ssl;|listen 127.0.0.1:$NGPORT ssl;|" \
		-e "s|verifier.example:8443|127.0.0.1:$(cat vs.port)|" -e 's|verifier.example|localhost|' \
		-e "s|127.0.0.1:8080|127.0.0.1:$UPPORT|" "$ROOT/examples/nginx/attest.conf" >nginx/attest.conf
	{
		echo "daemon off;"
		echo "worker_processes 1;"
		echo "pid $WORK/nginx/nginx.pid;"
		echo "error_log $WORK/nginx/logs/error.log;"
		[ "$(id -u)" -ne 0 ] || echo "user root;"
		echo "events { worker_connections 64; }"
		echo "http {"
		echo "  access_log $WORK/nginx/logs/access.log;"
		for t in client_body proxy fastcgi uwsgi scgi; do
			echo "  ${t}_temp_path $WORK/nginx/tmp/$t;"
		done
		echo "  include $WORK/nginx/attest.conf;"
		echo "  # the EHR API behind it: a stand-in answering a fixed record"
		echo "  server {"
		echo "    listen 127.0.0.1:$UPPORT;"
		echo "    location / { default_type text/plain; return 200 'record of patient 123 for \$http_x_attest_agent (user \$http_x_attest_user, purpose \$http_x_attest_purpose, rule \$http_x_attest_rule)\\n'; }"
		echo "  }"
		echo "}"
	} >nginx/nginx.conf
	"$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/logs/error.log" \
		2>>nginx/logs/error.log &
	NGINX_PID=$!
	i=0
	while ! curl -s -o /dev/null "http://127.0.0.1:$UPPORT/" && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	NGURL=https://127.0.0.1:$NGPORT
	# ngcall PATH WANT: nurse's request through nginx, its status and body
	ngcall() {
		printf '$ curl --cert certs/nurse/cert.pem --key ... %s%s\n' "$NGURL" "$1"
		code=$(curl -s --tlsv1.3 --cacert rs.pem --cert certs/nurse/cert.pem \
			--key certs/nurse/key.pem -o ngcall.body -w '%{http_code}' "$NGURL$1" || true)
		if [ "$code" = 200 ]; then
			sed -n '1p' ngcall.body | cut -c1-200
		else
			echo "(nginx's own $code page: /v1/authz did not allow it)"
		fi
		echo "HTTP $code"
		[ "$code" = "$2" ] || { echo "demo: FAILED: expected HTTP $2" >&2; exit 1; }
	}
	ngcall /records/patient/123/record 200
	echo "--- the operator revokes nurse at the verifier:"
	printf '$ curl %s -d {"agent":"%s","reason":"badge lost"} %s/v1/agents/revoke\n' "$ADMIN" "$NURSE_ID" "$VURL"
	# shellcheck disable=SC2086
	curl -s $ADMIN -H 'Content-Type: application/json' \
		-d "{\"agent\":\"$NURSE_ID\",\"reason\":\"badge lost\"}" "$VURL/v1/agents/revoke"
	echo
	ngcall /records/patient/123/record 403
	echo "--- the revocation reaches attestd with its next push answer: nurse gets no new certificate"
	i=0
	while env -u ATTEST_TCTI -u ATTEST_JOIN_TOKEN agents/nurse --agent nurse \
		--socket "$WORK/attestd.sock" --mode strict --out certs/nurse2 >/dev/null 2>&1 &&
		[ $i -lt 50 ]; do
		sleep 0.2
		i=$((i + 1))
	done
	expect_refusal agents/nurse --agent nurse --socket "$WORK/attestd.sock" --mode strict --out certs/nurse2
	sed -n 's/^[^ ]* attestd: //p' attestd.log | grep 'revoked at the verifier' | tail -n 1
	kill "$NGINX_PID" && wait "$NGINX_PID" 2>/dev/null || true
	NGINX_PID=
else
	echo "(nginx is not installed: make deps installs nginx-light; step skipped)"
fi

step "23c. behaviour detection (docs/detection.md): the study agent reads patient 123's record at its usual pace, then pulls 60 other patients' records in a burst: each decision is scored against its baseline, the burst raises alerts"
# demo-sized windows (2 s; production: 60 s) and the policy's limit on the
# research rule; reloaded like any policy change
python3 - vs/policy.json <<'EOF'
import json, sys
p = json.load(open(sys.argv[1]))
p["detection"] = {"window": 2, "min_windows": 3, "min_events": 10}
for r in p["rules"]:
    if r["name"] == "research-read":
        r["require"]["max_anomaly"] = 0.5
json.dump(p, open(sys.argv[1], "w"), indent=2)
EOF
printf '$ curl %s -X POST %s/v1/policy/reload\n' "$ADMIN" "$VURL"
# shellcheck disable=SC2086
curl -s $ADMIN -H 'Content-Type: application/json' -d '{}' "$VURL/v1/policy/reload"
echo
AS=certs/study
acall() {
	curl -s --tlsv1.3 --cacert rs.pem --cert "$AS/cert.pem" --key "$AS/key.pem" -o /dev/null \
		-w '%{http_code} ' "$RSURL/records/patient/$1/record"
}
echo "--- usual work, 10 s: patient 123's record a few times a second (status of each)"
end=$(($(date +%s) + 10))
while [ "$(date +%s)" -lt "$end" ]; do
	acall 123
	sleep 0.2
done
echo
echo "--- the burst: 60 patients it never read, 6 at a time (403: no consent, and anomalous)"
seq 2001 2060 | xargs -P 6 -I{} curl -s --tlsv1.3 --cacert rs.pem --cert "$AS/cert.pem" \
	--key "$AS/key.pem" -o /dev/null -w '%{http_code} ' "$RSURL/records/patient/{}/record"
echo
AS=certs/scribe-intent

step "24. simulated host compromise: a rootkit extends PCR 4; the next push marks the host untrusted and scribe is denied"
kill "$ATTESTD_PID" && wait "$ATTESTD_PID" 2>/dev/null || true
run tpm2_pcrextend -T "$ATTEST_TCTI" 4:sha256=$(printf 'rootkit' | sha256sum | cut -d' ' -f1)
attestd --state state --socket "$WORK/attestd.sock" --admin-socket "$WORK/admin.sock" \
	--verifier "$VURL" --verifier-ca vs/tls/ca.pem --push-interval 2 --eventlog none \
	2>>attestd.log &
ATTESTD_PID=$!
i=0
while [ ! -S "$WORK/admin.sock" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
sleep 0.5
rc=0
run attestctl host attest $ADM || rc=$?
[ "$rc" -eq 1 ] || { echo "demo: FAILED: the host should be untrusted" >&2; exit 1; }
call /records/patient/123/notes/7
grep 'decision for' verifier.log | tail -n 1 | sed 's/^[^ ]* attest-verifier: //'
echo "--- the operator's view of the fleet:"
# shellcheck disable=SC2086
curl -s $ADMIN "$VURL/v1/hosts"
echo

step "25. audit: attestd stops (a last checkpoint); its log verifies online against the TPM's counter"
kill "$ATTESTD_PID" && wait "$ATTESTD_PID" 2>/dev/null || true
ATTESTD_PID=
sed -n 's/^[^ ]* attestd: //p' attestd.log | grep 'audit checkpoint counter' | tail -n 2
# an auditor takes the AK from the enrolment record; here it comes from the TPM
run attestctl audit ak --out ak.pem
run attestctl audit verify --log state/audit --ak ak.pem --online
echo "--- the delegation of step 17, as recorded:"
run attestctl audit show --log state/audit --type delegate

step "26. tampering: one byte of a certificate record edited in a copy of the log is located"
cp -r state/audit tampered
printf '$ python3 (flip one byte: the first "issue" record becomes "Issue")\n'
python3 - tampered <<'EOF'
import glob, sys
seg = sorted(glob.glob(sys.argv[1] + "/seg-*.log"))[0]
b = bytearray(open(seg, "rb").read())
i = b.index(b'"type":"issue"') + len('"type":"')
b[i] ^= 0x20
open(seg, "wb").write(b)
EOF
expect_refusal attestctl audit verify --log tampered --ak ak.pem

step "27. rollback: the copy kept at step 20 put back: consistent offline, refused online"
run attestctl audit verify --log audit-step20 --ak ak.pem
expect_refusal attestctl audit verify --log audit-step20 --ak ak.pem --online

step "28. accounting of disclosures (45 CFR 164.528) for patient 123, from the verifier's log"
DAY=$(date -u +%F)
run attestctl audit report --accounting --subject 123 --from "$DAY0" --to "$DAY" --log vs/audit
echo "--- with the exempt purposes (treatment: step 22), an access report:"
run attestctl audit report --accounting --subject 123 --from "$DAY0" --to "$DAY" --log vs/audit \
	--include-exempt

step "29. posture and detection (issue 19): the fleet's posture report, and the anomaly alerts of step 23c"
run attest-verifier posture --state vs --format csv
echo "--- the newest anomaly alerts (GET /v1/alerts?limit=2):"
# shellcheck disable=SC2086
curl -s $ADMIN "$VURL/v1/alerts?limit=2" | python3 -m json.tool

step "done: $HOST enrolled, renewed, refused after a boot change; agents got chains; a tampered agent was refused; intent flowed user -> triage -> scribe and a widening was refused; the verifier allowed reads through the EHR API (treatment and research) and through nginx, refused a revoked agent at nginx and at attestd, then denied reads after a simulated compromise; attestd's audit log verified online, an edit was located, a rollback detected, and the research disclosure accounted for"
echo "--- the fleet dashboard (docs/dashboard.md) was served at $VURL/dashboard/ (read-only from this machine without a certificate; from elsewhere: ssh -N -L 8443:$(echo "$VURL" | sed 's|^https://||') <this host>, then https://localhost:8443/dashboard/); it stops with this demo's verifier"
