#!/usr/bin/env python3
"""agent_client.py - an agent that gets its certificate from attestd using
the Python standard library only (socket, json, struct); docs/agents.md,
"Getting a certificate in Python".

    python3 /opt/agents/agent_client.py --agent NAME [--socket PATH]
        [--mode strict|session] [--ttl SECONDS] [--out DIR] [--renew]

attestd measures the running process: the interpreter binary (register it
as --binary, e.g. /usr/bin/python3.11 after realpath) and this script
(--script, a root-owned file nobody else can write, run by its registered
absolute path as the interpreter's first argument). PYTHON* variables in
the environment are refused, as are LD_PRELOAD, LD_AUDIT, LD_LIBRARY_PATH.

Writes DIR/cert.pem (leaf first, then its issuers up to but not including
the fleet root) and DIR/key.pem (the leaf's private key), both 0600, in a
0700 directory. With --renew it asks again whenever a third of the
certificate's lifetime is left.
"""
import argparse
import calendar
import json
import os
import socket
import ssl
import struct
import sys
import time

DEFAULT_SOCKET = "/run/attestd/attestd.sock"
MAX_FRAME = 64 * 1024  # frames are 1..65536 bytes of JSON after the length


class Refused(Exception):
    """attestd answered {"ok": false, ...}."""

    def __init__(self, reply):
        self.reply = reply
        super().__init__("%s [%s]: %s" % (reply.get("reason", "refused"),
                                          reply.get("error", "?"),
                                          reply.get("detail", "")))


def recv_exact(sock, n):
    """Read exactly n bytes: recv() may return fewer than asked for."""
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("attestd closed the connection mid-frame")
        buf += chunk
    return bytes(buf)


def call(socket_path, request, timeout=30.0):
    """Send one request frame and return the reply object."""
    body = json.dumps(request, separators=(",", ":")).encode("utf-8")
    if not 1 <= len(body) <= MAX_FRAME:
        raise ValueError("request of %d bytes does not fit a frame" % len(body))
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(socket_path)
        s.sendall(struct.pack(">I", len(body)) + body)  # 4-byte big-endian length
        (n,) = struct.unpack(">I", recv_exact(s, 4))
        if not 1 <= n <= MAX_FRAME:
            raise ValueError("reply frame of %d bytes" % n)
        reply = json.loads(recv_exact(s, n).decode("utf-8"))
    if not isinstance(reply, dict):
        raise ValueError("reply is not a JSON object")
    if reply.get("ok") is not True:
        raise Refused(reply)
    return reply


def issue(socket_path, agent, mode=None, ttl=None, scopes=None, task_id=None):
    req = {"op": "issue", "agent": agent}
    if mode:
        req["mode"] = mode
    if ttl:
        req["ttl"] = ttl
    if scopes:
        req["scopes"] = scopes
    if task_id:
        req["task_id"] = task_id
    return call(socket_path, req)


def der_item(der, i):
    """(tag, start of value, end of value) of the DER item at offset i."""
    tag, length = der[i], der[i + 1]
    i += 2
    if length & 0x80:
        nbytes = length & 0x7F
        length = int.from_bytes(der[i:i + nbytes], "big")
        i += nbytes
    return tag, i, i + length


def not_after(chain_pem):
    """notAfter of the first certificate (the leaf), as a Unix time."""
    first = chain_pem[:chain_pem.index("-----END CERTIFICATE-----") + 25]
    der = ssl.PEM_cert_to_DER_cert(first)
    _, i, _ = der_item(der, 0)        # Certificate
    _, i, _ = der_item(der, i)        # TBSCertificate
    tag, _, end = der_item(der, i)
    if tag == 0xA0:                   # [0] version
        i = end
    for _ in range(3):                # serialNumber, signature, issuer
        i = der_item(der, i)[2]
    _, i, _ = der_item(der, i)        # validity
    i = der_item(der, i)[2]           # skip notBefore
    tag, start, end = der_item(der, i)
    text = der[start:end].decode("ascii")
    if tag == 0x17:                   # UTCTime YYMMDDHHMMSSZ
        year = int(text[:2])
        text = ("19" if year >= 50 else "20") + text
    return calendar.timegm(time.strptime(text, "%Y%m%d%H%M%SZ"))


def write_private(directory, name, data):
    """Write a 0600 file crash-safely: temp file, fsync, rename."""
    path = os.path.join(directory, name)
    tmp = "%s.tmp.%d" % (path, os.getpid())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def main():
    ap = argparse.ArgumentParser(description="get a certificate from attestd")
    ap.add_argument("--agent", required=True, help="registered agent name")
    ap.add_argument("--socket", default=DEFAULT_SOCKET, help="attestd agent socket")
    ap.add_argument("--mode", choices=("strict", "session"), help="issuance mode")
    ap.add_argument("--ttl", type=int, help="lifetime in seconds (default: the agent's maximum)")
    ap.add_argument("--out", default=".", help="directory for cert.pem and key.pem")
    ap.add_argument("--renew", action="store_true", help="keep renewing before notAfter")
    args = ap.parse_args()

    os.makedirs(args.out, mode=0o700, exist_ok=True)
    while True:
        try:
            reply = issue(args.socket, args.agent, args.mode, args.ttl)
        except Refused as e:
            print("agent_client.py: %s" % e, file=sys.stderr)
            return 1
        except (OSError, ValueError) as e:
            print("agent_client.py: %s" % e, file=sys.stderr)
            return 1
        if "key" not in reply:
            print("agent_client.py: reply without a key", file=sys.stderr)
            return 1
        write_private(args.out, "key.pem", reply["key"])
        write_private(args.out, "cert.pem", reply["chain"])
        left = not_after(reply["chain"]) - time.time()
        print("%s: %s/cert.pem and %s/key.pem, valid %d s more"
              % (reply["id"], args.out, args.out, left), flush=True)
        if not args.renew:
            return 0
        time.sleep(max(1.0, left - left / 3))  # renew with a third left


if __name__ == "__main__":
    sys.exit(main())
