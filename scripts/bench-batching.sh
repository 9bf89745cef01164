#!/usr/bin/env bash
# Dynamic batching on or off, same machine, same storage, same model: two local hosts up at once (batched on one
# port, Jobs__DynamicBatching=false with the queue settings before batching, 3 messages in flight, on the other), each
# on its own queue and containers. Each round runs every benchmark on the batched host, then on the unbatched one, and
# prints `serverless jobs bench`'s JSON line for each, with the load average; at the end the peak RSS of each host.
#   usage: scripts/bench-batching.sh           (ROUNDS=2 MODEL_DIR=.models/flan-t5-small-random THREADS=2)
#   BENCHES='--jobs 64 --concurrency 16 ...|--jobs 8 --concurrency 1 ...' overrides the benchmarks (| separates them).
#   BATCHED_ENV='NAME=VALUE ...' adds settings to the batched host only (e.g. a host.json override to try);
#   UNBATCHED_ENV='...' replaces the unbatched host's (default: batchSize 2, newBatchThreshold 1, the settings before
#   batching); UNBATCHED_ENV= (empty) runs it with host.json as the batched one has it, only Jobs__DynamicBatching=false.
# Default benchmarks (issue 12): 64 single-prompt jobs, 16 in flight; one job at a time (latency on an idle instance,
# read `recorded_p50_ms`: created_at → completed_at, free of client polling); a 64-prompt job beside 16 single-prompt
# jobs; and (issue 21) the same 64 jobs, 16 in flight, with 4 streamed completions (POST /api/completions, stream)
# running beside them the whole time: compare its `aggregate_tokens_per_second` (jobs + streams) with the jobs-only
# run's `tokens_per_second`. All with 64-token prompts and 64 forced new tokens, greedy. After each run the host's
# decode batches of that run ("Decode batch N: R row(s)" in its log: rows at a batch's start) as rows: count; streams
# that start with the jobs' batches show as batches of more than 16 rows (rows that join a running batch do not show).
#   A quick check that it runs: BENCHES='--jobs 4 --concurrency 4 --streams 2 --prompt-tokens 8 --max-new-tokens 8 --forced' ROUNDS=1
# Needs Azurite on 127.0.0.1 (reused when running, else started and stopped here) and the flan-t5-small-shaped model
# (scripts/make-bench-model.sh, ~2 min). Prints figures; it is not a test. Stops the hosts it started (process group).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

rounds="${ROUNDS:-2}"
model_dir="${MODEL_DIR:-$root/.models/flan-t5-small-random}"
threads="${THREADS:-2}"
shape="--prompt-tokens 64 --max-new-tokens 64 --forced"
benches="${BENCHES:---jobs 64 --concurrency 16 $shape|--jobs 8 --concurrency 1 $shape|--jobs 16 --concurrency 16 --mixed-prompts 64 $shape|--jobs 64 --concurrency 16 --streams 4 $shape}"
export AzureWebJobsStorage="${AzureWebJobsStorage:-UseDevelopmentStorage=true}"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

[ -d "$model_dir" ] || { echo "bench-batching.sh: no model at $model_dir; run scripts/make-bench-model.sh first" >&2; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/bench-batching.XXXXXX")"
run_id="$(date +%s)"
pids=()
started_azurite=0
cleanup() {
  local rc=$?
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  done
  # Storage requests per job of each host (warm-ups included), from the access log of the Azurite it started.
  if [ "$started_azurite" = 1 ]; then
    for host in batched "${second:-unbatched}"; do python3 scripts/storage-requests.py .azurite/azurite.log "bench-$host-" || true; done
  fi
  [ "$started_azurite" = 1 ] && scripts/azurite.sh stop || true
  # The hosts' model caches are a copy of the model each (0.7 GB per run): keep only the logs.
  rm -rf "$work"/cache-*
  echo "bench-batching.sh: logs in $work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if [ "$AzureWebJobsStorage" = "UseDevelopmentStorage=true" ] && ! port_open 10000; then
  scripts/azurite.sh start
  started_azurite=1
elif [ "$AzureWebJobsStorage" = "UseDevelopmentStorage=true" ]; then
  echo "bench-batching.sh: reusing the running Azurite; its in-memory store keeps every run's model upload (0.4-0.8 GB)," \
    "which slows it down run after run: stop it (scripts/azurite.sh stop) for figures from a fresh one" >&2
fi

dotnet build src/LocalHost/LocalHost.csproj -c Release -nologo -v quiet -clp:ErrorsOnly
before_tree="${BEFORE_TREE:-}"
[ -z "$before_tree" ] || dotnet build "$before_tree/src/LocalHost/LocalHost.csproj" -c Release -nologo -v quiet -clp:ErrorsOnly
dotnet build src/Cli/Cli.csproj -c Release -nologo -v quiet -clp:ErrorsOnly
cli=(dotnet "$root/src/Cli/bin/Release/net10.0/serverless.dll")
models="bench-models-$run_id"
"${cli[@]}" model upload "$model_dir" --container "$models" --prefix flan/ | tail -2

# start_host NAME PORT BATCHING [ENV=VALUE...]  (TREE=DIR before it: that checkout's local host)
start_host() {
  local name=$1 port=$2 batching=$3 tree="${TREE:-$root}"; shift 3
  env "$@" PromptJobsQueue="bench-$name-$run_id" JobsContainer="bench-$name-$run_id" \
    CompletionsContainer="bench-$name-out-$run_id" Model__Container="$models" Model__Prefix=flan/ \
    Model__CacheDirectory="$work/cache-$name" Inference__IntraOpThreads="$threads" Jobs__DynamicBatching="$batching" \
    setsid dotnet "$tree/src/LocalHost/bin/Release/net10.0/Serverless.LocalHost.dll" --urls "http://127.0.0.1:$port" \
    >"$work/$name.log" 2>&1 &
  pids+=($!)
  echo "$name: port $port, pid $!"
}
# shellcheck disable=SC2086
start_host batched 7381 true ${BATCHED_ENV:-}
second=unbatched
if [ -n "$before_tree" ]; then
  second=before
  # shellcheck disable=SC2086
  TREE="$before_tree" start_host before 7382 true ${BATCHED_ENV:-}
else
  # shellcheck disable=SC2086
  start_host unbatched 7382 false ${UNBATCHED_ENV-AzureFunctionsJobHost__extensions__queues__batchSize=2 AzureFunctionsJobHost__extensions__queues__newBatchThreshold=1}
fi

for port in 7381 7382; do
  for _ in $(seq 1 150); do curl -fs "http://127.0.0.1:$port/api/health" >/dev/null && break; sleep 0.2; done
  # Warm up: the first job downloads and loads the model; then a full-load run, unmeasured, so the rounds see the steady
  # state (JIT tiers, ONNX Runtime's arena grown to batch shapes): without it the first round's batched run measured
  # 286 jobs/min and the second 456 with the same settings. 96 jobs, not 32: a method run once per job reaches the JIT's
  # 30 calls for its optimized tier only near the end of 32, and the first round was then the slowest in 4 of 5 runs.
  "${cli[@]}" jobs bench --url "http://127.0.0.1:$port" --jobs 2 --concurrency 2 --prompt-tokens 64 --max-new-tokens 8 --forced >/dev/null
  "${cli[@]}" jobs bench --url "http://127.0.0.1:$port" --jobs 96 --concurrency 16 --prompt-tokens 64 --max-new-tokens 64 --forced >/dev/null
done

# histogram [FROM_LINE] < LOG: the decode batches' sizes (rows: count) in a host log, from line FROM_LINE on.
histogram() {
  tail -n "+${1:-1}" | grep -o 'Decode batch [0-9]*: [0-9]* row' | awk '{print $4}' | sort -n | uniq -c | awk '{printf "%s: %s, ", $2, $1}'
}

IFS='|' read -r -a bench_list <<< "$benches"
for round in $(seq 1 "$rounds"); do
  for args in "${bench_list[@]}"; do
    for host in batched:7381 $second:7382; do
      name="${host%%:*}"
      echo "== round $round, $name: jobs bench $args (load $(cut -d' ' -f1-3 /proc/loadavg))"
      from=$(($(wc -l < "$work/$name.log") + 1))
      # The outcome lines, any client errors, and the JSON line; a run with failed jobs does not end the benchmark.
      # shellcheck disable=SC2086
      "${cli[@]}" jobs bench --json --url "http://127.0.0.1:${host##*:}" $args 2>&1 | grep -E '^(finished:|  error:|streams:|  stream error|\{)' || true
      echo "   decode batches of this run (rows: count): $(histogram "$from" < "$work/$name.log")"
    done
  done
done

for host in batched $second; do
  echo "$host decode batches, whole run (rows: count): $(histogram 1 < "$work/$host.log")"
done
for i in 0 1; do
  name=$([ "$i" = 0 ] && echo batched || echo "$second")
  host_pid=$(pgrep -f "Serverless.LocalHost.dll --urls http://127.0.0.1:738$((i + 1))" | head -1)
  echo "$name peak RSS: $(grep VmHWM "/proc/$host_pid/status" | awk '{printf "%.2f GB", $2 / 1048576}')"
done
