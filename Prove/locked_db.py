#!/usr/bin/env python3
"""Locked database: while another process holds the write lock, changes fail with -32603 after
the busy timeout (no hang), the log says why, nothing acknowledged is lost, and the daemon
recovers by itself once the lock is released.

The lock holder is the sqlite3 shell with `BEGIN EXCLUSIVE;` (or `BEGIN IMMEDIATE;`, --mode)
kept open through a pipe. In WAL mode readers are not blocked, so history.fetch and pings must
stay prompt while changes wait.
"""
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "lib"))
import huddle as H  # noqa: E402

BUSY_TIMEOUT_S = 10  # the daemon's SQLite busy timeout


def write_lock_is_held(db: Path) -> bool:
    """True when a fresh connection cannot take the write lock right now."""
    r = subprocess.run(["sqlite3", str(db)], input=".timeout 0\nBEGIN IMMEDIATE;\nROLLBACK;\n",
                       capture_output=True, text=True, timeout=10)
    return "locked" in r.stderr or "busy" in r.stderr


def hold_lock(h: H.Harness, db: Path, mode: str) -> subprocess.Popen:
    proc = h.spawn(["sqlite3", str(db)], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE, text=True)
    # The daemon writes all the time (presence, timers): wait our turn for the lock.
    proc.stdin.write(f".timeout 20000\nBEGIN {mode.upper()};\n")
    proc.stdin.flush()
    deadline = time.monotonic() + 25
    while not write_lock_is_held(db):
        if proc.poll() is not None:
            raise H.Failure(f"sqlite3 exited: {proc.stderr.read()}")
        H.check(time.monotonic() < deadline, "sqlite3 did not get the write lock in 25 s")
        time.sleep(0.1)
    return proc


def release(proc: subprocess.Popen):
    proc.stdin.write("ROLLBACK;\n.quit\n")
    proc.stdin.close()
    proc.wait(10)


def scenario(h: H.Harness, args):
    data = h.tmp / "data"
    h.team_add(data)
    alice = h.user_add(data, "alice", "agent")
    sam = h.user_add(data, "sam", "supervisor")
    d = h.daemon(data)
    d.start()
    admin = (data / "admin.token").read_text().strip()
    pid = d.pid
    a = d.connect(name="alice")
    a.hello(alice)
    s = d.connect(name="sam")
    s.hello(sam)
    s.join(H.TEAM)
    changes = H.Changes(a, s, "alice", "sam")
    for _ in range(args.before):
        code, _ = changes.one(args.answer_timeout)
        H.check(code is None, f"a change failed before the lock: {code}")

    log_mark = d.log_size()
    holder = hold_lock(h, data / "huddle.sqlite", args.mode)
    h.log(f"sqlite3 (pid {holder.pid}) holds BEGIN {args.mode.upper()}")
    t_locked = time.monotonic()

    # One change alone: refused after about the busy timeout, not sooner, not never.
    code, took = changes.one(args.answer_timeout)
    H.check(code == -32603, f"a change under a held lock got {code if code else 'acknowledged'}, expected -32603")
    h.figure("seconds to -32603 for one change", round(took, 2))
    H.check(took >= BUSY_TIMEOUT_S * 0.8, f"refused after {took:.2f} s: sooner than the busy timeout")

    # Reads do not wait for the writer in WAL mode.
    t0 = time.monotonic()
    s.call("history.fetch", {"team": H.TEAM, "limit": 10}, 5)
    a.call("session.ping", {}, 5)
    h.figure("history.fetch + ping while locked (s)", round(time.monotonic() - t0, 3))

    # A burst of pipelined changes from both clients: each one answered, all with -32603.
    t0 = time.monotonic()
    pending = []
    for i in range(args.burst):
        client = a if i % 2 else s
        if client is a:
            pending.append((a, a.send("status.set", {"status": "available", "note": f"burst #{i}"})))
        else:
            pending.append((s, s.send("message.send", {"team": H.TEAM, "text": f"burst #{i}"})))
    codes = []
    for client, rid in pending:
        left = args.answer_timeout * 2 - (time.monotonic() - t0)
        answer = client.wait_answer(rid, max(left, 0.1), "pipelined change")
        codes.append(answer["error"]["code"] if "error" in answer else None)
        if "error" in answer:
            changes.refused.append((answer["error"]["code"], f"burst #{len(codes) - 1}"))
    h.figure(f"burst of {args.burst} pipelined changes answered in (s)", round(time.monotonic() - t0, 2))
    H.check(all(c == -32603 for c in codes), f"burst answers while locked: {codes}")

    line = d.wait_log(r"commit failed", 5, since=log_mark)
    H.check(line is not None, "no 'commit failed' line in the daemon log")
    h.log(f"log: {line.strip()[:300]}")
    H.check("lock" in line or "busy" in line, "the log line does not say the database was locked")
    status, body = d.health()
    h.figure("/healthz while locked", f"{status} {json.dumps(body)[:200]}")
    H.check(status == 503 and body.get("status") == "failing", f"/healthz while commits fail: {status} {body}")
    H.check(any("commit" in p for p in body.get("problems", [])), f"/healthz does not say commits fail: {body}")

    release(holder)
    h.figure("lock held for (s)", round(time.monotonic() - t_locked, 1))
    t_free = time.monotonic()
    recovered_after = None
    while time.monotonic() - t_free < args.recover_window:
        code, _ = changes.one(args.answer_timeout)
        if code is None:
            recovered_after = time.monotonic() - t_free
            break
        H.check(code == -32603, f"after the release a change got {code}")
    H.check(recovered_after is not None, f"no change accepted within {args.recover_window} s of the release")
    H.check(d.pid == pid and d.alive(), "the daemon is not the same process any more")
    for _ in range(args.after):
        code, _ = changes.one(args.answer_timeout)
        H.check(code is None, f"a change failed after recovery: {code}")
    h.figure("seconds from release to the first acknowledged change", round(recovered_after, 3))
    status, body = d.health()
    H.check(status == 200, f"/healthz after recovery: {status} {body}")

    H.check(not (s.gaps or s.duplicates), f"stream anomalies: {s.gaps + s.duplicates}")
    a.close()
    s.close()
    H.check_changes_survive_restart(h, d, admin, changes)


def main():
    p = H.parser(__doc__.splitlines()[0])
    p.add_argument("--mode", choices=["exclusive", "immediate"], default="exclusive",
                   help="how sqlite3 holds the lock (default exclusive)")
    p.add_argument("--before", type=int, default=40, help="changes acknowledged before the lock")
    p.add_argument("--burst", type=int, default=6, help="pipelined changes sent while locked")
    p.add_argument("--after", type=int, default=20, help="changes that must succeed after the release")
    p.add_argument("--recover-window", type=float, default=30, help="seconds allowed to recover")
    p.add_argument("--answer-timeout", type=float, default=25,
                   help="longest acceptable answer to one change (busy timeout 10 s)")
    args = p.parse_args()
    H.run("locked_db", args, scenario, default_time_limit=150)


if __name__ == "__main__":
    main()
