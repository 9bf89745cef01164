#!/usr/bin/env bash
# Installs (pinned, from tools/azurite/package-lock.json), starts and stops Azurite on loopback.
#   scripts/azurite.sh start   -> installs if needed, starts in the background, waits for blob/queue/table ports
#   scripts/azurite.sh stop    -> stops the Azurite this script started (TERM, then KILL: it can linger)
# An Azurite already answering on the ports is reused and never stopped by this script.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tool="$root/tools/azurite"
state="$root/.azurite"
pidfile="$state/azurite.pid"
ports=(10000 10001 10002)

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
all_open() { for p in "${ports[@]}"; do port_open "$p" || return 1; done; }
any_open() { for p in "${ports[@]}"; do port_open "$p" && return 0; done; return 1; }

install() {
  if [ ! -x "$tool/node_modules/.bin/azurite" ]; then
    command -v npm >/dev/null || { echo "azurite.sh: npm is required (Node.js 20+)" >&2; exit 1; }
    echo "azurite.sh: installing Azurite from tools/azurite/package-lock.json (npm ci, ~1 min)..."
    (cd "$tool" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

start() {
  # Always installed, even when one is already running: some tests start their own Azurite from this install.
  install
  if all_open; then echo "azurite.sh: Azurite already answering on ${ports[*]}; reusing it"; return 0; fi
  if any_open; then echo "azurite.sh: some of ports ${ports[*]} are taken by something else; free them first" >&2; exit 1; fi
  mkdir -p "$state"
  "$tool/node_modules/.bin/azurite" --inMemoryPersistence --skipApiVersionCheck --loose \
    --blobHost 127.0.0.1 --queueHost 127.0.0.1 --tableHost 127.0.0.1 \
    >"$state/azurite.log" 2>&1 &
  echo $! >"$pidfile"
  for _ in $(seq 1 150); do
    if all_open; then echo "azurite.sh: Azurite up (pid $(cat "$pidfile")), blob 10000, queue 10001, table 10002"; return 0; fi
    if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then break; fi
    sleep 0.2
  done
  echo "azurite.sh: Azurite did not start; its log:" >&2; tail -n 20 "$state/azurite.log" >&2; stop; exit 1
}

stop() {
  [ -f "$pidfile" ] || return 0
  local pid; pid="$(cat "$pidfile")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 25); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
  echo "azurite.sh: Azurite stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  install) install ;;
  *) echo "usage: scripts/azurite.sh start|stop|install" >&2; exit 2 ;;
esac
