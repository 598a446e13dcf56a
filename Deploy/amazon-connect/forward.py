"""Forwards Amazon Connect's agent event stream from Kinesis to Huddle.

An AWS Lambda function (Python 3.12, standard library only) with the agent event stream's
Kinesis data stream as its event source. It posts each batch, as Lambda received it, to
Huddle's POST /v1/bridges/amazon-connect with a bot's token, and answers Lambda with the
records to retry (ReportBatchItemFailures):

- 200: Huddle took the batch. Records it could not read come back in "errors" and are logged;
  they are not retried (they would fail the same way).
- 429, 5xx, or no answer: retried here with backoff (1 s, 2 s, 4 s, at most RETRIES times,
  within the function's remaining time); then every record of the batch is reported as failed,
  so Lambda sends the batch again. Huddle applies a repeated record as a repeated state, which
  changes nothing.
- 401 or 403 (a wrong or rotated token, a bot of other teams): logged, and the batch is
  reported as failed at once, so that nothing is lost while an operator fixes the token (Kinesis
  keeps records for a day by default).
- 400 or 413 (a batch Huddle cannot read): logged and dropped; it would fail the same way again.

Settings (environment): HUDDLE_URL (https://huddle.example:8443), HUDDLE_TOKEN (the bot's token;
keep it in the function's encrypted environment or fetch it from Secrets Manager), HUDDLE_CA (a
CA file for a daemon with a self-signed certificate; optional), HUDDLE_TIMEOUT_S (10),
HUDDLE_RETRIES (3).
"""

import json
import logging
import os
import ssl
import time
import urllib.error
import urllib.request

log = logging.getLogger("huddle-forward")
log.setLevel(logging.INFO)

PATH = "/v1/bridges/amazon-connect"


def settings():
    return {
        "url": os.environ["HUDDLE_URL"].rstrip("/") + PATH,
        "token": os.environ["HUDDLE_TOKEN"],
        "ca": os.environ.get("HUDDLE_CA") or None,
        "timeout": float(os.environ.get("HUDDLE_TIMEOUT_S", "10")),
        "retries": int(os.environ.get("HUDDLE_RETRIES", "3")),
    }


def post(config, body):
    """(status, parsed JSON or None); status 0 when there was no answer."""
    request = urllib.request.Request(
        config["url"], data=body, method="POST",
        headers={"Content-Type": "application/json", "Authorization": "Bearer " + config["token"]})
    context = ssl.create_default_context(cafile=config["ca"]) if config["url"].startswith("https:") else None
    try:
        with urllib.request.urlopen(request, timeout=config["timeout"], context=context) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as error:
        try:
            return error.code, json.loads(error.read() or b"null")
        except ValueError:
            return error.code, None
    except (urllib.error.URLError, OSError, ValueError) as error:
        log.warning("no answer from Huddle: %s", error)
        return 0, None


def handler(event, context, config=None, sleep=time.sleep):
    config = config or settings()
    records = event.get("Records", [])
    if not records:
        return {"batchItemFailures": []}
    body = json.dumps({"Records": records}).encode()
    delay = 1.0
    for attempt in range(config["retries"] + 1):
        status, answer = post(config, body)
        if status == 200:
            for error in (answer or {}).get("errors", []):
                record = records[error["index"]] if 0 <= error.get("index", -1) < len(records) else {}
                log.warning("Huddle could not take record %s (%s): %s", error.get("index"),
                            record.get("kinesis", {}).get("sequenceNumber"), error.get("reason"))
            log.info("forwarded %d records: %s applied, %s skipped, %d refused", len(records),
                     (answer or {}).get("applied"), (answer or {}).get("skipped"), len((answer or {}).get("errors", [])))
            return {"batchItemFailures": []}
        if status in (401, 403):
            log.error("Huddle refused the token (%d): %s; the batch waits in Kinesis", status, json.dumps(answer))
            break
        if 400 <= status < 500 and status != 429:
            log.error("Huddle refused the batch with %d: %s; dropped", status, json.dumps(answer))
            return {"batchItemFailures": []}
        remaining = context.get_remaining_time_in_millis() / 1000 if context else float("inf")
        if attempt == config["retries"] or remaining < delay + config["timeout"] + 1:
            break
        log.warning("Huddle answered %d; retrying in %.0f s", status, delay)
        sleep(delay)
        delay *= 2
    # Lambda sends these again (from the first of them, in order).
    return {"batchItemFailures": [{"itemIdentifier": r.get("kinesis", {}).get("sequenceNumber")} for r in records]}
