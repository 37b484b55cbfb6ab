#!/usr/bin/env bash
# bench/backup.sh: what an online backup costs ingest. historiand takes
# writes as fast as bench_thin can send them, once with nothing else
# running (backup.base.*) and once while `historian backup` runs over and
# over into fresh directories (backup.during.*); the backups' own figures
# too. Not run by ctest.
#
#   bench/backup.sh [BUILD_DIR]        (default: build)
#   TAGS=100000 SECONDS_=120 bench/backup.sh
#
# 1. bench_gen writes three data sets (TAGS tags, one sample a second for
#    SECONDS_ seconds each, bodies of BATCH samples), one after the other
#    in time.
# 2. historiand on free loopback ports in a temp dir (a token with the
#    admin scope; HISTORIAND_ARGS added).
# 3. The first set at full speed: backup.base.samples_per_s.
# 4. The second set at full speed while a loop runs `historian backup`
#    back to back: backup.during.samples_per_s, backup.runs, and the
#    backups' mean seconds and bytes (from their reports).
# 5. The third set with nothing running again (backup.after.*): the
#    baseline with as much data stored as during 4.
# Back to back is the worst case: an operator runs one backup at a time,
# now and then.
# Every line is "name value unit". Exits nonzero, saying why, when the
# server does not start, a write fails or a backup fails.
#
# Environment (defaults): TAGS 50000  SECONDS_ 60  BATCH 5000  STREAMS 2
#   GAP_S 0 (seconds between two backups)  HISTORIAND_ARGS ""
set -euo pipefail
shopt -s inherit_errexit
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
BUILD=${1:-${BUILD_DIR:-$root/build}}
case $BUILD in /*) ;; *) BUILD=$PWD/$BUILD ;; esac
TAGS=${TAGS:-50000}
SECONDS_=${SECONDS_:-60}
BATCH=${BATCH:-5000}
STREAMS=${STREAMS:-2}
STOP_S=${STOP_S:-600}
GAP_S=${GAP_S:-0}
TOKEN=backup-bench-admin-token

. "$here/peers_lib.sh"

for b in bench/bench_gen bench/bench_thin tools/historiand tools/historian; do
    [ -x "$BUILD/$b" ] || die "build $BUILD/$b first (cmake --build $BUILD -j2)"
done
bench_temp hist-backup

start_ns=$(($(date +%s) * 1000000000 - 2 * SECONDS_ * 1000000000))
for set in base during after; do
    "$BUILD/bench/bench_gen" --tags "$TAGS" --seconds "$SECONDS_" --period-s 1 \
        --start-ns "$start_ns" --batch "$BATCH" --hist "$tmp/$set.hist" >"$tmp/$set.gen" ||
        die "bench_gen failed"
    start_ns=$((start_ns + SECONDS_ * 1000000000))
done
echo "backup.samples_per_set $(awk '$1 == "gen.samples" {print $2}' "$tmp/base.gen") samples"

d=$tmp/hist
mkdir -p "$d"
echo "$TOKEN admin" >"$d/tokens"
hist_start "$d" --auth-file "$d/tokens" || die "historiand did not start"
hp=$hist_port
pid=$hist_pid

feed_set() { # set name
    "$BUILD/bench/bench_thin" --bodies "$tmp/$1.hist" --port "$hp" --path /api/v1/write \
        --content-type application/x-protobuf --header "Authorization: Bearer $TOKEN" \
        --streams "$STREAMS" --timeout-ms 60000 --deadline-s 3600 --name "backup.$1" |
        grep -E '\.(samples_per_s|seconds|latency_p99_ms|latency_max_ms) ' ||
        { tail -n 20 "$d/log" >&2; die "a write failed"; }
}

log "feeding the first set with nothing else running"
feed_set base

log "feeding the second set while backups run back to back"
: >"$tmp/runs"
(
    n=0
    while [ ! -e "$tmp/stop" ] && [ "$n" -lt 1000 ]; do
        n=$((n + 1))
        if ! "$BUILD/tools/historian" backup --server "http://127.0.0.1:$hp" --token "$TOKEN" \
            -F json --wait 600 "$d/bk$n" >>"$tmp/runs" 2>>"$tmp/runs.err"; then
            echo fail >>"$tmp/runs.err"
            break
        fi
        rm -rf "$d/bk$n"
        sleep "$GAP_S"
    done
) &
loop=$!
pids+=("$loop")
feed_set during
touch "$tmp/stop"
wait "$loop" || true
grep -q fail "$tmp/runs.err" 2>/dev/null && { cat "$tmp/runs.err" >&2; die "a backup failed"; }
runs=$(grep -c '"ok":true' "$tmp/runs" || true)
echo "backup.runs ${runs:-0} backups"
[ "${runs:-0}" -gt 0 ] || die "no backup finished while the second set was fed"
python3 - "$tmp/runs" <<'PY'
import json, sys
rs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
n = len(rs)
print("backup.mean_seconds %.3f s" % (sum(r["seconds"] for r in rs) / n))
print("backup.mean_bytes %.0f B" % (sum(r["bytes"] for r in rs) / n))
print("backup.mean_linked_bytes %.0f B" % (sum(r["linked_bytes"] for r in rs) / n))
print("backup.max_seconds %.3f s" % max(r["seconds"] for r in rs))
PY
log "feeding the third set with nothing else running again"
feed_set after
stop_bounded "$pid" historiand
echo "backup.data_bytes $(du_bytes "$d/data") B"
