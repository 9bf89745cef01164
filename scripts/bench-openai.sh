#!/usr/bin/env bash
# The OpenAI-compatible layer's overhead (issue 22, "Measured"): one local host on the flan-t5-small-shaped model, then
# scripts/bench-openai.py, which streams the same prompts through POST /api/v1/chat/completions and POST /api/completions,
# alternating, and prints time to first token and tokens/s of each and their ratios.
#   usage: scripts/bench-openai.sh [bench-openai.py options...]   (MODEL_DIR=.models/flan-t5-small-random THREADS=2)
#   e.g.   scripts/bench-openai.sh --prompts 32 --rounds 3 --max-tokens 64
#   URL=http://host:port KEY=... scripts/bench-openai.sh   measures a host already running instead (nothing started).
# Needs Azurite on 127.0.0.1 (reused when running, else started and stopped here). Prints figures; it is not a test.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if [ -n "${URL:-}" ]; then
  exec python3 scripts/bench-openai.py --url "$URL" --key "${KEY:-}" "$@"
fi

model_dir="${MODEL_DIR:-$root/.models/flan-t5-small-random}"
threads="${THREADS:-2}"
port="${PORT:-7391}"
key="bench-$(date +%s%N)"
export AzureWebJobsStorage="${AzureWebJobsStorage:-UseDevelopmentStorage=true}"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
[ -d "$model_dir" ] || { echo "bench-openai.sh: no model at $model_dir; run scripts/make-bench-model.sh first" >&2; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/bench-openai.XXXXXX")"
run_id="$(date +%s)"
host_pid=""
started_azurite=0
cleanup() {
  local rc=$?
  if [ -n "$host_pid" ]; then
    kill -TERM -- "-$host_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$host_pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL -- "-$host_pid" 2>/dev/null || true
  fi
  [ "$started_azurite" = 1 ] && scripts/azurite.sh stop || true
  rm -rf "$work"/cache
  echo "bench-openai.sh: host log in $work" >&2
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if [ "$AzureWebJobsStorage" = "UseDevelopmentStorage=true" ] && ! port_open 10000; then
  scripts/azurite.sh start
  started_azurite=1
fi

dotnet build src/LocalHost/LocalHost.csproj -c Release -nologo -v quiet -clp:ErrorsOnly
dotnet build src/Cli/Cli.csproj -c Release -nologo -v quiet -clp:ErrorsOnly
models="bench-openai-models-$run_id"
dotnet "$root/src/Cli/bin/Release/net10.0/serverless.dll" model upload "$model_dir" --container "$models" --prefix flan/ | tail -2

OpenAi__ApiKey="$key" PromptJobsQueue="bench-openai-$run_id" JobsContainer="bench-openai-$run_id" \
  CompletionsContainer="bench-openai-out-$run_id" Model__Container="$models" Model__Prefix=flan/ \
  Model__CacheDirectory="$work/cache" Inference__IntraOpThreads="$threads" \
  setsid dotnet "$root/src/LocalHost/bin/Release/net10.0/Serverless.LocalHost.dll" --urls "http://127.0.0.1:$port" \
  >"$work/host.log" 2>&1 &
host_pid=$!
# Up once health answers (503 until the model is loaded: the warm-up request loads it).
for _ in $(seq 1 150); do
  case "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/api/health" || true)" in 200|503) break ;; esac
  sleep 0.2
done

echo "== bench-openai (load $(cut -d' ' -f1-3 /proc/loadavg))"
python3 scripts/bench-openai.py --url "http://127.0.0.1:$port" --key "$key" "$@"
