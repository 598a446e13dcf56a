"""The forwarding function against a real HTTP receiver on loopback that fails, hangs and comes
back (python3 -m unittest discover Deploy/amazon-connect). The Swift end-to-end suite runs it
against the real huddled as well (AmazonConnectTests)."""

import base64
import http.server
import json
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import forward  # noqa: E402


class Receiver(http.server.BaseHTTPRequestHandler):
    """Answers from a script: each entry is (status, body) or "hang"."""
    script = []
    seen = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.seen.append((self.headers.get("Authorization"), json.loads(body)))
        step = Receiver.script.pop(0) if Receiver.script else (200, {"applied": 0, "skipped": 0, "errors": []})
        if step == "hang":
            time.sleep(1.5)
            step = (200, {"applied": 0, "skipped": 0, "errors": []})
        status, answer = step
        data = json.dumps(answer).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except BrokenPipeError:
            pass  # the client gave up (the hang): as a real receiver would see it

    def log_message(self, *args):
        pass


def kinesis(n):
    return {"Records": [{"kinesis": {"sequenceNumber": str(1000 + i), "partitionKey": "agent",
                                     "data": base64.b64encode(b'{"EventType":"HEART_BEAT"}').decode()},
                         "eventSource": "aws:kinesis"} for i in range(n)]}


class ForwardTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
        threading.Thread(target=cls.server.serve_forever, daemon=True).start()
        cls.config = {"url": "http://127.0.0.1:%d%s" % (cls.server.server_address[1], forward.PATH),
                      "token": "hd1_bot", "ca": None, "timeout": 1.0, "retries": 3}

    @classmethod
    def tearDownClass(cls):
        cls.server.shutdown()

    def setUp(self):
        Receiver.script, Receiver.seen = [], []
        self.slept = []

    def run_handler(self, event):
        return forward.handler(event, None, config=self.config, sleep=self.slept.append)

    def test_a_batch_goes_as_lambda_received_it_with_the_bots_token(self):
        event = kinesis(3)
        Receiver.script = [(200, {"applied": 2, "skipped": 0, "errors": [{"index": 1, "reason": "bad"}]})]
        self.assertEqual(self.run_handler(event), {"batchItemFailures": []})
        authorization, body = Receiver.seen[0]
        self.assertEqual(authorization, "Bearer hd1_bot")
        self.assertEqual(body, {"Records": event["Records"]})

    def test_failures_then_success_are_retried_with_backoff(self):
        Receiver.script = [(503, {}), (429, {}), (200, {"applied": 1, "skipped": 0, "errors": []})]
        self.assertEqual(self.run_handler(kinesis(1)), {"batchItemFailures": []})
        self.assertEqual(len(Receiver.seen), 3)
        self.assertEqual(self.slept, [1.0, 2.0])

    def test_a_receiver_that_stays_down_hands_the_batch_back_to_lambda(self):
        Receiver.script = [(503, {})] * 4
        answer = self.run_handler(kinesis(2))
        self.assertEqual(answer, {"batchItemFailures": [{"itemIdentifier": "1000"}, {"itemIdentifier": "1001"}]})
        self.assertEqual(self.slept, [1.0, 2.0, 4.0])

    def test_a_receiver_that_hangs_times_out_and_is_tried_again(self):
        Receiver.script = ["hang", (200, {"applied": 1, "skipped": 0, "errors": []})]
        self.assertEqual(self.run_handler(kinesis(1)), {"batchItemFailures": []})
        self.assertEqual(self.slept, [1.0])

    def test_a_refused_token_keeps_the_batch_in_kinesis_and_a_refused_body_is_dropped(self):
        Receiver.script = [(401, {"error": {"code": "unauthorized"}})]
        self.assertEqual(len(self.run_handler(kinesis(2))["batchItemFailures"]), 2)
        self.assertEqual(len(Receiver.seen), 1, "no retry within the function for a token")
        Receiver.script = [(413, {"error": {"code": "too_large"}})]
        self.assertEqual(self.run_handler(kinesis(2)), {"batchItemFailures": []})

    def test_nobody_listening(self):
        config = dict(self.config, url="http://127.0.0.1:9/v1/bridges/amazon-connect", retries=1)
        answer = forward.handler(kinesis(1), None, config=config, sleep=self.slept.append)
        self.assertEqual(answer, {"batchItemFailures": [{"itemIdentifier": "1000"}]})


if __name__ == "__main__":
    unittest.main()
