#!/usr/bin/env python3
"""Certificate reload on SIGHUP: a bad certificate is refused and the old one kept (the log says
why), a good one is taken for new connections, and open sessions stay through all of it.

Bad cases, each followed by SIGHUP: cert.pem that is not a certificate; a valid new certificate
with the old key (mismatched); the old certificate with a new key (mismatched); cert.pem missing.
After each one, a new TLS connection must still verify against a saved copy of the original
cert.pem and be served exactly that certificate (SHA-256 compared), on the protocol port and the
HTTP port. Then a valid new pair made with openssl (SAN localhost and 127.0.0.1) and SIGHUP: new
connections are served the new certificate, verify against the new cert.pem, and no longer
against the old one. Sessions opened at the start still answer and still see each other's events.
"""
import hashlib
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "lib"))
import huddle as H  # noqa: E402


def served_sha256(port: int) -> str:
    """SHA-256 of the certificate a new TLS connection is served, without verifying it."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            return hashlib.sha256(tls.getpeercert(binary_form=True)).hexdigest()


def verifies(port: int, cafile: str) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with H.tls_context(cafile).wrap_socket(raw, server_hostname="127.0.0.1"):
                return True
    except ssl.SSLCertVerificationError:
        return False


def make_pair(folder: Path, name: str) -> tuple[Path, Path]:
    cert, key = folder / f"{name}-cert.pem", folder / f"{name}-key.pem"
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "30", "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"], capture_output=True, text=True)
    H.check(r.returncode == 0, f"openssl failed: {r.stderr}")
    return cert, key


def install(src: Path | None, dst: Path, text: str | None = None):
    """Replaces dst atomically (rename), as an operator's deploy tool would."""
    tmp = dst.with_suffix(".tmp")
    if src is not None:
        shutil.copyfile(src, tmp)
    else:
        tmp.write_text(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, dst)


def colon_hex(hexdigest: str) -> str:
    return ":".join(hexdigest[i:i + 2] for i in range(0, len(hexdigest), 2)).upper()


class Sessions:
    """The sessions opened before any reload: an agent acting, a supervisor watching."""

    def __init__(self, d, alice, sam):
        self.a = d.connect(name="alice")
        self.a.hello(alice)
        self.s = d.connect(name="sam")
        self.s.hello(sam)
        self.s.join(H.TEAM)
        self.n = 0

    def still_work(self):
        self.n += 1
        note = f"after reload {self.n}"
        seq = self.a.call("status.set", {"status": "available", "note": note}, 15)["seq"]
        self.s.call("session.ping", {}, 15)
        deadline = time.monotonic() + 5
        while self.s.last_seq.get((H.TEAM, "team"), 0) < seq and time.monotonic() < deadline:
            self.s.drain(0.1)
        H.check(self.s.last_seq.get((H.TEAM, "team"), 0) >= seq, "the open supervisor session missed an event")
        H.check(not (self.s.gaps or self.s.duplicates), f"stream anomalies: {self.s.gaps + self.s.duplicates}")


def sighup_and_wait(h, d, pattern, what):
    mark = d.log_size()
    d.signal(signal.SIGHUP)
    line = d.wait_log(pattern, 10, since=mark)
    H.check(line is not None, f"{what}: no log line matching {pattern!r} within 10 s of SIGHUP")
    return line


def scenario(h: H.Harness, args):
    data = h.tmp / "data"
    h.team_add(data)
    alice = h.user_add(data, "alice", "agent")
    sam = h.user_add(data, "sam", "supervisor")
    d = h.daemon(data)
    d.start()
    tls = data / "tls"
    old_cert = h.tmp / "original-cert.pem"
    old_key = h.tmp / "original-key.pem"
    shutil.copyfile(tls / "cert.pem", old_cert)
    shutil.copyfile(tls / "key.pem", old_key)
    old_sha = H.pem_sha256(str(old_cert))
    H.check(served_sha256(d.port) == old_sha, "the daemon does not serve its own cert.pem")
    sessions = Sessions(d, alice, sam)
    other_cert, other_key = make_pair(h.tmp, "other")

    bad_cases = [
        ("cert.pem is not a certificate", lambda: install(None, tls / "cert.pem",
                                                          "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n")),
        ("new certificate, old key", lambda: (install(other_cert, tls / "cert.pem"), install(old_key, tls / "key.pem"))),
        ("old certificate, new key", lambda: (install(old_cert, tls / "cert.pem"), install(other_key, tls / "key.pem"))),
        ("cert.pem missing", lambda: (install(old_key, tls / "key.pem"), os.unlink(tls / "cert.pem"))),
    ]
    for what, apply in bad_cases:
        apply()
        line = sighup_and_wait(h, d, r"certificate reload|certificate reloaded", what)
        h.log(f"{what}: {line.strip()[:260]}")
        H.check("failed" in line and "keeping" in line,
                f"{what}: the daemon did not refuse it; log: {line.strip()}")
        for port, side in ((d.port, "protocol"), (d.http_port, "http")):
            try:
                sha = served_sha256(port)
            except (OSError, ssl.SSLError) as e:
                raise H.Failure(f"{what}: new TLS connections to the {side} port fail: {e}")
            H.check(sha == old_sha, f"{what}: {side} port now serves {sha}, not the original {old_sha}")
            H.check(verifies(port, str(old_cert)), f"{what}: {side} port no longer verifies against the original cert.pem")
        sessions.still_work()
        h.figure(f"kept the original after: {what}", "yes")

    new_cert, new_key = make_pair(h.tmp, "new")
    install(new_key, tls / "key.pem")
    install(new_cert, tls / "cert.pem")
    new_sha = H.pem_sha256(str(new_cert))
    line = sighup_and_wait(h, d, r"certificate reload", "valid new certificate")
    h.log(f"valid new certificate: {line.strip()[:260]}")
    H.check("certificate reloaded" in line, f"the valid new certificate was refused: {line.strip()}")
    H.check(colon_hex(new_sha) in line, "the reload line does not carry the new fingerprint")
    for port, side in ((d.port, "protocol"), (d.http_port, "http")):
        H.check(served_sha256(port) == new_sha, f"{side} port does not serve the new certificate")
        H.check(verifies(port, str(tls / "cert.pem")), f"{side} port does not verify against the new cert.pem")
        H.check(not verifies(port, str(old_cert)), f"{side} port still verifies against the old cert.pem")
    fresh = d.connect(name="fresh")
    fresh.hello(alice)
    fresh.call("session.ping", {}, 10)
    fresh.close()
    sessions.still_work()
    h.figure("original SHA-256", colon_hex(old_sha)[:23] + "…")
    h.figure("new SHA-256 served after the good reload", colon_hex(new_sha)[:23] + "…")
    h.figure("sessions open since the start still working", 2)
    rc = d.stop()
    H.check(rc == 0, f"huddled exited {rc} after SIGTERM")


def main():
    p = H.parser(__doc__.splitlines()[0])
    args = p.parse_args()
    H.run("cert_reload", args, scenario, default_time_limit=120)


if __name__ == "__main__":
    main()
