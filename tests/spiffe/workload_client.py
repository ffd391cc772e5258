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

Prints one JSON object: {"ok": true, ...} or {"ok": false, "code":
"PERMISSION_DENIED", "details": "..."}.
"""
import json
import os
import sys
import time

sys.path.insert(0, sys.argv[1])

import base64  # noqa: E402

import grpc  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402

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


def main():
    cmd = sys.argv[2]
    stub = workload_pb2_grpc.SpiffeWorkloadAPIStub(channel())
    try:
        if cmd == "x509":
            out = fetch_x509(stub, sys.argv[3], int(sys.argv[4]))
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
