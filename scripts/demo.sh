#!/usr/bin/env bash
# The main job on the embedded default (README, first command):
# install what is missing, build, start historiand on ./historian-data
# (HTTP 127.0.0.1:9460, ingest 127.0.0.1:9461), backfill a day of simulated
# plant data and stream live data for a few seconds through the gateway
# simulator, then query it through the CLI: a chart-sized plot (M4) and an
# hourly report. The server is stopped by its PID at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
build=${HIST_BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" --target historiand historian

bin=$build/tools
data=./historian-data
tag=site1/area1/line1/cell1/temperature_pv

$bin/historiand --data "$data" >historiand.log 2>&1 &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
    curl -fsS http://127.0.0.1:9460/healthz >/dev/null 2>&1 && break
    kill -0 $pid 2>/dev/null || { cat historiand.log; exit 1; }
    sleep 0.1
done
echo "historiand running (pid $pid), data in $data, log in historiand.log"

spool=$(mktemp -d)
start_ms=$(( ($(date +%s) - 86400) * 1000 ))
echo; echo "== backfill: the last 24 h of 1 Hz plant data for 20 tags, as fast as it goes"
$bin/historian simulate --tags 20 --start "$start_ms" --duration 86390 --fast --batch 10000 \
    --spool "$spool"
echo; echo "== live: 5 s of streaming, paced in real time"
$bin/historian simulate --tags 20 --duration 5 --spool "$spool"
rm -rf "$spool"

echo; echo "== tags"
$bin/historian tags --format table | head -n 12
echo; echo "== plot: $tag over the last 24 h, 40 pixels wide (M4)"
$bin/historian query "$tag" --from=-24h --to now --mode plot --points 10 --format table
echo; echo "== hourly report: time-weighted average, min, max over the last 8 h"
$bin/historian query "$tag" --from=-8h --to now --bucket hour --agg twa,min,max,count \
    --tz Europe/Berlin --format table
echo; echo "== storage"
$bin/historian stats
