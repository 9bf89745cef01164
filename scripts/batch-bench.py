#!/usr/bin/env python3
"""Batch benchmark: an N-line JSONL through OpenAI's Batches API of a running host (docs/batches.md, "Benchmark").

    scripts/batch-bench.py --lines 10000 --url http://127.0.0.1:7071 [--max-tokens 16] [--api-key KEY] [--key KEY] [--endpoint /v1/completions]

--api-key is the app's OpenAI key (app setting OpenAi__ApiKey; default: the OPENAI_API_KEY environment variable), sent
as `Authorization: Bearer` to the /v1 routes; --key is the function key, sent as x-functions-key to /api/jobs.

Start the host(s) first (`./run.sh`; for two instances, two local hosts on one Azurite with different --urls and
Batches__InstanceName). Prints lines/minute (create to completed), the time to the first answered lines (first
request_counts.completed > 0, polled every 0.2 s: that chunk's lines are staged in the output file then), the whole
wall time with upload and download, and the output's line count. Storage requests per line: pass Azurite's access log
(`--azurite-log .azurite/azurite.log`, what `scripts/azurite.sh start` writes); requests logged between create and
completed are counted.
Standard library only.

    scripts/batch-bench.py --lines 10000 --start-hosts 2 --jobs-baseline [--azurite-log FILE]

--start-hosts N starts N local hosts (src/LocalHost, Release: `dotnet build src/LocalHost -c Release` and src/Cli first)
on the storage already running (AzureWebJobsStorage, default Azurite on 127.0.0.1:10000; this script never starts or
stops Azurite), on ports 7481.., with a queue, containers and model copy (--model-dir, default models/demo) of their
own and a fresh random OpenAi__ApiKey, and stops them when done; the batch is created on the first, and both work its
chunks. --jobs-baseline then sends the same prompts as jobs of 64 prompts (POST /api/jobs, Jobs__MaxPromptsPerJob=64)
and prints their lines/minute too.
"""
import argparse, atexit, json, os, secrets, signal, socket, subprocess, time, urllib.error, urllib.request, uuid

p = argparse.ArgumentParser()
p.add_argument("--lines", type=int, default=10000)
p.add_argument("--url", default="http://127.0.0.1:7071")
p.add_argument("--max-tokens", type=int, default=16)
p.add_argument("--endpoint", default="/v1/completions")
p.add_argument("--key", help="the function key (x-functions-key) for /api/jobs")
p.add_argument("--api-key", default=os.environ.get("OPENAI_API_KEY"), help="the app's OpenAI key (OpenAi__ApiKey) for /v1")
p.add_argument("--azurite-log")
p.add_argument("--start-hosts", type=int, default=0)
p.add_argument("--model-dir", default="models/demo")
p.add_argument("--jobs-baseline", action="store_true")
a = p.parse_args()
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

def start_hosts(n):
    storage = os.environ.get("AzureWebJobsStorage", "UseDevelopmentStorage=true")
    if storage == "UseDevelopmentStorage=true":
        try:
            socket.create_connection(("127.0.0.1", 10000), timeout=2).close()
        except OSError:
            raise SystemExit("batch-bench: no Azurite on 127.0.0.1:10000; start one (scripts/azurite.sh start) or set AzureWebJobsStorage")
    name = f"bb{int(time.time())}"
    a.api_key = secrets.token_urlsafe(24)  # the hosts' OpenAi__ApiKey, for this run only
    env = {**os.environ, "AzureWebJobsStorage": storage, "DOTNET_CLI_TELEMETRY_OPTOUT": "1"}
    cli = os.path.join(root, "src/Cli/bin/Release/net10.0/serverless.dll")
    dll = os.path.join(root, "src/LocalHost/bin/Release/net10.0/Serverless.LocalHost.dll")
    subprocess.run(["dotnet", cli, "model", "upload", a.model_dir, "--container", f"{name}-models", "--prefix", "m/"], check=True, env=env, stdout=subprocess.DEVNULL)
    urls, procs = [], []
    for i in range(n):
        url = f"http://127.0.0.1:{7481 + i}"
        log = open(f"/tmp/{name}-host{i}.log", "w")
        procs.append(subprocess.Popen(["setsid", "dotnet", dll, "--urls", url, f"--PromptJobsQueue={name}-jobs", f"--JobsContainer={name}-jobs",
            f"--CompletionsContainer={name}-out", f"--BatchQueue={name}-batch", f"--BatchesContainer={name}-batches", f"--BatchFilesContainer={name}-files",
            f"--Model:Container={name}-models", "--Model:Prefix=m/", f"--Model:CacheDirectory=/tmp/{name}-cache{i}", "--Jobs:MaxPromptsPerJob=64",
            f"--Batches:InstanceName=host{i}", f"--OpenAi:ApiKey={a.api_key}"], stdout=log, stderr=subprocess.STDOUT, env=env))
        urls.append(url)
    atexit.register(lambda: [os.killpg(q.pid, signal.SIGTERM) for q in procs if q.poll() is None])
    for url in urls:
        for _ in range(240):
            try:
                urllib.request.urlopen(url + "/api/jobs/ping", timeout=2)
                break
            except urllib.error.HTTPError:
                break  # the API's own 404: up
            except OSError:
                time.sleep(0.5)
    print(f"started {n} local host(s): {', '.join(urls)} (logs /tmp/{name}-host*.log)")
    return urls[0], name

if a.start_hosts: a.url, host_name = start_hosts(a.start_hosts)
base = a.url.rstrip("/") + "/api/v1/"
headers = {"x-functions-key": a.key} if a.key else {}
v1_headers = {"Authorization": f"Bearer {a.api_key}"} if a.api_key else {}

def call(method, path, body=None, content_type="application/json"):
    req = urllib.request.Request(base + path, data=body, method=method, headers={**v1_headers, **({"Content-Type": content_type} if body else {})})
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
    if not a.azurite_log: return 0
    with open(a.azurite_log, "rb") as f:
        return sum(1 for l in f if b' HTTP/1.' in l)  # one access-log line per request ("GET /path HTTP/1.1" 200 …)

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
output_lines = output.count(b"\n")
print(f"wall time with upload and download: {t_end - t0:.1f} s; output lines: {output_lines}")
if a.azurite_log: print(f"storage requests per line (Azurite access log, create → completed, all instances): {requests / a.lines:.2f}")

if a.start_hosts:
    # Who did the work: each host logs one line per chunk it answered (BatchWorker, "Chunk N of batch B answered by").
    for i in range(a.start_hosts):
        with open(f"/tmp/{host_name}-host{i}.log", encoding="utf-8", errors="replace") as log:
            chunks = sum(1 for l in log if batch["id"] in l and "answered by" in l)
        print(f"host{i}: answered {chunks} chunk(s)")

if a.jobs_baseline:
    # The same prompts as jobs of 64 (the most a job holds with Jobs__MaxPromptsPerJob=64), all submitted, then awaited.
    api = a.url.rstrip("/") + "/api/"
    def job_call(method, path, body=None):
        req = urllib.request.Request(api + path, data=body, method=method, headers={**headers, **({"Content-Type": "application/json"} if body else {})})
        with urllib.request.urlopen(req, timeout=600) as r:
            return json.loads(r.read())
    prompts = [f"Where is Ganymede located in the solar system? ({i})" for i in range(a.lines)]
    t_jobs = time.monotonic()
    ids = [job_call("POST", "jobs", json.dumps({"prompts": prompts[i:i + 64], "parameters": {"max_new_tokens": a.max_tokens}}).encode())["id"]
           for i in range(0, len(prompts), 64)]
    pending = set(ids)
    while pending:
        time.sleep(0.5)
        pending = {i for i in pending if job_call("GET", f"jobs/{i}")["status"] not in ("succeeded", "failed", "cancelled")}
    print(f"same prompts as {len(ids)} jobs of 64: lines/minute {a.lines / ((time.monotonic() - t_jobs) / 60):.0f}")
