#!/usr/bin/env bash
# Installs the `serverless` command (src/Cli packed as a .NET tool) from this checkout:
#   scripts/install-cli.sh                 - a global tool in ~/.dotnet/tools (put that folder on PATH once);
#   scripts/install-cli.sh --tool-path DIR - into DIR instead (e.g. .tools/bin under the repository).
# Re-run it after changing src/Cli: it replaces the installed copy. Needs only the packages the build already restored
# (the package is installed from a local folder, so no registry is asked when the build has been restored once).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

where=(--global)
if [ "${1:-}" = "--tool-path" ]; then
  [ -n "${2:-}" ] || { echo "install-cli.sh: --tool-path needs a folder" >&2; exit 2; }
  mkdir -p "$2"
  where=(--tool-path "$(cd "$2" && pwd)")
elif [ -n "${1:-}" ]; then
  echo "usage: scripts/install-cli.sh [--tool-path DIR]" >&2; exit 2
fi

packages="$root/.tools/packages"
rm -rf "$packages"
dotnet pack "$root/src/Cli/Cli.csproj" -c Release -o "$packages" -nologo -v quiet -clp:ErrorsOnly
# Uninstall first: the version does not change between builds, and `update` would keep the old bits.
dotnet tool uninstall "${where[@]}" Serverless.Cli >/dev/null 2>&1 || true
# --source (not --add-source): the local folder only, so an offline machine never waits on nuget.org.
dotnet tool install "${where[@]}" --source "$packages" Serverless.Cli >/dev/null
echo "install-cli.sh: installed 'serverless' (${where[*]})"
if [ "${where[0]}" = --global ]; then
  case ":$PATH:" in
    *":$HOME/.dotnet/tools:"*) ;;
    *) echo "install-cli.sh: add it to PATH: export PATH=\"\$PATH:\$HOME/.dotnet/tools\"" ;;
  esac
fi
