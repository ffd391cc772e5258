"""workload_client.py - a SPIFFE Workload API client for test_spiffe.

Made only from the SPIFFE side: its messages and stub are generated (by the
test, with grpc_tools, into GENDIR) from attestd/workload.proto, and it
speaks gRPC through python3-grpcio, finding the socket through
SPIFFE_ENDPOINT_SOCKET as any SPIFFE client does. It knows nothing of
attestd's own protocol. Certificates are only split and written (PEM):
the test checks them with openssl (Debian 12's python3-cryptography 38
cannot parse attestd's certificates: its OID parser refuses arcs over 64
bits, and attestd's OIDs are under 2.25.<UUID>).

    python3 -I workload_client.py GENDIR x509 OUTDIR N   the first N
        FetchX509SVID responses; each SVID i written as OUTDIR/i.leaf.pem,
        i.chain.pem (the rest of the chain), i.key.pem, i.bundle.pem
    python3 -I workload_client.py GENDIR bundles OUTDIR  the first
        FetchX509Bundles response, OUTDIR/bundle.<n>.pem per trust domain
    python3 -I workload_client.py GENDIR nometa          FetchX509SVID
        without the workload.spiffe.io metadata
    python3 -I workload_client.py GENDIR jwt OUTDIR AUD...  FetchJWTSVID
        for the audiences; the token checked against the first
        FetchJWTBundles response here (ES256 over the JWK of its kid) and
        through ValidateJWTSVID for the first audience, for an audience it
        was not made for, and tampered with; the JWT bundle key's x5c
        written as OUTDIR/x5c.<i>.pem

    python3 -I workload_client.py GENDIR federation OUTDIR TD  a
        FetchX509Bundles and a FetchX509SVID stream held open; OUTDIR/ready
        once each gave its first response (without spiffe://TD); then
        spiffe://TD awaited on both (X509BundlesResponse.bundles,
        X509SVIDResponse.federated_bundles), its bundle written as
        OUTDIR/fed.pem and OUTDIR/seen made; then awaited gone from the
        FetchX509Bundles stream

Prints one JSON object: {"ok": true, ...} or {"ok": false, "code":
"PERMISSION_DENIED", "details": "..."}.
"""
import json
import os
import sys
import time

sys.path.insert(0, sys.argv[1])

import base64  # noqa: E402
import hashlib  # noqa: E402

import grpc  # noqa: E402
from cryptography.exceptions import InvalidSignature  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.utils import \
    encode_dss_signature  # noqa: E402
from google.protobuf.json_format import MessageToDict  # noqa: E402

import workload_pb2  # noqa: E402
import workload_pb2_grpc  # noqa: E402

META = (("workload.spiffe.io", "true"),)
DEADLINE = 60


def split_der(blob):
    """Concatenated DER certificates -> a list of each one's DER."""
    out, off = [], 0
    while off < len(blob):
        if blob[off] != 0x30 or off + 2 > len(blob):
            raise ValueError("not a DER SEQUENCE at %d" % off)
        first = blob[off + 1]
        if first < 0x80:
            hdr, n = 2, first
        else:
            k = first & 0x7F
            hdr, n = 2 + k, int.from_bytes(blob[off + 2:off + 2 + k], "big")
        if off + hdr + n > len(blob):
            raise ValueError("certificate at %d runs past the end" % off)
        out.append(blob[off:off + hdr + n])
        off += hdr + n
    return out


def pem(certs):
    out = b""
    for der in certs:
        b64 = base64.b64encode(der)
        out += b"-----BEGIN CERTIFICATE-----\n"
        out += b"".join(b64[i:i + 64] + b"\n" for i in range(0, len(b64), 64))
        out += b"-----END CERTIFICATE-----\n"
    return out


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def channel():
    target = os.environ["SPIFFE_ENDPOINT_SOCKET"]
    if not target.startswith("unix:"):
        raise SystemExit("SPIFFE_ENDPOINT_SOCKET is not a unix: address")
    return grpc.insecure_channel(target)


def fetch_x509(stub, outdir, n):
    got = []
    stream = stub.FetchX509SVID(workload_pb2.X509SVIDRequest(), metadata=META,
                                timeout=DEADLINE)
    for resp in stream:
        now = time.time()
        for svid in resp.svids:
            i = len(got)
            chain = split_der(svid.x509_svid)
            leaf = chain[0]
            key = serialization.load_der_private_key(svid.x509_svid_key, None)
            bundle = split_der(svid.bundle)
            write(os.path.join(outdir, "%d.leaf.pem" % i), pem([leaf]))
            write(os.path.join(outdir, "%d.chain.pem" % i), pem(chain[1:]))
            write(os.path.join(outdir, "%d.bundle.pem" % i), pem(bundle))
            write(os.path.join(outdir, "%d.key.pem" % i), key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption()))
            got.append({
                "spiffe_id": svid.spiffe_id,
                "received": now,
                "chain_len": len(chain),
                "bundle_len": len(bundle),
            })
        if len(got) >= n:
            stream.cancel()
            break
    return {"ok": True, "svids": got}


def fetch_bundles(stub, outdir):
    stream = stub.FetchX509Bundles(workload_pb2.X509BundlesRequest(),
                                   metadata=META, timeout=DEADLINE)
    resp = next(iter(stream))
    stream.cancel()
    names = sorted(resp.bundles)
    for i, td in enumerate(names):
        write(os.path.join(outdir, "bundle.%d.pem" % i),
              pem(split_der(resp.bundles[td])))
    return {"ok": True, "trust_domains": names}


def b64url(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def rpc_code(fn):
    try:
        fn()
        return "OK"
    except grpc.RpcError as e:
        return e.code().name + ": " + (e.details() or "")


def fetch_jwt(stub, outdir, auds):
    resp = stub.FetchJWTSVID(workload_pb2.JWTSVIDRequest(audience=auds),
                             metadata=META, timeout=DEADLINE)
    svid = resp.svids[0]
    token = svid.svid
    h, p, s = token.split(".")
    header, payload = json.loads(b64url(h)), json.loads(b64url(p))
    # the JWT bundle, and the signature checked here against it
    stream = stub.FetchJWTBundles(workload_pb2.JWTBundlesRequest(),
                                  metadata=META, timeout=DEADLINE)
    bundles = next(iter(stream))
    stream.cancel()
    td = sorted(bundles.bundles)
    jwks = json.loads(bundles.bundles[td[0]])
    key = [k for k in jwks["keys"] if k["kid"] == header["kid"]][0]
    pub = ec.EllipticCurvePublicNumbers(
        int.from_bytes(b64url(key["x"]), "big"),
        int.from_bytes(b64url(key["y"]), "big"), ec.SECP256R1()).public_key()
    raw = b64url(s)
    try:
        pub.verify(encode_dss_signature(int.from_bytes(raw[:32], "big"),
                                        int.from_bytes(raw[32:], "big")),
                   (h + "." + p).encode(), ec.ECDSA(hashes.SHA256()))
        sig_ok = True
    except InvalidSignature:
        sig_ok = False
    canon = json.dumps({"crv": key["crv"], "kty": key["kty"], "x": key["x"],
                        "y": key["y"]}, separators=(",", ":"), sort_keys=True)
    thumb = base64.urlsafe_b64encode(
        hashlib.sha256(canon.encode()).digest()).rstrip(b"=").decode()
    for i, der in enumerate(key.get("x5c", [])):
        write(os.path.join(outdir, "x5c.%d.pem" % i), pem([base64.b64decode(der)]))
    valid = stub.ValidateJWTSVID(
        workload_pb2.ValidateJWTSVIDRequest(audience=auds[0], svid=token),
        metadata=META, timeout=DEADLINE)
    tampered = h + "." + base64.urlsafe_b64encode(json.dumps(
        dict(payload, sub=payload["sub"] + "x")).encode()).rstrip(b"=").decode() + "." + s
    return {
        "ok": True, "spiffe_id": svid.spiffe_id, "header": header, "token": token,
        "payload": payload, "sig_ok": sig_ok, "kid_is_thumbprint": thumb == header["kid"],
        "trust_domains": td, "jwks": jwks,
        "validated": {"spiffe_id": valid.spiffe_id,
                      "claims": MessageToDict(valid.claims)},
        "wrong_audience": rpc_code(lambda: stub.ValidateJWTSVID(
            workload_pb2.ValidateJWTSVIDRequest(audience="not-" + auds[0], svid=token),
            metadata=META, timeout=DEADLINE)),
        "tampered": rpc_code(lambda: stub.ValidateJWTSVID(
            workload_pb2.ValidateJWTSVIDRequest(audience=auds[0], svid=tampered),
            metadata=META, timeout=DEADLINE)),
        "no_audience": rpc_code(lambda: stub.FetchJWTSVID(
            workload_pb2.JWTSVIDRequest(), metadata=META, timeout=DEADLINE)),
    }


def wait_for(path_or_fn, deadline):
    while time.time() < deadline:
        if path_or_fn():
            return True
        time.sleep(0.05)
    return False


def federation(stub, outdir, td):
    import threading
    key = "spiffe://" + td
    events = {"bundles": [], "svid": []}
    errors = []
    lock = threading.Lock()
    deadline = time.time() + DEADLINE

    def watch(name, call, req, field):
        try:
            stream = call(req, metadata=META, timeout=DEADLINE)
            streams.append(stream)
            for resp in stream:
                with lock:
                    events[name].append(dict(getattr(resp, field)))
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.CANCELLED:
                errors.append(name + ": " + e.code().name + ": " + (e.details() or ""))

    streams = []
    threads = [
        threading.Thread(target=watch, daemon=True, args=(
            "bundles", stub.FetchX509Bundles, workload_pb2.X509BundlesRequest(), "bundles")),
        threading.Thread(target=watch, daemon=True, args=(
            "svid", stub.FetchX509SVID, workload_pb2.X509SVIDRequest(), "federated_bundles")),
    ]
    for t in threads:
        t.start()

    def has(name, want):
        with lock:
            return any((key in e) == want for e in events[name][-1:]) and \
                len(events[name]) > 0

    out = {"ok": False}
    if not wait_for(lambda: events["bundles"] and events["svid"] or errors, deadline) \
            or errors:
        out.update(code="FIRST", details="; ".join(errors) or "no first responses")
        return out
    out["first_had_td"] = key in events["bundles"][0] or key in events["svid"][0]
    write(os.path.join(outdir, "ready"), b"")
    if not wait_for(lambda: has("bundles", True) and has("svid", True) or errors,
                    deadline) or errors:
        out.update(code="APPEAR", details="; ".join(errors) or "never appeared")
        return out
    with lock:
        write(os.path.join(outdir, "fed.pem"),
              pem(split_der(events["bundles"][-1][key])))
        out["svid_fed_equal"] = events["svid"][-1][key] == events["bundles"][-1][key]
        out["bundle_tds"] = sorted(events["bundles"][-1])
    write(os.path.join(outdir, "seen"), b"")
    if not wait_for(lambda: has("bundles", False) or errors, deadline) or errors:
        out.update(code="REMOVE", details="; ".join(errors) or "never removed")
        return out
    for st in streams:
        st.cancel()
    out.update(ok=True, responses=len(events["bundles"]))
    return out


def main():
    cmd = sys.argv[2]
    stub = workload_pb2_grpc.SpiffeWorkloadAPIStub(channel())
    try:
        if cmd == "x509":
            out = fetch_x509(stub, sys.argv[3], int(sys.argv[4]))
        elif cmd == "jwt":
            out = fetch_jwt(stub, sys.argv[3], sys.argv[4:])
        elif cmd == "federation":
            out = federation(stub, sys.argv[3], sys.argv[4])
        elif cmd == "bundles":
            out = fetch_bundles(stub, sys.argv[3])
        elif cmd == "nometa":
            stream = stub.FetchX509SVID(workload_pb2.X509SVIDRequest(),
                                        timeout=DEADLINE)
            next(iter(stream))
            out = {"ok": True}
        else:
            raise SystemExit("unknown command " + cmd)
    except grpc.RpcError as e:
        out = {"ok": False, "code": e.code().name, "details": e.details()}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
