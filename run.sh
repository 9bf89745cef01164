#!/usr/bin/env bash
# Runs the main job on this machine (needs the .NET 10 SDK and Node.js 20+ with npm):
#   1. installs and starts Azurite (scripts/azurite.sh), unless one is already running (then it is reused and left running);
#   2. uploads a model to the "models" container, prefix flan-t5-small/ (the app's default):
#        default  models/demo/ - a tiny model with RANDOM WEIGHTS, committed for demos and tests: its text is meaningless;
#        MODEL_DIR=/path/to/optimum/flan-t5-small/export ./run.sh  - a real model, real answers;
#   3. starts a host on http://127.0.0.1:${PORT:-7071}/api/: `func start` (the Azure Functions host) when Azure Functions
#      Core Tools are installed, with local.settings.json (created from local.settings.sample.json if absent); else the
#      local host (the Functions app's function classes under the WebJobs SDK and Kestrel), built once (Release);
#      HOST=local forces the local host;
#   4. submits "Where is Ganymede located in the solar system?" over HTTP, waits, and prints the completion with its
#      token counts and timings.
# Always stops what it started (host, Azurite). PROMPT="..." overrides the question.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$root"

model_dir="${MODEL_DIR:-$root/models/demo}"
prompt="${PROMPT:-Where is Ganymede located in the solar system?}"
port="${PORT:-7071}"
url="http://127.0.0.1:$port"
state="${TMPDIR:-/tmp}/serverless-run"
export AzureWebJobsStorage="${AzureWebJobsStorage:-UseDevelopmentStorage=true}"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
say() { printf '\n== %s\n' "$*"; }

host_pid=""
started_azurite=0
host_name=""
cleanup() {
  local rc=$?
  if [ -n "$host_pid" ] && kill -0 "$host_pid" 2>/dev/null; then
    # The host runs in a process group of its own (setsid): the group holds the worker `func start` spawns.
    kill -TERM -- "-$host_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$host_pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL -- "-$host_pid" 2>/dev/null || true
    echo "run.sh: $host_name stopped"
  fi
  if [ "$started_azurite" = 1 ]; then scripts/azurite.sh stop || true; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

command -v dotnet >/dev/null || { echo "run.sh: the .NET 10 SDK is required (dotnet not found)" >&2; exit 1; }
[ -d "$model_dir" ] || { echo "run.sh: MODEL_DIR '$model_dir' does not exist" >&2; exit 1; }
if port_open "$port"; then echo "run.sh: port $port is already in use (func start? another run.sh?); stop it or set PORT=..." >&2; exit 1; fi
mkdir -p "$state"

say "Storage: Azurite"
if [ "$AzureWebJobsStorage" = "UseDevelopmentStorage=true" ]; then
  if port_open 10000 && port_open 10001; then
    echo "Azurite already running; reusing it (and leaving it running)"
  else
    scripts/azurite.sh start
    started_azurite=1
  fi
else
  echo "AzureWebJobsStorage is set; using that storage account"
fi

if [ "${HOST:-}" != local ] && command -v func >/dev/null; then
  host_name="func start"
  echo "run.sh: host: func start (Azure Functions Core Tools found: $(command -v func))"
else
  host_name="local host"
  echo "run.sh: host: the local host ($([ "${HOST:-}" = local ] && echo "HOST=local" || echo "Azure Functions Core Tools not installed: no func on PATH"))"
fi

say "Build (Release)"
if [ "$host_name" = "local host" ]; then dotnet build src/LocalHost/LocalHost.csproj -c Release -nologo -v quiet -clp:ErrorsOnly; fi
dotnet build src/Cli/Cli.csproj -c Release -nologo -v quiet -clp:ErrorsOnly
cli=(dotnet "$root/src/Cli/bin/Release/net10.0/serverless.dll")

say "Model: $model_dir"
if [ "$(cd "$model_dir" && pwd)" = "$root/models/demo" ]; then
  cat <<'NOTE'
  ********************************************************************************************
  *  DEMO MODEL: a tiny T5 with RANDOM WEIGHTS. The pipeline runs for real, but the text it   *
  *  writes is meaningless. For real answers, point MODEL_DIR at a Hugging Face Optimum ONNX  *
  *  export of google/flan-t5-small:   MODEL_DIR=/path/to/export ./run.sh                      *
  ********************************************************************************************
NOTE
fi
"${cli[@]}" model upload "$model_dir" --container models --prefix flan-t5-small/

host_log="$state/host.log"
say "$host_name on $url/api/ (log: $host_log)"
if [ "$host_name" = "func start" ]; then
  if [ ! -f local.settings.json ]; then
    cp local.settings.sample.json local.settings.json
    echo "run.sh: created local.settings.json from local.settings.sample.json"
  fi
  # func start builds src/Functions (the build copies the root local.settings.json beside it) and runs the real host.
  (cd src/Functions && exec setsid func start --port "$port") >"$host_log" 2>&1 &
  wait_seconds=180
else
  setsid dotnet "$root/src/LocalHost/bin/Release/net10.0/Serverless.LocalHost.dll" --urls "$url" \
    --Model:Container=models --Model:Prefix=flan-t5-small/ >"$host_log" 2>&1 &
  wait_seconds=30
fi
host_pid=$!
for _ in $(seq 1 $((wait_seconds * 5))); do
  port_open "$port" && break
  kill -0 "$host_pid" 2>/dev/null || { echo "run.sh: the $host_name exited; its log:" >&2; tail -n 40 "$host_log" >&2; exit 1; }
  sleep 0.2
done
port_open "$port" || { echo "run.sh: the $host_name did not open port $port within $wait_seconds s; see $host_log" >&2; exit 1; }
if [ "$host_name" = "func start" ]; then
  # Core Tools open the port before the worker has indexed the functions; they list them once it has.
  for _ in $(seq 1 $((wait_seconds * 5))); do grep -q "SubmitJob:" "$host_log" && break; sleep 0.2; done
  grep -q "SubmitJob:" "$host_log" || { echo "run.sh: func start listed no SubmitJob function within $wait_seconds s; see $host_log" >&2; exit 1; }
fi
echo "up (pid $host_pid)"

say "Submit: $prompt"
"${cli[@]}" jobs submit --prompt "$prompt" --url "$url" --wait --timeout 300
