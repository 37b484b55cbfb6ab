#!/usr/bin/env bash
# bench/live.sh: historiand at a live plant's pace with many slow tags: is
# every batch acknowledged in time, and does memory stay flat? Not run by
# ctest (it takes DURATION_S and more).
#
#   bench/live.sh [BUILD_DIR]           (default: build)
#   TAGS=1000000 PERIOD_S=10 DURATION_S=600 bench/live.sh
#
# 1. bench_gen writes the data before anything runs: the plant generator at
#    TAGS tags, each sampling once every PERIOD_S seconds (tags spread over
#    the period: TAGS / PERIOD_S samples every second), DURATION_S seconds
#    of it from the current time, in bodies of BATCH samples.
# 2. historiand starts on free loopback ports in a temp dir with its
#    default settings (a write token, logs at warn, HISTORIAND_ARGS added).
# 3. bench_thin (STREAMS keep-alive connections, one request in flight
#    each) sends the first period as fast as it is answered (first contact
#    of every tag: live.first_contact.*), then the rest paced at TAGS /
#    PERIOD_S samples a second (--rate), reading historiand's VmRSS every
#    second (--watch-pid): live.latency_max_ms is the slowest
#    acknowledgement at that pace, live.rss_minute_K_mib the RSS at each
#    minute. Beside it the server's own count of its buffers
#    (memtable_bytes, what the budget bounds) is read from /api/v1/stats at
#    the start of each minute (live.memtable_minute_K_mib): RSS beyond it
#    is the tag registry, the caches and the allocator's slack.
# 4. A clean stop (timed), the data dir's bytes, VmHWM.
# Every line is "name value unit". Exits nonzero, saying why, when the
# server does not start or stop, or a request is not answered 2xx within
# TIMEOUT_MS.
#
# Environment (defaults): TAGS 1000000  PERIOD_S 10  DURATION_S 600
#   BATCH 5000  STREAMS 2  TIMEOUT_MS 60000  STOP_S 600  HISTORIAND_ARGS ""
set -euo pipefail
shopt -s inherit_errexit
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
BUILD=${1:-${BUILD_DIR:-$root/build}}
case $BUILD in /*) ;; *) BUILD=$PWD/$BUILD ;; esac
TAGS=${TAGS:-1000000}
PERIOD_S=${PERIOD_S:-10}
DURATION_S=${DURATION_S:-600}
BATCH=${BATCH:-5000}
STREAMS=${STREAMS:-2}
TIMEOUT_MS=${TIMEOUT_MS:-60000}
STOP_S=${STOP_S:-600}
TOKEN=live-bench-write-token

. "$here/peers_lib.sh"

for b in bench/bench_gen bench/bench_thin tools/historiand; do
    [ -x "$BUILD/$b" ] || die "build $BUILD/$b first (cmake --build $BUILD -j2)"
done
bench_temp hist-live

P=live
start_ns=$(($(date +%s) * 1000000000))
log "writing $TAGS tags x $DURATION_S s at one sample every $PERIOD_S s"
gen=$("$BUILD/bench/bench_gen" --tags "$TAGS" --seconds "$DURATION_S" --period-s "$PERIOD_S" \
    --start-ns "$start_ns" --batch "$BATCH" --hist "$tmp/bodies.hist") || die "bench_gen failed"
first=$(echo "$gen" | awk '$1 == "gen.first_contact_bodies" {print $2}')
echo "$gen" | sed "s/^gen\./$P./"
rate=$((TAGS / PERIOD_S))

d=$tmp/hist
mkdir -p "$d"
echo "$TOKEN read,write" >"$d/tokens"
hist_start "$d" --auth-file "$d/tokens" || die "historiand did not start"
hp=$hist_port
pid=$hist_pid
log "feeding: first contact as fast as answered, then $rate samples/s"
# poll_memtable PORT OUT: memtable_bytes at the start of each minute, until
# killed (its sleep is killed with it).
poll_memtable() {
    local m s
    trap 'kill "$s" 2>/dev/null; exit 0' TERM
    for ((m = 0; m < 1440; m++)); do
        { curl -s -m 5 -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$1/api/v1/stats" |
            grep -o '"memtable_bytes":[0-9]*' | head -n 1 | cut -d: -f2 |
            awk -v m="$m" -v p="$P" '{printf "%s.memtable_minute_%d_mib %.0f MiB\n", p, m, $1 / 1048576}' \
                >>"$2"; } || true
        sleep 60 &
        s=$!
        wait "$s"
    done
}
poll_memtable "$hp" "$tmp/memtable" &
poller=$!
pids+=("$poller")
"$BUILD/bench/bench_thin" --bodies "$tmp/bodies.hist" --port "$hp" --path /api/v1/write \
    --content-type application/x-protobuf --header "Authorization: Bearer $TOKEN" \
    --streams "$STREAMS" --warmup "$first" --timeout-ms "$TIMEOUT_MS" \
    --deadline-s $((DURATION_S * 3 + 600)) --rate "$rate" --watch-pid "$pid" --name "$P" |
    sed "s/^$P\.warmup\./$P.first_contact./" >"$tmp/out" ||
    { tail -n 20 "$d/log" >&2; die "a write failed (above)"; }
kill "$poller" 2>/dev/null || true
wait "$poller" 2>/dev/null || true
cat "$tmp/out"
cat "$tmp/memtable" 2>/dev/null || true
curl -s -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$hp/api/v1/stats" >"$tmp/stats" ||
    true
for k in chunks freezes seals_memory seals_wal runs_logged runlog_bytes samples_memtable memtable_bytes \
    compact_tag_hours compact_pending bytes_index bytes_wal; do
    v=$({ grep -o "\"$k\":[0-9]*" "$tmp/stats" || true; } | head -n 1 | cut -d: -f2)
    unit=count
    case $k in *bytes*) unit=B ;; esac
    echo "$P.server.$k ${v:-0} $unit"
done
hwm=$(peak_rss_kib "$pid")
t0=$(now)
stop_bounded "$pid" historiand
t1=$(now)
echo "$P.peak_rss_mib $(awk -v k="$hwm" 'BEGIN {printf "%.0f", k / 1024}') MiB"
echo "$P.stop_seconds $(echo "$t0 $t1" | awk '{printf "%.1f", $2 - $1}') s"
echo "$P.data_bytes $(du_bytes "$d/data") B"
echo "durability.historian: acknowledged after the request's WAL record is fdatasync'ed (group commit)"
