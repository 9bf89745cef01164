#!/usr/bin/env bash
# Runs every test: installs and starts Azurite, runs `dotnet test Serverless.sln`, always stops what it started.
# Tests that need storage fail (never skip) when it is unreachable.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$root"

scripts/azurite.sh start || exit 1
trap 'scripts/azurite.sh stop' EXIT

export AzureWebJobsStorage="${AzureWebJobsStorage:-UseDevelopmentStorage=true}"
export SERVERLESS_REQUIRE_STORAGE=1
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

log="$(mktemp)"
dotnet test Serverless.sln -c Release "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}

# One closing line over all test projects, e.g. "tests: 120 passed, 0 failed, 0 skipped".
sum() { grep -Eo "$1: +[0-9]+" "$log" | grep -Eo '[0-9]+' | awk '{s+=$1} END {print s+0}'; }
passed=$(sum Passed); failed=$(sum Failed); skipped=$(sum Skipped)
echo "tests: $passed passed, $failed failed, $skipped skipped"
rm -f "$log"
exit "$rc"
