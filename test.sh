#!/usr/bin/env bash
# Runs every test: installs Debian's chromium when missing (the playground's browser tests), installs and starts
# Azurite, prepares the hosts of the end-to-end suite (publishes src/Functions and builds the real Functions host from
# ../shared/functions-host when that folder exists), runs `dotnet test Serverless.sln`, checks the code style
# (`dotnet format --verify-no-changes`), always stops what it started. Tests that need storage fail (never skip) when it
# is unreachable. Prints which hosts the end-to-end suite ran on, then one closing line over all test projects.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$root"

# The playground's browser tests drive Debian's chromium (Playwright's own browser download is not reachable here).
if [ ! -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]; then
  echo "test.sh: installing Debian's chromium for the playground's browser tests" >&2
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium; } >/dev/null \
    || { echo "test.sh: installing chromium failed" >&2; exit 1; }
fi

scripts/azurite.sh start || exit 1
hosts_file="$(mktemp)"
log="$(mktemp)"
trap 'scripts/azurite.sh stop; rm -f "$hosts_file" "$log"' EXIT

export AzureWebJobsStorage="${AzureWebJobsStorage:-UseDevelopmentStorage=true}"
export SERVERLESS_REQUIRE_STORAGE=1
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

# The real host (and `func start`, when Core Tools are installed) run a publish of this tree.
export E2E_FUNCTIONS_HOST_SRC="${E2E_FUNCTIONS_HOST_SRC:-$root/../shared/functions-host}"
if [ -d "$E2E_FUNCTIONS_HOST_SRC" ] || command -v func >/dev/null; then
  prepared="$(scripts/functions-host.sh prepare)" || { echo "test.sh: preparing the Functions hosts failed" >&2; exit 1; }
  while IFS='=' read -r name value; do
    [[ "$name" =~ ^E2E_[A-Z_]+$ ]] && export "$name=$value"
  done <<< "$prepared"
fi
export E2E_HOSTS_FILE="$hosts_file"

# tests/Package.Tests consumes the library as a package: pack it into the folder feed first, and drop the copy that
# project's own package folder extracted last time (same version, so NuGet would otherwise serve the old one).
rm -rf artifacts/package-tests/packages/serverless.inference
dotnet pack src/Inference -c Release -o artifacts/feed -v q -clp:ErrorsOnly || { echo "test.sh: packing src/Inference failed" >&2; exit 1; }

dotnet test Serverless.sln -c Release "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}

# Code style (.editorconfig), over the tree just built: `dotnet format Serverless.sln --severity warn` fixes what this reports.
if dotnet format Serverless.sln --verify-no-changes --severity warn -v q; then
  style="clean"
else
  style="differs from .editorconfig (fix: dotnet format Serverless.sln --severity warn)"
  rc=1
fi

# Which hosts the end-to-end suite ran on, and which it skipped and why (one line per fixture in the file).
ran=$(sed -n 's/^ran //p' "$hosts_file" | sort -u | paste -sd, - | sed 's/,/, /g')
echo "e2e hosts: ${ran:-none}"
sed -n 's/^skipped //p' "$hosts_file" | sort -u | sed 's/^/e2e host skipped: /'

# One closing line over all test projects, e.g. "tests: 120 passed, 0 failed, 0 skipped", from each project's summary
# line ("Passed!  - Failed: 0, Passed: 52, Skipped: 1, Total: 53, ...").
summary() { grep -E '^(Passed|Failed)! +- +Failed: +[0-9]+, +Passed: +[0-9]+, +Skipped: +[0-9]+' "$log"; }
sum() { summary | grep -Eo "$1: +[0-9]+" | grep -Eo '[0-9]+' | awk '{s+=$1} END {print s+0}'; }
passed=$(sum Passed); failed=$(sum Failed); skipped=$(sum Skipped)
# Each failed test again at the end, with its error message (up to 12 lines), so the last lines of a run name it.
awk '/^  Failed [^ ]/ {show=1; n=0; print "failed test:" substr($0, 9); next}
     show && /^  Stack Trace:/ {show=0; next}
     show && /^  (Passed|Skipped|Failed) / {show=0}
     show && n++ < 12 {print "  " $0}' "$log"
echo "tests: $passed passed, $failed failed, $skipped skipped"
echo "style: $style"
exit "$rc"
