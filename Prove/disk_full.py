#!/usr/bin/env python3
"""Disk full: commits fail with -32603 (no hang), the log says so, nothing acknowledged is lost,
and the daemon recovers by itself once space is back.

The data folder is a small tmpfs (root only; exit 77 otherwise). After some acknowledged changes
a filler file takes all the space left; changes then go on until the daemon has to grow a file
and the commit fails. Every request must be answered within --answer-timeout (SQLite's busy
timeout is 10 s, a full disk should not even wait for it). Then the filler is deleted and new
changes must succeed on the same process. Finally the daemon is restarted from the same folder
and the history is checked again, from disk.
"""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "lib"))
import huddle as H  # noqa: E402

# Refusals come back at once: pace the changes to stay under the default rate limit (20/s per
# connection), so that every answer is about the disk and none is -32011.
PACE_S = 0.06


def fill(path: Path) -> int:
    """Writes to `path` until the file system has no byte left; returns the bytes written."""
    written = 0
    with open(path, "wb", buffering=0) as f:
        for chunk in (1 << 20, 1 << 12, 1):
            block = b"\0" * chunk
            while True:
                try:
                    written += f.write(block)
                except OSError:
                    break
    return written


def mount_tmpfs(h: H.Harness, mnt: Path, size_mib: int):
    if os.geteuid() != 0:
        raise H.Skip("needs root to mount a tmpfs as the data folder (run as root, or skip)")
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mib}m", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise H.Skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")

    def unmount():
        if subprocess.run(["umount", str(mnt)]).returncode != 0:
            subprocess.run(["umount", "-l", str(mnt)])

    h.cleanups.append(unmount)


def scenario(h: H.Harness, args):
    mnt = h.tmp / "mnt"
    mount_tmpfs(h, mnt, args.size_mib)
    data = mnt / "data"
    h.team_add(data)
    alice = h.user_add(data, "alice", "agent")
    sam = h.user_add(data, "sam", "supervisor")
    admin = None
    d = h.daemon(data)
    d.start()
    admin = (data / "admin.token").read_text().strip()
    pid = d.pid

    a = d.connect(name="alice")
    a.hello(alice)
    s = d.connect(name="sam")
    s.hello(sam)
    s.join(H.TEAM)  # sam watches the stream: refused changes must leave no gap in it
    changes = H.Changes(a, s, "alice", "sam", pad=args.pad)

    for _ in range(args.before):
        code, _ = changes.one(args.answer_timeout)
        H.check(code is None, f"a change failed before the disk was full: {code}")
    acked_before = len(changes.acked)
    h.log(f"{acked_before} changes acknowledged; filling the tmpfs")

    log_mark = d.log_size()
    filler = mnt / "filler"
    h.figure("filler MiB", round(fill(filler) / (1 << 20), 2))
    st = os.statvfs(mnt)
    h.figure("free bytes after filling", st.f_bavail * st.f_frsize)

    # The WAL and database files may still have room inside what they already hold: changes
    # keep committing until one has to grow a file. Each must be answered, never hang.
    first_fail = None
    acked_while_full = 0
    slowest = 0.0
    t0 = time.monotonic()
    while time.monotonic() - t0 < args.fill_window:
        time.sleep(PACE_S)
        code, took = changes.one(args.answer_timeout)
        slowest = max(slowest, took)
        if code is None:
            acked_while_full += 1
            continue
        H.check(code == -32603, f"a change on a full disk got {code}, expected -32603")
        first_fail = took
        break
    H.check(first_fail is not None,
            f"no change failed within {args.fill_window} s on a full disk ({acked_while_full} were acknowledged)")
    h.figure("changes acknowledged after filling, before the first failure", acked_while_full)
    h.figure("seconds to the -32603", round(first_fail, 3))

    # While the disk stays full, further changes keep failing the same way, promptly.
    refused_codes = []
    for _ in range(args.while_full):
        time.sleep(PACE_S)
        code, took = changes.one(args.answer_timeout)
        slowest = max(slowest, took)
        refused_codes.append(code)
    h.figure("changes refused (-32603)", sum(1 for c, _ in changes.refused if c == -32603))
    h.figure("while full, answers to later changes", {str(c): refused_codes.count(c) for c in set(refused_codes)})
    h.figure("slowest answer while full (s)", round(slowest, 3))
    H.check(all(c in (None, -32603) for c in refused_codes), f"unexpected answers while full: {refused_codes}")

    line = d.wait_log(r"commit failed", 5, since=log_mark)
    H.check(line is not None, "no 'commit failed' line in the daemon log")
    h.log(f"log: {line.strip()[:300]}")
    status, body = d.health()
    h.figure("/healthz while full", f"{status} {json.dumps(body)[:300]}")
    H.check(status == 503 and body.get("status") == "failing", f"/healthz on a full disk: {status} {body}")
    H.check(any("commit" in p for p in body.get("problems", [])), f"/healthz does not say commits fail: {body}")
    time.sleep(2.5)  # past the daemon's probe commit (every 2 s while commits fail): still full
    status, body = d.health()
    H.check(status == 503, f"/healthz after a probe on a full disk: {status} {body}")
    a.call("session.ping", {}, 10)  # the daemon still answers what needs no commit
    s.call("history.fetch", {"team": H.TEAM, "limit": 5}, 10)

    os.unlink(filler)
    h.log("filler deleted; waiting for the daemon to accept changes again")
    t_free = time.monotonic()
    recovered_after = None
    while time.monotonic() - t_free < args.recover_window:
        code, _ = changes.one(args.answer_timeout)
        if code is None:
            recovered_after = time.monotonic() - t_free
            break
        H.check(code == -32603, f"after freeing space a change got {code}")
        time.sleep(0.2)
    H.check(recovered_after is not None,
            f"the daemon did not accept a change within {args.recover_window} s of freeing the space")
    H.check(d.pid == pid and d.alive(), "the daemon is not the same process any more")
    for _ in range(args.after):
        code, _ = changes.one(args.answer_timeout)
        H.check(code is None, f"a change failed after recovery: {code}")
    h.figure("seconds from freeing space to the first acknowledged change", round(recovered_after, 3))
    # The WAL checkpoint that failed while the disk was full is retried every 200 ms; until one
    # succeeds /healthz rightly says checkpoints fail. Give it 5 s, and report how long it took.
    healthy_by = time.monotonic() + 5
    status, body = d.health()
    while status != 200 and time.monotonic() < healthy_by:
        time.sleep(0.2)
        status, body = d.health()
    H.check(status == 200, f"/healthz after recovery: {status} {body}")

    H.check(not (a.gaps or s.gaps or s.duplicates), f"stream anomalies: {s.gaps + s.duplicates}")
    a.close()
    s.close()
    H.check_changes_survive_restart(h, d, admin, changes)


def main():
    p = H.parser(__doc__.splitlines()[0])
    p.add_argument("--size-mib", type=int, default=16, help="size of the tmpfs (default 16)")
    p.add_argument("--before", type=int, default=40, help="changes acknowledged before the disk is full")
    p.add_argument("--while-full", type=int, default=10, help="changes tried after the first failure")
    p.add_argument("--after", type=int, default=20, help="changes that must succeed after recovery")
    p.add_argument("--pad", type=int, default=450, help="message length, to make commits bigger")
    p.add_argument("--fill-window", type=float, default=60, help="seconds allowed for the first failure")
    p.add_argument("--recover-window", type=float, default=30, help="seconds allowed to recover")
    p.add_argument("--answer-timeout", type=float, default=25,
                   help="longest acceptable answer to one request (SQLite busy timeout is 10 s)")
    args = p.parse_args()
    # Failing commits should be answered at once; the limit leaves room for a few busy timeouts.
    H.run("disk_full", args, scenario, default_time_limit=60 + args.fill_window + args.recover_window)


if __name__ == "__main__":
    main()
