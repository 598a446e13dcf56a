"""A real HTTP receiver for the daemon's alert notices, on loopback, that answers as it is told.

    python3 notice_receiver.py PORT_FILE LOG_FILE PLAN [PORT]

PLAN is a JSON object: for each path, the answers to give in turn (the last one repeats):
  "200"                  200 with body "ok" (as Slack answers)
  "202"                  202 with no body (as a Teams Workflows trigger answers)
  "503", "410", ...      that status
  "429:2"                429 with Retry-After: 2
  "302"                  302 to /elsewhere (a redirect the daemon must not follow)
  "hang"                 read the request, then answer nothing for 60 s
  "200:BODY"             200 with BODY (a throttle hidden in a 200, as Office 365 connectors did)
  "big"                  200 with a 1 MiB body (only 64 KiB may be read)

Every request is logged to LOG_FILE as one JSON line: path, headers (lower-case), body
(base64, exactly as received), the answer given and the time. The port (PORT, or a free one)
is written to PORT_FILE once the socket listens. Runs until killed.
"""

import base64
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port_file, log_file, plan = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
port = int(sys.argv[4]) if len(sys.argv) > 4 else 0
lock = threading.Lock()


def next_answer(path):
    with lock:
        answers = plan.get(path) or ["404"]
        return answers.pop(0) if len(answers) > 1 else answers[0]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length)
        answer = next_answer(self.path)
        entry = {
            "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": base64.b64encode(body).decode(),
            "answer": answer,
            "at": time.time(),
        }
        with lock, open(log_file, "a") as log:
            log.write(json.dumps(entry) + "\n")
        if answer == "hang":
            time.sleep(60)
            return
        if answer == "big":
            self.reply(200, b"x" * (1 << 20))
        elif answer == "302":
            self.reply(302, b"", [("Location", "/elsewhere")])
        elif answer.startswith("429:"):
            self.reply(429, b"slow down", [("Retry-After", answer[4:])])
        elif answer.startswith("200:"):
            self.reply(200, answer[4:].encode())
        elif answer == "202":
            self.reply(202, b"")
        elif answer == "200":
            self.reply(200, b"ok")
        else:
            self.reply(int(answer), b"no")

    def reply(self, status, body, headers=()):
        try:
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


server = Server(("127.0.0.1", port), Handler)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os

os.replace(port_file + ".tmp", port_file)
server.serve_forever()
