#!/usr/bin/env bash
# Benchmark-style check (not a unit test): how long a killed instance's jobs take to finish elsewhere (issue 25).
#   usage: scripts/kill-mid-job.sh            (MODES="off failover" JOBS=20 ... scripts/kill-mid-job.sh)
# For each mode of MODES (default "off failover": before and after, in one run):
#   1. starts two local hosts (Release) on one storage account, one queue and one set of containers per mode, the demo
#      model, default failover settings (heartbeat 15 s, dead after 60 s, sweep 15 s) or Failover__Enabled=false ("off");
#   2. submits JOBS jobs (default 20) of PROMPTS prompts (default 8) × 512 tokens, waits until the host that holds the
#      most of them is part-way through one, and kill -9s that host (its whole process group); the other host runs on;
#   3. polls every 5 s until all jobs are succeeded or failed and prints the seconds from the kill to the last job
#      finished ("kill-mid-job: MODE: all N jobs finished S s after the kill"), then each job's attempts and owner.
# With "off", the killed host's jobs come back only when the queue listener's lease on their message ends (~600 s: the
# WebJobs queue extension's own, renewed while the function runs; QueuesOptions has no setting for it).
# Storage: AzureWebJobsStorage, default Azurite on 127.0.0.1:10000-10002, which must be running already (this script
# never starts or stops one: `scripts/azurite.sh start` reuses a running Azurite and starts one otherwise). For the
# requests the heartbeats and leases cost, read the access log `scripts/azurite.sh start` writes
# (.azurite/azurite.log) with `scripts/storage-requests.py --failover`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
modes="${MODES:-off failover}"
jobs_count="${JOBS:-20}"
prompts="${PROMPTS:-8}"
base_port="${PORT:-7392}"
limit="${LIMIT_SECONDS:-1200}"
export AzureWebJobsStorage="${AzureWebJobsStorage:-UseDevelopmentStorage=true}"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

if [ "$AzureWebJobsStorage" = UseDevelopmentStorage=true ] && ! (exec 3<>/dev/tcp/127.0.0.1/10000) 2>/dev/null; then
  echo "kill-mid-job: no Azurite on 127.0.0.1:10000; start one (scripts/azurite.sh start) or set AzureWebJobsStorage" >&2; exit 1
fi

pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM -- "-$p" 2>/dev/null || true; done; }
trap cleanup EXIT

dotnet build src/LocalHost/LocalHost.csproj -c Release -nologo -v quiet -clp:ErrorsOnly
dotnet build src/Cli/Cli.csproj -c Release -nologo -v quiet -clp:ErrorsOnly

status_of() { curl -s "$1/api/jobs/$2" | grep -o '"status":"[a-z]*"' | head -n 1 | cut -d'"' -f4; }

run_mode() {
  local mode="$1" name state urls=() instances=() i
  name="kill$(date +%s)$mode"
  state="${TMPDIR:-/tmp}/serverless-kill-mid-job/$name"
  mkdir -p "$state"
  dotnet src/Cli/bin/Release/net10.0/serverless.dll model upload models/demo --container "$name-models" --prefix demo/ >/dev/null
  local enabled=true; [ "$mode" = off ] && enabled=false
  pids=()
  for i in 0 1; do
    local port=$((base_port + i)) instance="$name-host$i"
    urls+=("http://127.0.0.1:$port"); instances+=("$instance")
    # setsid: the host's own process group, so that the kill takes everything it started.
    setsid dotnet src/LocalHost/bin/Release/net10.0/Serverless.LocalHost.dll --urls "http://127.0.0.1:$port" \
      --PromptJobsQueue="$name" --JobsContainer="$name-jobs" --CompletionsContainer="$name-completions" \
      --BatchQueue="$name-batch" --BatchesContainer="$name-batches" --BatchFilesContainer="$name-batch-files" \
      --Model:Container="$name-models" --Model:Prefix=demo/ --Model:CacheDirectory="$state/cache$i" \
      --Jobs:MaxPromptsPerJob="$prompts" --Failover:Enabled="$enabled" --Failover:InstanceId="$instance" >>"$state/host$i.log" 2>&1 &
    pids+=($!)
  done
  for url in "${urls[@]}"; do
    for _ in $(seq 1 240); do curl -s -o /dev/null "$url/api/jobs/ping" && break; sleep 0.5; done
  done
  local ids=() prompt_list
  prompt_list=$(seq 1 "$prompts" | sed 's/.*/"prompt &: where is Ganymede?"/' | paste -sd, -)
  for i in $(seq 1 "$jobs_count"); do
    ids+=("$(curl -s -X POST "${urls[$((i % 2))]}/api/jobs" -H 'content-type: application/json' \
      -d "{\"prompts\": [$prompt_list], \"parameters\": {\"max_new_tokens\": 512, \"min_new_tokens\": 512}}" \
      | sed -n 's/.*"id":"\([^"]*\)".*/\1/p')")
  done
  echo "kill-mid-job: $mode: submitted ${#ids[@]} jobs of $prompts prompts to queue $name (logs: $state)"
  # Once a job has progress (part-way through), the victim is the host holding the most invocations right now (started
  # less finished, from its log): on a fast machine a host can have finished its share before the look.
  local victim="" running=0
  for _ in $(seq 1 1200); do
    running=0
    for id in "${ids[@]}"; do
      curl -s "${urls[0]}/api/jobs/$id" | grep -q '"prompts_done":[1-9]' && running=$((running + 1))
    done
    [ "$running" -gt 0 ] && break; sleep 0.1
  done
  local c0 c1
  held() { echo $(( $(grep -c "Executing 'ProcessJob'" "$1" || true) - $(grep -c "Executed 'ProcessJob'" "$1" || true) )); }
  c0=$(held "$state/host0.log")
  c1=$(held "$state/host1.log")
  if [ "$c0" -ge "$c1" ]; then victim=0; else victim=1; fi
  kill -KILL -- "-${pids[$victim]}"; local killed_at; killed_at=$(date +%s)
  local survivor=$((1 - victim)) url="${urls[$((1 - victim))]}"
  echo "kill-mid-job: $mode: killed host$victim (kill -9) with $running job(s) part-way; host$survivor runs on"
  while :; do
    local elapsed=$(( $(date +%s) - killed_at )) done_count=0 summary
    summary=$(for id in "${ids[@]}"; do status_of "$url" "$id"; done | sort | uniq -c | awk '{printf "%s %s, ", $1, $2}')
    for id in "${ids[@]}"; do case "$(status_of "$url" "$id")" in succeeded|failed) done_count=$((done_count + 1));; esac; done
    echo "  +${elapsed}s: ${summary%, }"
    if [ "$done_count" -eq "${#ids[@]}" ]; then
      echo "kill-mid-job: $mode: all ${#ids[@]} jobs finished ${elapsed} s after the kill"; break
    fi
    if [ "$elapsed" -ge "$limit" ]; then echo "kill-mid-job: $mode: gave up after ${limit} s: not every job finished" >&2; return 1; fi
    sleep 5
  done
  for id in "${ids[@]}"; do
    local body; body=$(curl -s "$url/api/jobs/$id")
    echo "  $id: $(echo "$body" | grep -o '"status":"[a-z]*"' | head -n1 | cut -d'"' -f4), attempts $(echo "$body" | grep -o '"attempts":[0-9]*' | cut -d: -f2)"
  done
  cleanup; sleep 3; pids=()
}

for mode in $modes; do run_mode "$mode"; done
