#!/usr/bin/env python3
"""Batch benchmark: an N-line JSONL through OpenAI's Batches API of a running host (docs/batches.md, "Benchmark").

    scripts/batch-bench.py --lines 10000 --url http://127.0.0.1:7071 [--max-tokens 16] [--key KEY] [--endpoint /v1/completions]

Start the host(s) first (`./run.sh`; for two instances, two local hosts on one Azurite with different --urls and
Batches__InstanceName). Prints lines/minute (create to completed), the time to the first answered lines (first
request_counts.completed > 0, polled every 0.2 s: that chunk's lines are staged in the output file then), the whole
wall time with upload and download, and the output's line count. Storage requests per line: run Azurite with
`--debug FILE` and pass `--azurite-debug FILE`; requests logged between create and completed are counted.
Standard library only.
"""
import argparse, json, time, urllib.request, uuid

p = argparse.ArgumentParser()
p.add_argument("--lines", type=int, default=10000)
p.add_argument("--url", default="http://127.0.0.1:7071")
p.add_argument("--max-tokens", type=int, default=16)
p.add_argument("--endpoint", default="/v1/completions")
p.add_argument("--key")
p.add_argument("--azurite-debug")
a = p.parse_args()
base = a.url.rstrip("/") + "/api/v1/"
headers = {"x-functions-key": a.key} if a.key else {}

def call(method, path, body=None, content_type="application/json"):
    req = urllib.request.Request(base + path, data=body, method=method, headers={**headers, **({"Content-Type": content_type} if body else {})})
    with urllib.request.urlopen(req, timeout=600) as r:
        return r.read()

def line(i):
    body = {"model": "flan-t5", "max_tokens": a.max_tokens}
    if a.endpoint == "/v1/chat/completions":
        body["messages"] = [{"role": "user", "content": f"Where is Ganymede located in the solar system? ({i})"}]
    else:
        body["prompt"] = f"Where is Ganymede located in the solar system? ({i})"
    return json.dumps({"custom_id": f"bench-{i}", "method": "POST", "url": a.endpoint, "body": body})

def log_lines():
    if not a.azurite_debug: return 0
    with open(a.azurite_debug, "rb") as f:
        return sum(1 for l in f if b"Request URL" in l or b"RequestHandler" in l)

jsonl = ("\n".join(line(i) for i in range(a.lines)) + "\n").encode()
boundary = uuid.uuid4().hex
form = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n"
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"bench.jsonl\"\r\nContent-Type: application/jsonl\r\n\r\n").encode() \
    + jsonl + f"\r\n--{boundary}--\r\n".encode()
t0 = time.monotonic()
file = json.loads(call("POST", "files", form, f"multipart/form-data; boundary={boundary}"))
requests_before = log_lines()
t_create = time.monotonic()
batch = json.loads(call("POST", "batches", json.dumps({"input_file_id": file["id"], "endpoint": a.endpoint, "completion_window": "24h"}).encode()))
first = None
while batch["status"] not in ("completed", "failed", "cancelled", "expired"):
    time.sleep(0.2)
    batch = json.loads(call("GET", f"batches/{batch['id']}"))
    if first is None and batch["request_counts"]["completed"] > 0: first = time.monotonic() - t_create
t_done = time.monotonic()
requests = log_lines() - requests_before
output = call("GET", f"files/{batch['output_file_id']}/content") if batch.get("output_file_id") else b""
t_end = time.monotonic()

c = batch["request_counts"]
print(f"batch {batch['id']}: {batch['status']}, {c['completed']} completed / {c['failed']} failed of {c['total']}")
print(f"lines/minute (create → completed): {a.lines / ((t_done - t_create) / 60):.0f}")
print(f"time to first answered lines: {first:.1f} s" if first is not None else "time to first answered lines: (finished before the first poll)")
print(f"wall time with upload and download: {t_end - t0:.1f} s; output lines: {output.count(b'\n')}")
if a.azurite_debug: print(f"storage requests per line (Azurite debug log, create → completed, all instances): {requests / a.lines:.2f}")
