#!/usr/bin/env python3
"""The systemd unit's hardening: `systemd-analyze security` rates Deploy/huddled.service at an
exposure of 2.0 or lower (0 is fully locked down, 10 is fully exposed).

Runs offline (`--offline=true`), so it needs systemd's tools but no running systemd; the unit is
read as shipped. Prints the score and every check that still counts against it.
"""
import re
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "lib"))
import huddle as H  # noqa: E402

UNIT = Path(__file__).resolve().parent.parent / "Deploy/huddled.service"


def scenario(h: H.Harness, args):
    tool = shutil.which("systemd-analyze")
    if tool is None:
        raise H.Skip("systemd-analyze is not installed (Debian package systemd)")
    r = subprocess.run([tool, "security", "--offline=true", "--no-pager", str(UNIT)],
                       capture_output=True, text=True, timeout=120)
    text = r.stdout + r.stderr
    match = re.search(r"Overall exposure level for \S+: ([0-9.]+) (\w+)", text)
    H.check(match is not None, f"no exposure score in the output (exit {r.returncode}):\n{text[-2000:]}")
    score, verdict = float(match.group(1)), match.group(2)
    for line in text.splitlines():
        if line.startswith("✗"):
            h.log("counts against it: " + re.sub(r"\s{2,}", "  ", line[1:].strip()))
    h.figure("exposure score", f"{score} {verdict}")
    H.check(score <= args.max_score, f"exposure {score} is above {args.max_score}")


def main():
    p = H.parser(__doc__.splitlines()[0])
    p.add_argument("--max-score", type=float, default=2.0, help="highest acceptable exposure score")
    args = p.parse_args()
    H.run("systemd_audit", args, scenario, default_time_limit=120)


if __name__ == "__main__":
    main()
