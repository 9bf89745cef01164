#!/usr/bin/env bash
# Benchmarks the real Azure Functions host (../shared/functions-host) and the local host in one run, same machine,
# same storage, same model, each on its own queue, containers and empty model cache:
#   cold start  host process start → API answering, and → first job completed (the model fetched and loaded);
#   throughput  `serverless jobs bench --jobs $JOBS --concurrency $CONCURRENCY` (jobs/minute, p50/p95) right after.
#   usage: scripts/bench-hosts.sh          (JOBS=200 CONCURRENCY=16 MODEL_DIR=models/demo HOSTS="functions-host local")
# Needs Azurite on 127.0.0.1 (reused when running, else started and stopped here) or AzureWebJobsStorage, and curl.
# Prints figures; it is not a test. Always stops the hosts it started (by process group).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

jobs="${JOBS:-200}"
concurrency="${CONCURRENCY:-16}"
model_dir="${MODEL_DIR:-$root/models/demo}"
hosts="${HOSTS:-functions-host local}"
export AzureWebJobsStorage="${AzureWebJobsStorage:-UseDevelopmentStorage=true}"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
command -v curl >/dev/null || { echo "bench-hosts.sh: curl is required" >&2; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/bench-hosts.XXXXXX")"
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
  [ "$started_azurite" = 1 ] && scripts/azurite.sh stop || true
  echo "bench-hosts.sh: logs in $work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
now_ms() { date +%s%3N; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo $((20000 + RANDOM % 20000)); }

if [ "$AzureWebJobsStorage" = "UseDevelopmentStorage=true" ] && ! { port_open 10000 && port_open 10001; }; then
  scripts/azurite.sh start; started_azurite=1
fi

echo "== prepare: publish src/Functions, build the real host (cached), build the CLI and the local host (Release)"
prepared="$(scripts/functions-host.sh prepare)"
while IFS='=' read -r name value; do [[ "$name" =~ ^E2E_[A-Z_]+$ ]] && export "$name=$value"; done <<< "$prepared"
dotnet build src/Cli/Cli.csproj -c Release -nologo -v quiet -clp:ErrorsOnly >/dev/null
dotnet build src/LocalHost/LocalHost.csproj -c Release -nologo -v quiet -clp:ErrorsOnly >/dev/null
cli=(dotnet "$root/src/Cli/bin/Release/net10.0/serverless.dll")

results=()
for host in $hosts; do
  suffix="$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
  queue="bench-$suffix"; jobs_c="bench-jobs-$suffix"; completions="bench-completions-$suffix"; models="bench-models-$suffix"
  key="bench-key-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
  port="$(free_port)"; url="http://127.0.0.1:$port"
  echo; echo "== $host on $url (queue $queue)"
  "${cli[@]}" model upload "$model_dir" --container "$models" --prefix model/ --connection "$AzureWebJobsStorage" >/dev/null
  settings=(AzureWebJobsStorage="$AzureWebJobsStorage" PromptJobsQueue="$queue" JobsContainer="$jobs_c"
            CompletionsContainer="$completions" Model__Container="$models" Model__Prefix=model/
            Model__CacheDirectory="$work/$host-cache")
  log="$work/$host.log"
  start_ms=$(now_ms)
  case "$host" in
    functions-host)
      [ -n "${E2E_FUNCTIONS_HOST_DIR:-}" ] || { echo "bench-hosts.sh: no real host (../shared/functions-host missing; E2E_FUNCTIONS_HOST_SRC)" >&2; exit 1; }
      env "${settings[@]}" FUNCTION_KEY="$key" SECRETS_DIR="$work/$host-secrets" \
        setsid bash "$E2E_FUNCTIONS_HOST_SRC/start.sh" "$E2E_FUNCTIONS_APP_DIR" "$port" "$E2E_FUNCTIONS_HOST_DIR" >"$log" 2>&1 &
      ;;
    local)
      env "${settings[@]}" LocalHost__FunctionKey="$key" \
        setsid dotnet "$root/src/LocalHost/bin/Release/net10.0/Serverless.LocalHost.dll" --urls "$url" >"$log" 2>&1 &
      ;;
    *) echo "bench-hosts.sh: unknown host '$host' (functions-host, local)" >&2; exit 2 ;;
  esac
  host_pid=$!

  # Cold start: submit as soon as the API takes it, then wait for the job's completion.
  id=""
  for _ in $(seq 1 600); do
    kill -0 "$host_pid" 2>/dev/null || { echo "bench-hosts.sh: $host exited; log:" >&2; tail -n 40 "$log" >&2; exit 1; }
    reply="$(curl -s -m 5 -w '\n%{http_code}' -X POST "$url/api/jobs" -H "x-functions-key: $key" \
      -H 'content-type: application/json' -d '{"prompt": "Where is Ganymede located in the solar system?", "parameters": {"max_new_tokens": 32}}' || true)"
    if [ "$(tail -n1 <<< "$reply")" = 202 ]; then
      id="$(head -n1 <<< "$reply" | sed -E 's/.*"id":"([^"]+)".*/\1/')"; break
    fi
    sleep 0.1
  done
  [ -n "$id" ] || { echo "bench-hosts.sh: $host did not accept a job within 60 s; log: $log" >&2; exit 1; }
  accepted_ms=$(now_ms)
  status=""
  for _ in $(seq 1 1200); do
    status="$(curl -s -m 5 "$url/api/jobs/$id" -H "x-functions-key: $key" | sed -nE 's/.*"status":"([a-z]+)".*/\1/p')"
    [ "$status" = succeeded ] || [ "$status" = failed ] && break
    sleep 0.05
  done
  done_ms=$(now_ms)
  [ "$status" = succeeded ] || { echo "bench-hosts.sh: the first job on $host ended '$status'; log: $log" >&2; exit 1; }
  api_s=$(awk -v a="$start_ms" -v b="$accepted_ms" 'BEGIN {printf "%.1f", (b-a)/1000}')
  first_s=$(awk -v a="$start_ms" -v b="$done_ms" 'BEGIN {printf "%.1f", (b-a)/1000}')
  echo "cold start: API accepting after $api_s s, first completion after $first_s s (host start → job succeeded)"

  bench="$("${cli[@]}" jobs bench --jobs "$jobs" --concurrency "$concurrency" --url "$url" --key "$key" 2>&1)" || { echo "$bench"; exit 1; }
  echo "$bench"
  per_min="$(sed -nE 's/^throughput: ([0-9.]+) jobs\/minute.*/\1/p' <<< "$bench")"
  client="$(sed -nE 's/^latency \(client.*: p50 ([0-9]+) ms, p95 ([0-9]+) ms.*/\1 \/ \2 ms/p' <<< "$bench")"
  recorded="$(sed -nE 's/^latency \(recorded.*: p50 ([0-9]+) ms, p95 ([0-9]+) ms.*/\1 \/ \2 ms/p' <<< "$bench")"
  finished="$(sed -nE 's/^finished: ([0-9]+) succeeded, ([0-9]+) failed.*/\1 ok, \2 failed/p' <<< "$bench")"
  results+=("| $host | $api_s s | $first_s s | $per_min | $client | $recorded | $finished |")

  stop_host   # its queue and containers stay (names bench-*), for a look at the records afterwards
done

echo
echo "== figures ($(nproc) cores, $(date -u +%FT%TZ); $jobs jobs, $concurrency in flight, model $(basename "$model_dir"))"
echo "| host | API up | first completion (cold) | jobs/minute | p50 / p95 client | p50 / p95 recorded | jobs |"
echo "|---|---|---|---|---|---|---|"
printf '%s\n' "${results[@]}"
