"""Shared helpers for the Prove/ fault-injection scripts (Python 3.11 standard library only).

A script builds an argument parser with `parser()`, then hands its scenario to `run()`, which
gives it a `Harness`: a temporary data folder, daemons started in it, figures to report, and a
cleanup that stops exactly the processes the harness started (by PID) and removes the folder,
whatever way the scenario ends. Exit codes: 0 pass, 1 fail, 77 skipped, 2 usage.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEAM = "floor-a"
EXIT_PASS, EXIT_FAIL, EXIT_SKIP = 0, 1, 77

# The daemon logs "[HuddleServer] listening on HOST:PORT" and "… http listening on HOST:PORT".
PROTOCOL_PORT_RE = re.compile(r"\] listening on \S+:(\d+)")
HTTP_PORT_RE = re.compile(r"\] http listening on \S+:(\d+)")


class Failure(Exception):
    """A property the scenario proves did not hold; the message says which and by how much."""


class Skip(Exception):
    """The scenario cannot run here (for example it needs root)."""


def check(condition, message):
    if not condition:
        raise Failure(message)


def default_binary() -> str:
    release = ROOT / ".build/release/huddled"
    return str(release if release.exists() else ROOT / ".build/debug/huddled")


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--binary", default=default_binary(),
                   help="huddled to test (default: .build/release/huddled if present, else .build/debug/huddled)")
    p.add_argument("--keep", action="store_true", help="keep the temporary data folder (and print where it is)")
    p.add_argument("--time-limit", type=float, default=None,
                   help="hard limit in seconds for the whole scenario (default: derived from the other options)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: from the clock, printed)")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


# --------------------------------------------------------------------------- harness


class Harness:
    def __init__(self, name: str, args):
        self.name, self.args = name, args
        self.binary = os.path.abspath(args.binary)
        check(os.access(self.binary, os.X_OK), f"no executable huddled at {self.binary}")
        self.tmp = Path(tempfile.mkdtemp(prefix=f"huddle-prove-{name}-"))
        self.daemons: list[Daemon] = []
        self.processes: list[subprocess.Popen] = []  # other helpers (sqlite3, …) we started
        self.cleanups: list = []  # extra callables, run last-in first-out
        self.figures: list[tuple[str, object]] = []
        self.started = time.monotonic()

    def log(self, text: str):
        print(f"[{time.monotonic() - self.started:7.1f}s] {text}", flush=True)

    def debug(self, text: str):
        if self.args.verbose:
            self.log(text)

    def figure(self, key: str, value):
        self.figures.append((key, value))
        print(f"  figure  {key} = {value}", flush=True)

    def daemon(self, data: Path | None = None, config: dict | None = None, extra: list[str] | None = None,
               name: str = "huddled", env: dict | None = None) -> "Daemon":
        d = Daemon(self, Path(data or self.tmp / "data"), config or {}, extra or [], name, env)
        self.daemons.append(d)
        return d

    def spawn(self, argv, **kw) -> subprocess.Popen:
        proc = subprocess.Popen(argv, **kw)
        self.processes.append(proc)
        return proc

    def admin(self, data: Path, *argv: str) -> str:
        out = subprocess.run([self.binary, *argv, "--data", str(data)], capture_output=True, text=True, timeout=60)
        check(out.returncode == 0, f"huddled {' '.join(argv)} failed ({out.returncode}): {out.stderr.strip()}")
        return out.stdout

    def team_add(self, data: Path, team: str = TEAM):
        self.admin(data, "team", "add", team)

    def user_add(self, data: Path, name: str, role: str, teams=(TEAM,)) -> str:
        argv = ["user", "add", name, "--role", role]
        for t in teams:
            argv += ["--team", t]
        token = self.admin(data, *argv).strip().splitlines()[-1].strip()
        check(token.startswith("hdl_"), f"user add {name} printed no token: {token!r}")
        return token

    def cleanup(self):
        # Processes first: a mount cannot be undone while a daemon still has files open in it.
        for d in self.daemons:
            d.stop_quietly()
        for proc in self.processes:
            if proc.poll() is None:
                try:
                    os.kill(proc.pid, signal.SIGKILL)
                    proc.wait(5)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    pass
        for fn in reversed(self.cleanups):
            try:
                fn()
            except Exception as e:  # cleanup goes on: one failure must not leave the rest behind
                print(f"cleanup: {e}", file=sys.stderr)
        if self.args.keep:
            print(f"kept {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


def run(name: str, args, scenario, default_time_limit: float):
    """Runs scenario(harness, args) under a hard time limit and prints PASS/FAIL/SKIP."""

    def interrupted(signum, _frame):
        raise Failure(f"interrupted by signal {signum}")

    def timed_out(_signum, _frame):
        raise Failure(f"time limit of {limit:.0f} s exceeded")

    limit = args.time_limit or default_time_limit
    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGALRM, timed_out)
    if args.seed is None:
        args.seed = int(time.time() * 1000) % 1_000_000
    code = EXIT_FAIL
    h = None
    try:
        h = Harness(name, args)
        h.log(f"{name}: binary {h.binary}, seed {args.seed}, time limit {limit:.0f} s, folder {h.tmp}")
        signal.setitimer(signal.ITIMER_REAL, limit)
        scenario(h, args)
        signal.setitimer(signal.ITIMER_REAL, 0)
        code = EXIT_PASS
    except Skip as e:
        code = EXIT_SKIP
        print(f"SKIP {name}: {e}", flush=True)
    except Failure as e:
        print(f"FAIL {name}: {e}", flush=True)
    except Exception:
        traceback.print_exc()
        print(f"FAIL {name}: unexpected error (see the traceback above)", flush=True)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        if h is not None:
            if code == EXIT_FAIL:
                for d in h.daemons:
                    d.print_log_tail()
            h.cleanup()
    if code == EXIT_PASS:
        print(f"PASS {name} in {time.monotonic() - h.started:.1f} s", flush=True)
    sys.exit(code)


# --------------------------------------------------------------------------- daemon


class Daemon:
    """One `huddled serve` in a data folder.

    Its log (kept over restarts) and configuration file live in the harness folder, not beside
    the data, so that they stay writable when the data folder's file system is full.
    """

    def __init__(self, h: Harness, data: Path, config: dict, extra: list[str], name: str, env: dict | None = None):
        self.h, self.data, self.extra = h, data, extra
        self.env = {**os.environ, **env} if env else None
        self.log_path = h.tmp / f"{name}.log"
        self.config_path = h.tmp / f"{name}.conf"
        self.config = dict(config)
        self.proc: subprocess.Popen | None = None
        self.port = self.http_port = 0
        self.log_offset = 0  # where the current run's log starts
        self.starts = 0

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def cert(self) -> str:
        return str(self.data / "tls/cert.pem")

    def write_config(self):
        # Settings go through --config so that keys without a flag in older builds
        # (shutdown-timeout-s) work the same; the file is reread on SIGHUP.
        self.config_path.write_text("".join(f"{k} = {v}\n" for k, v in self.config.items()))

    def start(self, port: int = 0, http_port: int = 0, timeout: float = 30):
        check(self.proc is None or self.proc.poll() is not None, "daemon already running")
        self.write_config()
        with open(self.log_path, "ab") as logf:
            self.log_offset = logf.tell()
            argv = [self.h.binary, "serve", "--data", str(self.data), "--listen", f"127.0.0.1:{port}",
                    "--http", f"127.0.0.1:{http_port}", "--config", str(self.config_path), *self.extra]
            self.proc = subprocess.Popen(argv, stdout=logf, stderr=logf, stdin=subprocess.DEVNULL, env=self.env)
        self.starts += 1
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log()
            p, hp = PROTOCOL_PORT_RE.search(text), HTTP_PORT_RE.search(text)
            if p and hp:
                self.port, self.http_port = int(p.group(1)), int(hp.group(1))
                self.h.debug(f"daemon pid {self.pid} on port {self.port} (http {self.http_port})")
                return self
            if self.proc.poll() is not None:
                raise Failure(f"huddled exited with {self.proc.returncode} at start:\n{self.tail(15)}")
            time.sleep(0.02)
        raise Failure(f"huddled did not log its ports within {timeout} s:\n{self.tail(15)}")

    def health(self, timeout: float = 10) -> tuple[int, dict]:
        """GET /healthz over TLS: the status and the JSON body."""
        url = f"https://127.0.0.1:{self.http_port}/healthz"
        try:
            with urllib.request.urlopen(url, timeout=timeout, context=tls_context(self.cert)) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def log(self, whole: bool = False) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0 if whole else self.log_offset)
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def tail(self, n: int = 30) -> str:
        return "\n".join(self.log(whole=True).splitlines()[-n:])

    def print_log_tail(self, n: int = 30):
        if self.log_path.exists():
            print(f"--- last {n} lines of {self.log_path.name} ---\n{self.tail(n)}\n---", flush=True)

    def wait_log(self, pattern: str, timeout: float, since: int | None = None) -> str | None:
        """The first log line (of this run, or after byte offset `since`) matching the regex."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            with open(self.log_path, "rb") as f:
                f.seek(self.log_offset if since is None else since)
                for line in f.read().decode("utf-8", "replace").splitlines():
                    if rx.search(line):
                        return line
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.05)

    def log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        check(self.alive(), "daemon is not running")
        os.kill(self.proc.pid, sig)

    def wait(self, timeout: float) -> int | None:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill9(self):
        self.signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, timeout: float = 20) -> int:
        """SIGTERM and wait: the daemon must exit 0 (a graceful shutdown)."""
        self.signal(signal.SIGTERM)
        rc = self.wait(timeout)
        check(rc is not None, f"huddled did not exit within {timeout} s of SIGTERM")
        return rc

    def stop_quietly(self):
        if self.alive():
            try:
                os.kill(self.proc.pid, signal.SIGTERM)
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
            except ProcessLookupError:
                pass

    def rss_kib(self) -> int:
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise Failure("no VmRSS in /proc/PID/status")

    def connect(self, cafile: str | None = None, **kw) -> "Client":
        return Client(self.port, cafile or self.cert, **kw)


# --------------------------------------------------------------------------- client


class RPCError(Exception):
    def __init__(self, method, error):
        self.method, self.code = method, error.get("code")
        self.message, self.data = error.get("message"), error.get("data")
        super().__init__(f"{method}: {self.code} {self.message} {json.dumps(self.data) if self.data else ''}".strip())


class Closed(Exception):
    """The server closed (or reset) the connection."""


def tls_context(cafile: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def pem_sha256(path: str) -> str:
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(Path(path).read_text())).hexdigest()


class Client:
    """One TLS connection speaking line-delimited JSON-RPC, used by one thread at a time.

    Every event it reads is checked against the last seq of its (team, stream): `gaps` and
    `duplicates` list the anomalies, so a caller only has to look at them at the end.
    """

    def __init__(self, port: int, cafile: str, host: str = "127.0.0.1", timeout: float = 10,
                 name: str = "", keep_events: bool = False, tls: bool = True):
        self.name = name
        raw = socket.create_connection((host, port), timeout=timeout)
        self.sock = tls_context(cafile).wrap_socket(raw, server_hostname=host) if tls else raw
        self.buffer = b""
        self.next_id = 1
        self.last_seq: dict[tuple[str, str], int] = {}
        self.epoch: dict[str, str] = {}
        self.gaps: list[str] = []
        self.duplicates: list[str] = []
        self.events_seen = 0
        self.keep_events = keep_events
        self.events: list[dict] = []
        self.closing_reason: str | None = None
        self.other: list[dict] = []  # notifications other than events (reminder, heartbeat)
        self.answers: dict = {}  # id -> answer, for requests sent with send() and read later
        self.closed = False

    def peer_sha256(self) -> str:
        return hashlib.sha256(self.sock.getpeercert(binary_form=True)).hexdigest()

    def close(self):
        self.closed = True
        try:
            self.sock.close()
        except OSError:
            pass

    # -- writing

    def send(self, method: str, params: dict | None = None) -> int:
        rid = self.next_id
        self.next_id += 1
        req = {"jsonrpc": "2.0", "id": rid, "method": method, "params": params or {}}
        self.send_raw((json.dumps(req, ensure_ascii=False, separators=(",", ":")) + "\n").encode())
        return rid

    def send_raw(self, data: bytes):
        try:
            self.sock.sendall(data)
        except (OSError, ssl.SSLError) as e:
            self.close()
            raise Closed(f"send failed: {e}") from e

    # -- reading

    def read_message(self, timeout: float) -> dict | None:
        """The next line from the server (notifications are tracked on the way), or None on timeout."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(min(left, 1.0))
            try:
                chunk = self.sock.recv(262144)
            except (socket.timeout, TimeoutError):
                continue
            except (OSError, ssl.SSLError) as e:
                self.close()
                raise Closed(f"read failed: {e}") from e
            if not chunk:
                # Close our side too, as any client would: a TLS server waits for it (or its
                # own timeout) before it drops the connection.
                self.close()
                raise Closed("the server closed the connection")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        msg = json.loads(line)
        if "method" in msg:
            self._notification(msg)
        return msg

    def _notification(self, msg):
        method, params = msg["method"], msg.get("params") or {}
        if method == "event":
            self._track(params)
        elif method == "session.closing":
            self.closing_reason = params.get("reason")
        else:
            self.other.append(msg)

    def _track(self, ev):
        self.events_seen += 1
        key = (ev["team"], ev["stream"])
        last = self.last_seq.get(key)
        if last is not None:
            if ev["seq"] <= last:
                self.duplicates.append(f"{self.name}: {key} seq {ev['seq']} after {last}")
            elif ev["seq"] != last + 1:
                self.gaps.append(f"{self.name}: {key} expected seq {last + 1}, got {ev['seq']}")
        self.last_seq[key] = max(ev["seq"], last or 0)
        if self.keep_events:
            self.events.append(ev)

    def wait_answer(self, rid: int, timeout: float, method: str = "request", keepalive: float | None = None) -> dict:
        """The answer to request `rid` (a dict with result or error); Failure when none comes in time.

        With `keepalive`, a session.ping goes out every that many seconds meanwhile: the daemon
        closes a connection that sent nothing for 3 x heartbeat_s, even one waiting for an answer.
        """
        deadline = time.monotonic() + timeout
        next_ping = time.monotonic() + keepalive if keepalive else None
        while rid not in self.answers:
            now = time.monotonic()
            left = deadline - now
            if left <= 0:
                raise Failure(f"{self.name}: no answer to {method} (id {rid}) within {timeout:.0f} s")
            if next_ping is not None:
                if now >= next_ping:
                    self.send("session.ping")
                    next_ping = now + keepalive
                left = min(left, next_ping - now)
            msg = self.read_message(left)
            if msg is not None and "id" in msg and "method" not in msg:
                self.answers[msg["id"]] = msg
        return self.answers.pop(rid)

    def call(self, method: str, params: dict | None = None, timeout: float = 30, keepalive: float | None = None) -> dict:
        answer = self.wait_answer(self.send(method, params), timeout, method, keepalive)
        if "error" in answer:
            raise RPCError(method, answer["error"])
        return answer["result"]

    def drain(self, seconds: float):
        """Reads (and tracks) whatever arrives during `seconds`."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            msg = self.read_message(left)
            if msg is not None and "id" in msg and "method" not in msg:
                self.answers[msg["id"]] = msg

    def read_until_closed(self, timeout: float) -> bool:
        """Reads until the server closes the connection; False if it is still open after `timeout`."""
        try:
            self.drain(timeout)
        except Closed:
            return True
        return False

    # -- sessions

    def hello(self, token: str, client: str = "prove") -> dict:
        return self.call("session.hello", {"token": token, "client": client})

    def join(self, team: str = TEAM, since: dict | None = None, timeout: float = 30) -> dict:
        """team.join; with `since`, also checks the replay: seqs since+1 … result.seq, no gap, no duplicate.

        Supervisors and admins must give `supervisors_seq` in `since` (PROTOCOL.md §7), or the
        daemon answers recovered: false.
        """
        params = {"team": team}
        if since is not None:
            params["since"] = since
            self.last_seq[(team, "team")] = since["seq"]
            if "supervisors_seq" in since:
                self.last_seq[(team, "supervisors")] = since["supervisors_seq"]
        else:
            self.last_seq.pop((team, "team"), None)
            self.last_seq.pop((team, "supervisors"), None)
        before = len(self.gaps) + len(self.duplicates)
        result = self.call("team.join", params, timeout)
        if since is not None and result["recovered"]:
            got = self.last_seq.get((team, "team"))
            if got != result["seq"]:
                self.gaps.append(f"{self.name}: replay ended at seq {got}, join answered seq {result['seq']}")
            got = self.last_seq.get((team, "supervisors"))
            if "supervisors_seq" in since and got != result.get("supervisors_seq"):
                self.gaps.append(f"{self.name}: supervisors' replay ended at {got}, join answered "
                                 f"{result.get('supervisors_seq')}")
        if since is not None and len(self.gaps) + len(self.duplicates) != before:
            self.gaps.append(f"{self.name}: the replay of the join since {since} was not contiguous")
        self.last_seq[(team, "team")] = result["seq"]
        if "supervisors_seq" in result:
            self.last_seq[(team, "supervisors")] = result["supervisors_seq"]
        self.epoch[team] = result["epoch"]
        return result


def fetch_history(client: Client, team: str = TEAM, upto: int | None = None) -> list[dict]:
    """The whole team stream from seq 1, by pages of 1000 (the protocol's maximum).

    Pages are walked by seq range, not by the count returned, so a hole in the history shows
    as a missing seq instead of ending the walk early.
    """
    if upto is None:
        upto = client.join(team)["seq"]
    events: list[dict] = []
    since = 0
    while since < upto:
        page = client.call("history.fetch", {"team": team, "since": since, "limit": 1000})["events"]
        events += page
        since += 1000
    return events


def check_history(events: list[dict], upto: int) -> list[str]:
    """Problems with a fetched team stream: every seq 1…upto exactly once, in order."""
    problems = []
    seqs = [e["seq"] for e in events]
    if len(seqs) != len(set(seqs)):
        problems.append(f"duplicate seqs in history: {len(seqs) - len(set(seqs))}")
    if seqs != sorted(seqs):
        problems.append("history is not in seq order")
    missing = sorted(set(range(1, upto + 1)) - set(seqs))
    if missing:
        problems.append(f"{len(missing)} seqs missing from history, first {missing[:10]}")
    return problems


def verified_history(d: "Daemon", token: str, team: str = TEAM) -> tuple[list[dict], list[str]]:
    """The team stream as a new verifier connection reads it, with `check_history`'s problems."""
    c = d.connect(name="verifier")
    try:
        c.hello(token, "prove-verifier")
        upto = c.join(team)["seq"]
        events = fetch_history(c, team, upto)
    finally:
        c.close()
    return events, check_history(events, upto)


def check_changes_survive_restart(h: "Harness", d: "Daemon", token: str, changes: "Changes"):
    """Every acknowledged change is in the history and no refused one, now and after SIGTERM
    (exit 0) and a restart; the counts become figures."""
    events, problems = verified_history(d, token)
    problems += changes.verify(events)
    check(not problems, "; ".join(problems[:5]))
    rc = d.stop()
    check(rc == 0, f"huddled exited {rc} after SIGTERM")
    d.start()
    events, problems = verified_history(d, token)
    problems += changes.verify(events)
    check(not problems, "after a restart: " + "; ".join(problems[:5]))
    h.figure("acknowledged changes, all in the history after a restart", len(changes.acked))
    h.figure("refused changes, none in the history", len(changes.refused))


def connect_retry(port_fn, cafile: str, deadline: float, **kw) -> Client:
    """Connects, retrying while the daemon restarts (port_fn gives the current port)."""
    last = None
    while time.monotonic() < deadline:
        try:
            return Client(port_fn(), cafile, **kw)
        except (OSError, ssl.SSLError) as e:
            last = e
            time.sleep(0.05)
    raise Failure(f"could not connect before the deadline: {last}")


def thread(target, *args, name=None) -> threading.Thread:
    t = threading.Thread(target=target, args=args, name=name, daemon=True)
    t.start()
    return t


class Changes:
    """Makes identifiable changes (an agent's status.set, a poster's message.send, in turn) and
    keeps the log of those acknowledged and those refused, to be checked against the history.
    """

    def __init__(self, agent: Client, poster: Client, agent_name: str, poster_name: str, pad: int = 0):
        self.agent, self.poster = agent, poster
        self.agent_name, self.poster_name = agent_name, poster_name
        self.pad = pad  # extra characters in messages, to make commits bigger
        self.count = 0
        self.acked: list[tuple[int, str, str, str]] = []  # (seq, user, field, tag)
        self.refused: list[tuple[int, str]] = []  # (code, tag)

    def one(self, timeout: float = 30) -> tuple[int | None, float]:
        """One change: (None, seconds) when acknowledged, (error code, seconds) when refused."""
        self.count += 1
        tag = f"change #{self.count}"
        t0 = time.monotonic()
        try:
            if self.count % 2:
                status = "available" if self.count % 4 == 1 else "after_call_work"
                result = self.agent.call("status.set", {"status": status, "note": tag}, timeout)
                self.acked.append((result["seq"], self.agent_name, "note", tag))
            else:
                text = tag + (" " + "x" * (self.pad - 1) if self.pad else "")
                result = self.poster.call("message.send", {"team": TEAM, "text": text}, timeout)
                self.acked.append((result["seq"], self.poster_name, "text", text))
            return None, time.monotonic() - t0
        except RPCError as e:
            self.refused.append((e.code, tag))
            return e.code, time.monotonic() - t0

    def verify(self, events: list[dict]) -> list[str]:
        problems = []
        by_seq = {e["seq"]: e for e in events}
        for seq, user, field, tag in self.acked:
            e = by_seq.get(seq)
            if e is None or e.get("user") != user or e.get(field) != tag:
                problems.append(f"acknowledged change lost: seq {seq} {tag[:20]!r} by {user}; history has {e}")
        texts = {(e.get("note") or e.get("text") or "").split(" x")[0] for e in events}
        for code, tag in self.refused:
            if tag in texts:
                problems.append(f"a change refused with {code} is in the history anyway: {tag!r}")
        return problems
