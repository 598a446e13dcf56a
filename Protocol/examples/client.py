#!/usr/bin/env python3
"""Minimal Huddle v1 client (Python 3.8+, standard library only).

Signs in, joins one team, prints the snapshot and then every event as it arrives.

  python3 client.py --server 127.0.0.1:7447 --token hdl_... --ca huddle-data/tls/cert.pem floor-a
  python3 client.py --fingerprint C4:19:...:91 floor-a      (token from HUDDLE_TOKEN)
"""
import argparse
import hashlib
import json
import os
import socket
import ssl
import sys
import time


def connect(host, port, ca=None, fingerprint=None, plaintext=False):
    raw = socket.create_connection((host, port), timeout=10)
    if plaintext:
        return raw
    if ca:  # the daemon's cert.pem is its own trust anchor: normal chain + host-name check
        ctx = ssl.create_default_context(cafile=ca)
    else:  # pinning: accept exactly the certificate whose SHA-256 we were given
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    sock = ctx.wrap_socket(raw, server_hostname=host)
    if fingerprint:
        seen = hashlib.sha256(sock.getpeercert(binary_form=True)).hexdigest()
        if seen != fingerprint.replace(":", "").lower():
            sock.close()
            raise SystemExit("certificate fingerprint mismatch: server has " + seen)
    return sock


class Connection:
    def __init__(self, sock):
        self.sock, self.buffer, self.next_id, self.last_sent = sock, b"", 1, time.monotonic()

    def send(self, method, params=None):
        request = {"jsonrpc": "2.0", "id": self.next_id, "method": method}
        if params is not None:
            request["params"] = params
        self.next_id += 1
        line = json.dumps(request, ensure_ascii=False, separators=(",", ":")) + "\n"
        self.sock.sendall(line.encode("utf-8"))
        self.last_sent = time.monotonic()
        return request["id"]

    def read(self):
        """The next message from the server, or None when nothing came within the timeout."""
        while b"\n" not in self.buffer:
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return None
            if not chunk:
                raise EOFError("the server closed the connection")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line.decode("utf-8"))

    def call(self, method, params, on_notification):
        """Sends a request and waits for its answer; notifications meanwhile go to on_notification."""
        request_id = self.send(method, params)
        while True:
            message = self.read()
            if message is None:
                continue
            if "method" in message:
                on_notification(message)
            elif message.get("id") == request_id:
                if "error" in message:
                    error = message["error"]
                    raise SystemExit("%s failed: %s %s %s" % (
                        method, error["code"], error["message"], json.dumps(error.get("data"))))
                return message["result"]


def main():
    parser = argparse.ArgumentParser(description="Print a Huddle team's live events.")
    parser.add_argument("team")
    parser.add_argument("--server", default=os.environ.get("HUDDLE_SERVER", "127.0.0.1:7447"))
    parser.add_argument("--token", default=os.environ.get("HUDDLE_TOKEN"))
    trust = parser.add_mutually_exclusive_group(required=True)
    trust.add_argument("--ca", help="the daemon's tls/cert.pem")
    trust.add_argument("--fingerprint", help="SHA-256 of the certificate, AA:BB:... or hex")
    trust.add_argument("--plaintext", action="store_true", help="only for a --plaintext daemon")
    args = parser.parse_args()
    if not args.token:
        parser.error("--token or HUDDLE_TOKEN is required")
    host, _, port = args.server.rpartition(":")
    host = host.strip("[]")  # [::1]:7447

    conn = Connection(connect(host, int(port), args.ca, args.fingerprint, args.plaintext))
    last_seq = {}  # stream -> last seq seen; a jump means a lost event

    def on_notification(message):
        method, params = message["method"], message.get("params", {})
        if method == "event":
            stream, seq = params["stream"], params["seq"]
            expected = last_seq.get(stream, seq - 1) + 1
            if seq != expected:  # a real client re-joins with since={epoch, seq} here
                print("!! gap in %s stream: expected seq %d, got %d" % (stream, expected, seq))
            last_seq[stream] = seq
            print(json.dumps(params, ensure_ascii=False, sort_keys=True))
        elif method == "session.closing":
            print("server is closing the connection:", params.get("reason"))
        # "heartbeat" needs no answer: it only shows that the server is alive

    hello = conn.call("session.hello", {"token": args.token, "client": "client.py/1"}, on_notification)
    print("signed in as %s (%s), teams %s" % (hello["user"], hello["role"], ", ".join(hello["teams"])))
    heartbeat_s = hello["heartbeat_s"]
    conn.sock.settimeout(heartbeat_s)

    joined = conn.call("team.join", {"team": args.team}, on_notification)
    last_seq["team"] = joined["seq"]
    if "supervisors_seq" in joined:
        last_seq["supervisors"] = joined["supervisors_seq"]
    snapshot = joined["snapshot"]
    print("epoch %s, seq %d, coverage %s" % (joined["epoch"], joined["seq"], json.dumps(snapshot["coverage"])))
    for member in snapshot["members"]:
        print("  %-12s %-16s %-5s %s" % (member["user"], member["status"],
                                        "on" if member["connected"] else "off", member["note"]))

    try:
        while True:
            message = conn.read()
            if message is not None and "method" in message:
                on_notification(message)
            # The server closes a connection that sent nothing for 3 x heartbeat_s.
            if time.monotonic() - conn.last_sent >= heartbeat_s:
                conn.send("session.ping")
    except EOFError as error:
        print(error)
    except KeyboardInterrupt:
        pass  # just drop the connection: session.bye would also set our own status to offline
    finally:
        conn.sock.close()


if __name__ == "__main__":
    sys.exit(main())
