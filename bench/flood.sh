#!/usr/bin/env bash
# Flood harness over loopback: for each attack a fresh `sipua listen --auto-answer` is
# flooded while SIPp's built-in `uac` scenario calls it over UDP (200 calls/s), and one
# markdown table row reports the valid calls that failed, what came back to the flooder
# against what it sent (and the largest reply against its request), sipua's RSS before /
# peak / after settling, and its CPU time. The attacks and every measurement are described
# at the top of tests/examples/flood.rs, the program that does the work; this script builds
# it and sipua in release, installs SIPp, raises the descriptor limit and runs it.
#
#   ATTACKS="baseline invite stray garbage tcp-idle"   which attacks (default: all)
#   CALL_RATE=200            SIPp's calls per second
#   FLOOD_SECONDS=10         length of the UDP attacks
#   FLOOD_RATE=0             flood messages per second (0: as fast as possible)
#   FLOOD_MAX_MESSAGES=2000000
#   TCP_CONNECTIONS=10000    idle connections tcp-idle opens at most...
#   TCP_OPEN_SECONDS=10      ...within this long, then holds for
#   TCP_HOLD_SECONDS=20
#   SETTLE_SECONDS=60        RSS "after" is read this long after the flood
#   BASE_PORT=25060          sipua's port for the first attack, the next for the next
#   KEEP_LOGS=1              keep the work directory (sipua and SIPp logs, SIPp statistics)
#
# A quick run: ATTACKS="invite garbage" FLOOD_SECONDS=3 SETTLE_SECONDS=5 bench/flood.sh
# The full run takes about 7 minutes. Exits 1 if any attack misses the bar (see flood.rs).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "$*" >&2; }

# --- Prerequisites -------------------------------------------------------------------
log "building sipua and the flooder (release)"
cargo build --release -p sip-tokio --example sipua >&2
cargo build --release -p sip-tests --example flood >&2
BIN="${CARGO_TARGET_DIR:-$PWD/target}/release/examples"
for program in sipua flood; do
  [ -x "$BIN/$program" ] || { log "error: $BIN/$program not found"; exit 1; }
done
if ! command -v sipp > /dev/null; then
  apt-get install -y sip-tester >&2 || { apt-get update >&2 && apt-get install -y sip-tester >&2; }
fi

# tcp-idle holds TCP_CONNECTIONS connections, and sipua (which inherits this limit) as
# many again: ask for that plus room, or as much as the hard limit allows.
want=$((${TCP_CONNECTIONS:-10000} + 1024))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$want" ]; then
  ulimit -n "$want" 2> /dev/null || ulimit -n "$(ulimit -Hn)"
fi

# --- Cleanup: the flooder and every process it started (it records their PIDs) ---------
WORK=$(mktemp -d /tmp/flood.XXXXXX)
FLOOD_PID=""
# shellcheck disable=SC2317 # reached through the trap
cleanup() {
  local pid
  [ -z "$FLOOD_PID" ] || kill "$FLOOD_PID" 2> /dev/null || true
  if [ -f "$WORK/pids" ]; then
    while read -r pid; do
      kill "$pid" 2> /dev/null || true
    done < "$WORK/pids"
  fi
  if [ -n "${KEEP_LOGS:-}" ]; then log "logs kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# --- The run -------------------------------------------------------------------------
# In the background so that the trap can stop it by PID; every program it starts runs
# under `timeout` as well.
FLOOD_WORK_DIR="$WORK" FLOOD_PIDS_FILE="$WORK/pids" "$BIN/flood" "$BIN/sipua" &
FLOOD_PID=$!
status=0
wait "$FLOOD_PID" || status=$?
FLOOD_PID=""
exit "$status"
