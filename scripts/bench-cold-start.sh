#!/usr/bin/env bash
# Cold start of a new instance, broken down by phase: the real Azure Functions host (../shared/functions-host) and the
# local host, the fp32 export and its 8-bit copy, each run on an empty model cache, its own queue and containers.
# A run starts the host, submits one job as soon as the API takes it, waits for it to succeed, and prints when each
# phase ended, in seconds from the host's start:
#   api        the submit answered 202 (host start, function indexing, the HTTP pipeline)
#   worker     the worker process started (/proc; under the local host, the host's own process)
#   load       the model's load began (with the warm-up: the worker's host built, so worker start and JIT end there)
#   listed     the model's prefix listed and its manifest read
#   fetched    its files downloaded, hashed on the way (hash_ms: SHA-256 time in it, summed over parallel files)
#   ready      ONNX Runtime's sessions created: the model loaded (load_s: fetch + sessions, as the worker logs it)
#   started    the job's record went to running (the message picked up)
#   1st token  the job's first token (its completion time less the prompt's total_ms - first_token_ms)
#   done       the job's record says succeeded (completed_at; `client` is when the script saw it)
# Model phases come from the app's cold-start log line (src/Jobs/Models/ModelLoadLog.cs); a tree without it (the code
# before issue 26) shows only `load_s`, from "loaded the model in N ms". Job times come from the job's record.
#   usage: scripts/bench-cold-start.sh
#   ROUNDS=1  HOSTS="functions-host local"  PRECISIONS="fp32 int8"  MODEL_DIR=.models/flan-t5-small-random
#   BEFORE_TREE=DIR   another checkout (e.g. the main branch) run beside this one, in alternating order each round
#   MAX_NEW_TOKENS=32 the job's max_new_tokens (forced with min_new_tokens: the same work on every run)
# The 8-bit export is `serverless model quantize MODEL_DIR --bits 8` into a cache outside the clone (made once; MODEL_DIR
# is only read). Needs Azurite on 127.0.0.1 (the running one is reused and never stopped; else started and stopped here),
# curl and python3. Prints figures; it is not a test: run it on an idle machine. Stops the hosts it started.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

rounds="${ROUNDS:-1}"
hosts="${HOSTS:-functions-host local}"
precisions="${PRECISIONS:-fp32 int8}"
model_dir="$(cd "${MODEL_DIR:-$root/.models/flan-t5-small-random}" && pwd)"
before_tree="${BEFORE_TREE:+$(cd "$BEFORE_TREE" && pwd)}"
max_new_tokens="${MAX_NEW_TOKENS:-32}"
export AzureWebJobsStorage="${AzureWebJobsStorage:-UseDevelopmentStorage=true}"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
for tool in curl python3; do command -v "$tool" >/dev/null || { echo "bench-cold-start.sh: $tool is required" >&2; exit 1; }; done

work="$(mktemp -d "${TMPDIR:-/tmp}/bench-cold-start.XXXXXX")"
run_id="$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
host_pid=""
started_azurite=0
stop_host() {
  if [ -n "$host_pid" ]; then
    kill -TERM -- "-$host_pid" 2>/dev/null || true
    for _ in $(seq 1 75); do kill -0 "$host_pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL -- "-$host_pid" 2>/dev/null || true
    host_pid=""
  fi
}
cleanup() {
  local rc=$?
  stop_host
  rm -rf "$work"/cache-*
  [ "$started_azurite" = 1 ] && scripts/azurite.sh stop || true
  echo "bench-cold-start.sh: logs in $work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
now_ms() { date +%s%3N; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
if [ "$AzureWebJobsStorage" = "UseDevelopmentStorage=true" ] && ! { port_open 10000 && port_open 10001; }; then
  scripts/azurite.sh start; started_azurite=1
fi

# Builds: each tree's Functions publish (the real host's app) and local host; this tree's CLI.
trees=(after)
declare -A tree_dir=([after]="$root")
if [ -n "$before_tree" ]; then trees+=(before); tree_dir[before]="$before_tree"; fi
declare -A app_dir
for tree in "${trees[@]}"; do
  dir="${tree_dir[$tree]}"
  echo "== build $tree ($dir)"
  if [[ " $hosts " == *" functions-host "* ]]; then
    publish_started=$(now_ms)
    prepared="$(E2E_FUNCTIONS_APP_DIR="$work/app-$tree" bash "$dir/scripts/functions-host.sh" prepare)"
    echo "   publish + host build: $(( ($(now_ms) - publish_started) / 1000 )) s"
    while IFS='=' read -r name value; do
      case "$name" in
        E2E_FUNCTIONS_HOST_SRC) host_src="$value" ;;
        E2E_FUNCTIONS_HOST_DIR) host_dir="$value" ;;
      esac
    done <<< "$prepared"
    app_dir[$tree]="$work/app-$tree"
  fi
  [[ " $hosts " == *" local "* ]] && dotnet build "$dir/src/LocalHost/LocalHost.csproj" -c Release -nologo -v quiet -clp:ErrorsOnly >/dev/null
  dotnet build "$dir/src/Cli/Cli.csproj" -c Release -nologo -v quiet -clp:ErrorsOnly >/dev/null
done
cli=(dotnet "$root/src/Cli/bin/Release/net10.0/serverless.dll")
if [[ " $hosts " == *" functions-host "* ]] && [ -z "${host_dir:-}" ]; then
  echo "bench-cold-start.sh: no real host (../shared/functions-host missing; E2E_FUNCTIONS_HOST_SRC)" >&2; exit 1
fi

# The models: uploaded once per run and tree, with that tree's own CLI (an upload may store the graphs differently: since
# issue 26 the weights go to <graph>.onnx_data), read by every host (each with its own empty cache).
models="coldstart-models-$run_id"
for precision in $precisions; do
  case "$precision" in
    fp32) dir="$model_dir" ;;
    int8)
      dir="${XDG_CACHE_HOME:-$HOME/.cache}/serverless/bench-cold-start/int8-$(printf '%s' "$model_dir" | sha256sum | cut -c1-12)"
      if [ ! -f "$dir.complete" ] || [ "$model_dir/config.json" -nt "$dir.complete" ]; then
        echo "== quantize $model_dir (8-bit) into $dir"
        rm -rf "$dir"
        "${cli[@]}" model quantize "$model_dir" --bits 8 --out "$dir" >/dev/null
        touch "$dir.complete"
      fi
      ;;
    *) echo "bench-cold-start.sh: unknown precision '$precision' (fp32, int8)" >&2; exit 2 ;;
  esac
  for tree in "${trees[@]}"; do
    echo "== upload $precision ($dir) with the $tree tree's CLI"
    dotnet "${tree_dir[$tree]}/src/Cli/bin/Release/net10.0/serverless.dll" model upload "$dir" --container "$models" \
      --prefix "$tree-$precision/" --connection "$AzureWebJobsStorage" | tail -2
  done
done

# worker_started_ms SESSION: start time (Unix ms) of the worker process in the host's session, from /proc.
worker_started_ms() {
  python3 - "$1" <<'EOF'
import os, sys, time
session = int(sys.argv[1])
hz = os.sysconf("SC_CLK_TCK")
boot = time.time() - float(open("/proc/uptime").read().split()[0])
best = None
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        stat = open(f"/proc/{pid}/stat").read()
        cmd = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        continue
    fields = stat[stat.rindex(")") + 2:].split()
    if int(fields[3]) != session: continue  # field 6: session id
    if "Serverless.Functions.dll" in cmd or "Serverless.LocalHost.dll" in cmd:
        started = boot + int(fields[19]) / hz  # field 22: start time in clock ticks after boot
        best = started if best is None else min(best, started)
print("" if best is None else int(best * 1000))
EOF
}

# phases NAME LOG T0 API_MS DONE_MS WORKER_MS JOB_JSON: one row of the table.
phases() {
  python3 - "$@" <<'EOF'
import json, re, sys
from datetime import datetime
name, log, t0, api, done, worker, job = sys.argv[1:8]
t0, api, done = int(t0), int(api), int(done)
text = open(log, errors="replace").read()
def ms(iso):  # ISO 8601 with a UTC offset, as .NET's "O" prints it (7 fraction digits)
    iso = re.sub(r"(\.\d{6})\d+", r"\1", iso.replace("Z", "+00:00"))
    return datetime.fromisoformat(iso).timestamp() * 1000
def s(at): return "" if at is None else f"{(at - t0) / 1000:.2f}"
row = {"run": name, "api": s(api), "worker": s(int(worker)) if worker else ""}
m = re.search(r"Model \S+ loaded: started (\S+); listed in (\d+) ms; fetched (\d+) bytes in (\d+) files in (\d+) ms \(hashing (\d+) ms of it\);"
              r".*?sessions in (\d+) ms; ready (\S+),", text)
extra = {}
if m:
    begun = ms(m.group(1).rstrip(";"))
    listed = begun + int(m.group(2)); fetched = listed + int(m.group(5))
    row.update({"load": s(begun), "listed": s(listed), "fetched": s(fetched), "ready": s(ms(m.group(8)))})
    extra = {"MB": f"{int(m.group(3)) / 1e6:.0f}", "fetch_s": f"{int(m.group(5)) / 1000:.2f}", "hash_ms": m.group(6),
             "sessions_s": f"{int(m.group(7)) / 1000:.2f}"}
else:
    row.update({"load": "", "listed": "", "fetched": "", "ready": ""})
m = re.search(r"loaded the model in (\d+) ms", text)
extra["load_s"] = f"{int(m.group(1)) / 1000:.2f}" if m else "(warm)"
record = json.loads(job)
started = ms(record["started_at"]) if record.get("started_at") else None
completed = ms(record["completed_at"]) if record.get("completed_at") else None
first = None
if completed and record.get("results"):
    r = record["results"][0]
    first = completed - (r["total_ms"] - r["first_token_ms"])
row.update({"started": s(started), "1st token": s(first), "done": s(completed), "client": s(done)})
row.update(extra)
print(json.dumps(row))
EOF
}

rows=()
prompt='{"prompt": "Where is Ganymede located in the solar system?", "parameters": {"max_new_tokens": '"$max_new_tokens"', "min_new_tokens": '"$max_new_tokens"'}}'
run_one() {
  local tree=$1 host=$2 precision=$3 round=$4
  local name="$host $precision $tree r$round" suffix key port url log settings id status job
  suffix="$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
  key="bench-key-$suffix"; port="$(free_port)"; url="http://127.0.0.1:$port"
  log="$work/$host-$precision-$tree-r$round.log"
  settings=(PromptJobsQueue="cold-$suffix" JobsContainer="cold-jobs-$suffix" CompletionsContainer="cold-out-$suffix"
            Model__Container="$models" Model__Prefix="$tree-$precision/" Model__CacheDirectory="$work/cache-$suffix")
  [ "$precision" = int8 ] && settings+=(Model__UseQuantized=true)
  echo "== $name (load $(cut -d' ' -f1-3 /proc/loadavg))"
  local t0; t0=$(now_ms)
  case "$host" in
    functions-host)
      env "${settings[@]}" FUNCTION_KEY="$key" SECRETS_DIR="$work/secrets-$suffix" \
        setsid bash "$host_src/start.sh" "${app_dir[$tree]}" "$port" "$host_dir" >"$log" 2>&1 &
      ;;
    local)
      env "${settings[@]}" LocalHost__FunctionKey="$key" \
        setsid dotnet "${tree_dir[$tree]}/src/LocalHost/bin/Release/net10.0/Serverless.LocalHost.dll" --urls "$url" >"$log" 2>&1 &
      ;;
    *) echo "bench-cold-start.sh: unknown host '$host' (functions-host, local)" >&2; exit 2 ;;
  esac
  host_pid=$!
  id=""
  for _ in $(seq 1 1200); do
    kill -0 "$host_pid" 2>/dev/null || { echo "bench-cold-start.sh: $host exited; log:" >&2; tail -n 40 "$log" >&2; exit 1; }
    reply="$(curl -s -m 5 -w '\n%{http_code}' -X POST "$url/api/jobs" -H "x-functions-key: $key" -H 'content-type: application/json' -d "$prompt" || true)"
    if [ "$(tail -n1 <<< "$reply")" = 202 ]; then id="$(head -n1 <<< "$reply" | sed -E 's/.*"id":"([^"]+)".*/\1/')"; break; fi
    sleep 0.05
  done
  local api; api=$(now_ms)
  [ -n "$id" ] || { echo "bench-cold-start.sh: $host did not accept a job within a minute; log: $log" >&2; exit 1; }
  status=""
  for _ in $(seq 1 2400); do
    job="$(curl -s -m 5 "$url/api/jobs/$id" -H "x-functions-key: $key" || true)"
    status="$(grep -o '"status":"[a-z_]*"' <<< "$job" | head -1 | cut -d'"' -f4 || true)"
    [ "$status" = succeeded ] || [ "$status" = failed ] && break
    sleep 0.05
  done
  local done_ms; done_ms=$(now_ms)
  [ "$status" = succeeded ] || { echo "bench-cold-start.sh: the job on $name ended '$status'; log: $log" >&2; exit 1; }
  local worker; worker="$(worker_started_ms "$host_pid")"
  sleep 0.5   # the last log lines
  stop_host
  rm -rf "$work/cache-$suffix"*
  rows+=("$(phases "$name" "$log" "$t0" "$api" "$done_ms" "$worker" "$job")")
  echo "${rows[-1]}"
}

for round in $(seq 1 "$rounds"); do
  order=("${trees[@]}")
  # Alternate which tree goes first, so that neither always meets the machine in the same state.
  if [ $((round % 2)) = 0 ] && [ "${#trees[@]}" = 2 ]; then order=(before after); fi
  for host in $hosts; do
    for precision in $precisions; do
      for tree in "${order[@]}"; do run_one "$tree" "$host" "$precision" "$round"; done
    done
  done
done

echo
echo "== cold start by phase, seconds from host start ($(nproc) cores, $(date -u +%FT%TZ), model $(basename "$model_dir"), $max_new_tokens new tokens)"
printf '%s\n' "${rows[@]}" | python3 -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin if l.strip()]
cols = ["run", "api", "worker", "load", "listed", "fetched", "ready", "started", "1st token", "done", "client", "MB", "fetch_s", "hash_ms", "sessions_s", "load_s"]
print("| " + " | ".join(cols) + " |")
print("|" + "---|" * len(cols))
for r in rows: print("| " + " | ".join(str(r.get(c, "")) for c in cols) + " |")
'
