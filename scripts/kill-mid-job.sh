#!/usr/bin/env bash
# Benchmark-style check (not a unit test): what happens to jobs whose worker dies mid-run.
#   1. builds and starts the local host (Release) on its own queue and containers, with the demo model;
#   2. submits JOBS jobs (default 6) that each generate 512 tokens, waits until one is running, and kill -9s the host;
#   3. restarts the host and prints every job's status every 15 s until all are succeeded or failed.
# The jobs that were running come back only when the queue listener's lease on their message ends: about 10 minutes.
# That lease is the WebJobs queue extension's own (fixed in its QueueListener, renewed while the function runs), not
# host.json's visibilityTimeout, and QueuesOptions has no setting for it, so this script cannot shorten it.
# Needs Azurite (scripts/azurite.sh start) or AzureWebJobsStorage. Prints the time from the kill to the last job done.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
jobs_count="${JOBS:-6}"
port="${PORT:-7392}"
url="http://127.0.0.1:$port"
limit="${LIMIT_SECONDS:-1200}"
name="kill$(date +%s)"
state="${TMPDIR:-/tmp}/serverless-kill-mid-job/$name"
mkdir -p "$state"
export AzureWebJobsStorage="${AzureWebJobsStorage:-UseDevelopmentStorage=true}"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

host_pid=""
cleanup() { if [ -n "$host_pid" ] && kill -0 "$host_pid" 2>/dev/null; then kill -TERM "$host_pid" 2>/dev/null || true; fi; }
trap cleanup EXIT

dotnet build src/LocalHost/LocalHost.csproj -c Release -nologo -v quiet -clp:ErrorsOnly
dotnet build src/Cli/Cli.csproj -c Release -nologo -v quiet -clp:ErrorsOnly
dotnet src/Cli/bin/Release/net10.0/serverless.dll model upload models/demo --container "$name-models" --prefix demo/ >/dev/null

start_host() {
  dotnet src/LocalHost/bin/Release/net10.0/Serverless.LocalHost.dll --urls "$url" \
    --PromptJobsQueue="$name" --JobsContainer="$name-jobs" --CompletionsContainer="$name-completions" \
    --Model:Container="$name-models" --Model:Prefix=demo/ --Model:CacheDirectory="$state/cache" >>"$state/host.log" 2>&1 &
  host_pid=$!
  for _ in $(seq 1 120); do curl -s -o /dev/null "$url/api/jobs/ping" && return 0; sleep 0.5; done
  echo "kill-mid-job: the host did not start; see $state/host.log" >&2; exit 1
}
# One line per call (the JSON has no trailing newline, and sed would keep it that way).
status_of() { curl -s "$url/api/jobs/$1" | grep -o '"status":"[a-z]*"' | head -n 1 | cut -d'"' -f4; }

start_host
ids=()
for i in $(seq 1 "$jobs_count"); do
  ids+=("$(curl -s -X POST "$url/api/jobs" -H 'content-type: application/json' \
    -d "{\"prompt\": \"Job $i: where is Ganymede?\", \"parameters\": {\"max_new_tokens\": 512, \"min_new_tokens\": 512}}" \
    | sed -n 's/.*"id":"\([^"]*\)".*/\1/p')")
done
echo "submitted ${#ids[@]} jobs to queue $name"
for _ in $(seq 1 600); do
  running=0; for id in "${ids[@]}"; do [ "$(status_of "$id")" = running ] && running=$((running + 1)); done
  [ "$running" -gt 0 ] && break; sleep 0.1
done
kill -KILL "$host_pid"; killed_at=$(date +%s); host_pid=""
echo "killed the host (kill -9) with $running job(s) running"
sleep 2
start_host
echo "host restarted; polling every 15 s (limit ${limit} s)"
while :; do
  elapsed=$(( $(date +%s) - killed_at ))
  summary=$(for id in "${ids[@]}"; do status_of "$id"; done | sort | uniq -c | awk '{printf "%s %s, ", $1, $2}')
  done_count=0; for id in "${ids[@]}"; do case "$(status_of "$id")" in succeeded|failed) done_count=$((done_count + 1));; esac; done
  echo "  +${elapsed}s: ${summary%, }"
  if [ "$done_count" -eq "${#ids[@]}" ]; then echo "all ${#ids[@]} jobs finished ${elapsed} s after the kill"; break; fi
  if [ "$elapsed" -ge "$limit" ]; then echo "gave up after ${limit} s: not every job finished" >&2; exit 1; fi
  sleep 15
done
for id in "${ids[@]}"; do
  attempts=$(curl -s "$url/api/jobs/$id" | grep -o '"attempts":[0-9]*' | cut -d: -f2)
  echo "  $id: $(status_of "$id"), attempts $attempts"
done
