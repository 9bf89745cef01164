#!/usr/bin/env bash
# The real Azure Functions host for the end-to-end suite and the host benchmark.
#   usage: scripts/functions-host.sh prepare
# Publishes src/Functions (Release) and, when the host's source folder exists, builds the host with its build.sh
# (cached by a source hash: a rebuild of the same sources returns at once). Both go to a cache outside the clone.
# Prints what it made as lines NAME=VALUE on stdout (progress on stderr), for `eval "$(... | sed 's/^/export /')"`:
#   E2E_FUNCTIONS_APP_DIR   the publish output of src/Functions
#   E2E_FUNCTIONS_HOST_SRC  the host's source folder (only when it exists)
#   E2E_FUNCTIONS_HOST_DIR  the built host (only when the source folder exists)
# Environment read:
#   E2E_FUNCTIONS_HOST_SRC  the host's source folder (default: ../shared/functions-host beside the repository)
#   E2E_FUNCTIONS_HOST_DIR  where to build the host (default: $XDG_CACHE_HOME/serverless/functions-host; also
#                           FUNCTIONS_HOST_DIR): an earlier build of the same sources is reused as is
#   E2E_FUNCTIONS_APP_DIR   where to publish the app (default: a folder per clone under $XDG_CACHE_HOME/serverless)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[ "${1:-}" = prepare ] && [ $# -eq 1 ] || { sed -n '2,14p' "$0" >&2; exit 2; }

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
cache="${XDG_CACHE_HOME:-$HOME/.cache}/serverless"
src="${E2E_FUNCTIONS_HOST_SRC:-$root/../shared/functions-host}"

# One publish folder per clone, so that worktrees and CI clones on one machine do not overwrite each other's.
app="${E2E_FUNCTIONS_APP_DIR:-$cache/functions-app-$(printf '%s' "$root" | sha256sum | cut -c1-12)}"
mkdir -p "$app"
find "$app" -mindepth 1 -maxdepth 1 -exec rm -rf {} +
echo "functions-host.sh: publishing src/Functions into $app" >&2
dotnet publish "$root/src/Functions/Functions.csproj" -c Release -o "$app" -nologo -v quiet -clp:ErrorsOnly >&2
[ -f "$app/worker.config.json" ] || { echo "functions-host.sh: the publish wrote no worker.config.json" >&2; exit 1; }
echo "E2E_FUNCTIONS_APP_DIR=$app"

if [ -d "$src" ]; then
  src="$(cd "$src" && pwd)"
  host="${E2E_FUNCTIONS_HOST_DIR:-${FUNCTIONS_HOST_DIR:-$cache/functions-host}}"
  bash "$src/build.sh" "$host" >&2   # bash: the shared folder may be a copy without exec bits
  echo "E2E_FUNCTIONS_HOST_SRC=$src"
  echo "E2E_FUNCTIONS_HOST_DIR=$(cd "$host" && pwd)"
else
  echo "functions-host.sh: no host source at $src; only the app was published" >&2
fi
