#!/usr/bin/env bash
# Load benchmark over loopback: SIPp's built-in `uac` scenario calls, at a series of rates,
# (a) our `sipua listen --auto-answer` and (b) SIPp's own built-in `uas`, the reference.
# Each call is INVITE / 100 / 180 / 200 / ACK / BYE / 200 with no pause (-d 0).
# Then, over UDP, (c) Kamailio's dispatcher in front of two `sipua listen` (peer
# `kam-ds-2`, configuration sip-tokio/tests/interop/kamailio-dispatcher.cfg: round robin,
# OPTIONS probes, failover), at its own rates; its CPU column is the two instances' CPU
# (Kamailio's is not counted) and it has no ratio. Its rows are reported, not judged:
# Kamailio's capacity on this machine is not ours.
# For every (transport, rate, peer) it prints one row: calls SIPp was asked to make,
# created, successful, failed, unfinished, SIPp's retransmissions, the answering process's
# CPU time (user + system, from /proc/PID/stat) per successful call, and the ratio of
# our CPU per call to SIPp-uas's.
#
#   RATES="500 1000 2000 4000 8000"  calls per second to try (default shown)
#   SECONDS_PER_RATE=10              seconds of calls per rate
#   TRANSPORTS="udp tcp"             which transports
#   BASE_PORT=15060                  first port; every run takes the next one (three
#                                    for a dispatcher run)
#   DISPATCHER_RATES="500 1000 2000" calls per second through Kamailio's dispatcher
#                                    (empty: skip; needs `kamailio`)
#
# Exits 1 if our UAS fails (or leaves unfinished) calls at a rate where SIPp's own UAS
# completed them all.
set -euo pipefail
cd "$(dirname "$0")/.."

RATES=${RATES:-"500 1000 2000 4000 8000"}
SECONDS_PER_RATE=${SECONDS_PER_RATE:-10}
TRANSPORTS=${TRANSPORTS:-"udp tcp"}
BASE_PORT=${BASE_PORT:-15060}
DISPATCHER_RATES=${DISPATCHER_RATES-"500 1000 2000"}
DISPATCHER_CONFIG=sip-tokio/tests/interop/kamailio-dispatcher.cfg
# A call that has not completed this long after the last one was started is left
# unfinished; it bounds every SIPp run (SIPp's -timeout, plus a hard `timeout` around it).
GRACE=20

log() { echo "$*" >&2; }

# --- Prerequisites -------------------------------------------------------------------
log "building sipua (release)"
cargo build --release -p sip-tokio --example sipua >&2
SIPUA="${CARGO_TARGET_DIR:-$PWD/target}/release/examples/sipua"
[ -x "$SIPUA" ] || { log "error: $SIPUA not found"; exit 1; }
if ! command -v sipp > /dev/null; then
  apt-get install -y sip-tester >&2 || { apt-get update >&2 && apt-get install -y sip-tester >&2; }
fi
if [ -n "$DISPATCHER_RATES" ] && ! command -v kamailio > /dev/null; then
  apt-get install -y --no-install-recommends kamailio >&2 \
    || { apt-get update >&2 && apt-get install -y --no-install-recommends kamailio >&2; }
fi
TICKS_PER_SEC=$(getconf CLK_TCK)

# --- Cleanup: every process we start is recorded, and killed on any exit ---------------
WORK=$(mktemp -d /tmp/sipp-load.XXXXXX)
PIDS=()
# shellcheck disable=SC2317 # reached through the trap
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2> /dev/null || true
  done
  [ -n "${KEEP_LOGS:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT

# --- Helpers ---------------------------------------------------------------------------

# CPU ticks (utime + stime, all threads) a live process has used so far. The fields are
# counted after the ")" that ends the command name, which could itself hold spaces.
cpu_ticks() {
  local stat fields
  stat=$(< "/proc/$1/stat")
  read -r -a fields <<< "${stat##*) }"
  # fields[0] is field 3 (state), so utime (14) and stime (15) are 11 and 12.
  echo $((fields[11] + fields[12]))
}

# Waits (up to 5 s) until something listens on 127.0.0.1:PORT over TRANSPORT, read from
# /proc/net so that no particular tool (ss, netstat) is needed. Fails if PID died.
wait_listening() {
  local transport=$1 port=$2 pid=$3 table pattern i
  # Local addresses in /proc/net are hex: 127.0.0.1 is 0100007F on little-endian hosts.
  pattern=$(printf '0100007F:%04X' "$port")
  if [ "$transport" = tcp ]; then table=/proc/net/tcp; else table=/proc/net/udp; fi
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2> /dev/null || return 1
    # For TCP only the LISTEN state (0A) counts.
    if awk -v a="$pattern" -v tcp="$([ "$transport" = tcp ] && echo 1)" \
      '$2 == a && (!tcp || $4 == "0A") { found = 1 } END { exit !found }' "$table"; then
      return 0
    fi
    sleep 0.05
  done
  return 1
}

# Prints "created successful failed retransmissions" from a SIPp -trace_stat file: the
# last complete line, with columns found by their header names (not positions, which
# differ between SIPp versions). Prints nothing if the file is missing or empty.
sipp_stats() {
  [ -s "$1" ] || return 0
  awk -F';' '
    NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; n = NF; next }
    NF >= n { last = $0 }
    END {
      if (last == "") exit
      split(last, f, ";")
      print f[col["TotalCallCreated"]], f[col["SuccessfulCall(C)"]], f[col["FailedCall(C)"]], f[col["Retransmissions(C)"]]
    }' "$1"
}

NEXT_PORT=$BASE_PORT

# Runs one (transport, rate, peer) and prints its row; sets LAST_US (CPU µs per call) and
# LAST_CLEAN (1 if every call SIPp was asked to make succeeded).
run_one() {
  local transport=$1 rate=$2 peer=$3
  local port=$NEXT_PORT
  NEXT_PORT=$((NEXT_PORT + 1))
  local calls=$((rate * SECONDS_PER_RATE))
  local wall=$((SECONDS_PER_RATE + GRACE))
  local tag="$WORK/$transport-$rate-$peer"
  local sipp_transport=()
  if [ "$transport" = tcp ]; then
    sipp_transport=(-t t1)
  else
    # SIPp's default UDP buffers drop datagrams well before the peers run out of CPU.
    sipp_transport=(-buff_size 4194304)
  fi

  # The answering side, bounded by its own clock as well as by the EXIT trap, and stopped
  # at once when the run is over (--drain-timeout 0: no wait for unfinished calls). For the
  # dispatcher, $server is the first instance and $server2 the second (their CPU is
  # summed), and SIPp calls Kamailio on $port.
  local server server2="" kamailio=""
  if [ "$peer" = kam-ds-2 ]; then
    local one=$NEXT_PORT two=$((NEXT_PORT + 1))
    NEXT_PORT=$((NEXT_PORT + 2))
    "$SIPUA" listen --bind "127.0.0.1:$one" --auto-answer --quiet --drain-timeout 0 \
      --duration $((wall + 10)) \
      > "$tag.server.log" 2>&1 &
    server=$!
    PIDS+=("$server")
    "$SIPUA" listen --bind "127.0.0.1:$two" --auto-answer --quiet --drain-timeout 0 \
      --duration $((wall + 10)) \
      > "$tag.server2.log" 2>&1 &
    server2=$!
    PIDS+=("$server2")
    wait_listening udp "$one" "$server" && wait_listening udp "$two" "$server2" \
      || { log "error: sipua did not listen on $one and $two"; exit 1; }
    mkdir -p "$tag.kamailio"
    printf '1 sip:127.0.0.1:%s\n1 sip:127.0.0.1:%s\n' "$one" "$two" \
      > "$tag.kamailio/dispatcher.list"
    sed -e "s/@PORT@/$port/g" -e "s|@DIR@|$tag.kamailio|g" "$DISPATCHER_CONFIG" \
      > "$tag.kamailio/kamailio.cfg"
    # -DD: in the foreground, under `timeout` ($!), which passes a SIGTERM on to Kamailio's
    # main process, which stops its children; more shared memory than the tests give it,
    # for the transactions of a load.
    timeout $((wall + 10)) kamailio -DD -E -m 256 -M 16 -f "$tag.kamailio/kamailio.cfg" \
      -P "$tag.kamailio/kamailio.pid" -Y "$tag.kamailio" > "$tag.kamailio/kamailio.log" 2>&1 &
    kamailio=$!
    PIDS+=("$kamailio")
    # Its TCP port is bound before it forks its workers, like the UDP one.
    wait_listening tcp "$port" "$kamailio" \
      || { log "error: kamailio did not start:"; tail "$tag.kamailio/kamailio.log" >&2; exit 1; }
  elif [ "$peer" = sipua ]; then
    "$SIPUA" listen --bind "127.0.0.1:$port" --transport "$transport" --auto-answer --quiet \
      --drain-timeout 0 \
      --duration $((wall + 10)) > "$tag.server.log" 2>&1 &
  else
    # exec: $! must be SIPp itself, whose CPU time is measured.
    (cd "$WORK" && exec sipp -sn uas -i 127.0.0.1 -p "$port" "${sipp_transport[@]}" \
      -nostdin -timeout "$((wall + 10))s") > "$tag.server.log" 2>&1 &
  fi
  server=$!
  PIDS+=("$server")
  if ! wait_listening "$transport" "$port" "$server"; then
    log "error: $peer did not listen on $transport port $port:"
    cat "$tag.server.log" >&2
    exit 1
  fi

  local before after rc=0
  before=$(cpu_ticks "$server")
  if [ -n "$server2" ]; then before=$((before + $(cpu_ticks "$server2"))); fi
  # -m bounds the calls, -l the calls in flight (3 s worth at this rate: SIPp's own rule
  # for -l with a 3 s call), -timeout the wall time. SIPp runs in $WORK so that any file
  # it decides to write lands there, not in the repository.
  (cd "$WORK" && exec timeout $((wall + 10)) sipp -sn uac "127.0.0.1:$port" -i 127.0.0.1 -p 0 \
    "${sipp_transport[@]}" -r "$rate" -d 0 -m "$calls" -l $((rate * 3)) \
    -nostdin -timeout "${wall}s" -trace_stat -stf "$tag.csv" -fd 1) \
    > "$tag.uac.log" 2>&1 || rc=$?
  after=$(cpu_ticks "$server")
  if [ -n "$server2" ]; then
    after=$((after + $(cpu_ticks "$server2")))
    kill "$server2" 2> /dev/null || true
    wait "$server2" 2> /dev/null || true
  fi
  kill "$server" 2> /dev/null || true
  wait "$server" 2> /dev/null || true
  if [ -n "$kamailio" ]; then
    # `timeout` passes the SIGTERM on; Kamailio's main process stops its children.
    kill "$kamailio" 2> /dev/null || true
    wait "$kamailio" 2> /dev/null || true
  fi

  local created ok failed retrans
  read -r created ok failed retrans <<< "$(sipp_stats "$tag.csv")"
  if [ -z "${created:-}" ]; then
    log "error: SIPp (exit $rc) wrote no statistics; its output:"
    tail -20 "$tag.uac.log" >&2
    exit 1
  fi
  local unfinished=$((created - ok - failed))
  local cpu_ms=$(((after - before) * 1000 / TICKS_PER_SEC))
  LAST_US=$(awk -v ms="$cpu_ms" -v n="$ok" 'BEGIN { if (n > 0) printf "%.1f", ms * 1000 / n; else print "-" }')
  LAST_CLEAN=0
  if [ "$ok" -eq "$calls" ] && [ "$failed" -eq 0 ]; then LAST_CLEAN=1; fi
  ROW=$(printf '%-4s %6s %-9s %7s %7s %7s %6s %6s %7s %7s %8s' \
    "$transport" "$rate" "$peer" "$calls" "$created" "$ok" "$failed" "$unfinished" \
    "$retrans" "$cpu_ms" "$LAST_US")
}

# --- The runs --------------------------------------------------------------------------
printf '%-4s %6s %-9s %7s %7s %7s %6s %6s %7s %7s %8s %6s\n' \
  proto cps peer target created ok failed unfin retrans cpu_ms us/call ratio
verdict=0
for transport in $TRANSPORTS; do
  ref_best=0 ours_best=0 ours_broken=""
  for rate in $RATES; do
    log "$transport $rate cps: SIPp uas, then sipua (${SECONDS_PER_RATE}s each)"
    # The reference first, so that our row can carry the ratio.
    run_one "$transport" "$rate" sipp-uas
    ref_us=$LAST_US ref_clean=$LAST_CLEAN
    ref_row=$ROW
    run_one "$transport" "$rate" sipua
    ratio=$(awk -v a="$LAST_US" -v b="$ref_us" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "-" }')
    printf '%s %6s\n%s %6s\n' "$ref_row" "" "$ROW" "$ratio"
    if [ "$ref_clean" = 1 ]; then ref_best=$rate; fi
    if [ "$LAST_CLEAN" = 1 ]; then ours_best=$rate; fi
    if [ "$ref_clean" = 1 ] && [ "$LAST_CLEAN" = 0 ]; then ours_broken="$ours_broken $rate"; fi
  done
  log "$transport: SIPp uas completed every call up to $ref_best cps, sipua up to $ours_best cps"
  if [ -n "$ours_broken" ]; then
    log "$transport: sipua lost calls where SIPp uas did not, at:$ours_broken cps"
    verdict=1
  fi
done
for rate in $DISPATCHER_RATES; do
  log "udp $rate cps: Kamailio's dispatcher in front of two sipua (${SECONDS_PER_RATE}s)"
  run_one udp "$rate" kam-ds-2
  printf '%s %6s\n' "$ROW" "-"
done
exit "$verdict"
