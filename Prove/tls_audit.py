#!/usr/bin/env python3
"""TLS audit with testssl.sh: both ports offer nothing below TLS 1.2, no weak cipher, and no
known vulnerability is flagged.

Starts huddled with its generated certificate (its own trust anchor, handed to testssl with
--add-ca so that the chain counts as trusted), runs testssl.sh (Debian package `testssl.sh`)
against the protocol port and the HTTP port, and reads its JSON findings:
- the protocols SSLv2, SSLv3, TLS 1.0 and TLS 1.1 must be "not offered";
- no finding may be rated MEDIUM, HIGH or CRITICAL (weak ciphers, known vulnerabilities,
  certificate problems); LOW and WARN findings are printed for a human to read.
One finding is accepted, and printed as such: `cert_revocation` ("neither CRL nor OCSP URI"). The
generated certificate is its own trust anchor, so there is no issuer that could revoke it; a
client trusts it by file or by pin, and revoking it means replacing it (SIGHUP). A certificate of
an operator's own CA brings that CA's CRL or OCSP URI.
The JSON of each run is kept next to the summary with --keep.
"""
import concurrent.futures
import json
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "lib"))
import huddle as H  # noqa: E402

OLD_PROTOCOLS = ("SSLv2", "SSLv3", "TLS1", "TLS1_1")
FAILING = ("MEDIUM", "HIGH", "CRITICAL")
# Findings that cannot apply to a self-signed trust anchor (see above), with the reason shown.
ACCEPTED = {"cert_revocation": "the certificate is its own trust anchor: nobody above it to revoke it"}


def testssl_binary() -> str:
    for name in ("testssl", "testssl.sh"):
        path = shutil.which(name)
        if path:
            return path
    raise H.Skip("testssl.sh is not installed (apt-get install testssl.sh)")


def audit(h: H.Harness, binary: str, port: int, side: str, cafile: str, timeout: float) -> list[dict]:
    out = h.tmp / f"testssl-{side}.json"
    argv = [binary, "--quiet", "--color", "0", "--warnings", "batch", "--add-ca", cafile,
            "--jsonfile", str(out), f"127.0.0.1:{port}"]
    h.log(f"testssl.sh on the {side} port {port} (takes a few minutes)")
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    h.debug(r.stdout[-4000:])
    H.check(out.exists(), f"testssl.sh wrote no JSON for the {side} port (exit {r.returncode}): {r.stderr[-500:]}")
    return json.loads(out.read_text())


def judge(h: H.Harness, side: str, findings: list[dict]) -> list[str]:
    problems = []
    by_id = {f.get("id"): f for f in findings}
    for proto in OLD_PROTOCOLS:
        finding = by_id.get(proto, {}).get("finding", "(not tested)")
        if "not offered" not in finding:
            problems.append(f"{side}: {proto} is {finding}")
    offered = [p for p in ("TLS1_2", "TLS1_3") if "offered" in by_id.get(p, {}).get("finding", "")
               and "not offered" not in by_id.get(p, {}).get("finding", "")]
    h.figure(f"{side}: protocols offered", ", ".join(offered) or "none")
    for f in findings:
        severity = f.get("severity", "")
        if severity in FAILING and f.get("id") in ACCEPTED:
            h.log(f"{side}: accepted {f.get('id')} [{severity}] {f.get('finding')}: {ACCEPTED[f.get('id')]}")
        elif severity in FAILING:
            problems.append(f"{side}: {f.get('id')} [{severity}] {f.get('finding')}")
        elif severity in ("LOW", "WARN"):
            h.log(f"{side}: note {f.get('id')} [{severity}] {f.get('finding')}")
    ciphers = sorted({f["finding"].split()[-1] for f in findings
                      if f.get("id", "").startswith("cipher-") and f.get("finding")})
    if ciphers:
        h.figure(f"{side}: ciphers", " ".join(ciphers))
    vulns = [f for f in findings if f.get("id") in (
        "heartbleed", "CCS", "ticketbleed", "ROBOT", "secure_renego", "secure_client_renego", "CRIME_TLS",
        "BREACH", "POODLE_SSL", "fallback_SCSV", "SWEET32", "FREAK", "DROWN", "LOGJAM", "BEAST", "LUCKY13",
        "winshock", "RC4")]
    h.figure(f"{side}: vulnerability checks", f"{len(vulns)} run, "
             f"{sum(1 for v in vulns if v.get('severity') in FAILING)} flagged")
    return problems


def scenario(h: H.Harness, args):
    binary = testssl_binary()
    d = h.daemon()
    d.start()
    # Both ports at once: testssl.sh spends most of its time waiting on its openssl children,
    # so two side by side take little longer than one.
    sides = ((d.port, "protocol"), (d.http_port, "http"))
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        audits = [pool.submit(audit, h, binary, port, side, d.cert, args.testssl_timeout) for port, side in sides]
        findings = [a.result() for a in audits]
    problems = []
    for (_, side), found in zip(sides, findings):
        problems += judge(h, side, found)
    d.stop()
    H.check(not problems, "testssl.sh flagged:\n  " + "\n  ".join(problems))


def main():
    p = H.parser(__doc__.splitlines()[0])
    p.add_argument("--testssl-timeout", type=float, default=900, help="seconds one testssl.sh run may take")
    args = p.parse_args()
    H.run("tls_audit", args, scenario, default_time_limit=2 * args.testssl_timeout + 60)


if __name__ == "__main__":
    main()
