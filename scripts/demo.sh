#!/usr/bin/env bash
# The main job on the embedded default (README, first command):
# install what is missing, build, start historiand on ./historian-data
# (HTTP 127.0.0.1:9460, ingest 127.0.0.1:9461), send it a day of simulated
# plant data through the gateway simulator (the backlog at once, then a few
# seconds live), then query it through the CLI: a chart-sized plot (M4) and an
# hourly report. The server is stopped by its PID at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
# historiand is on 127.0.0.1: a proxy set for the machine must not see it.
export no_proxy="127.0.0.1,localhost,::1${no_proxy:+,$no_proxy}" NO_PROXY="127.0.0.1,localhost,::1${NO_PROXY:+,$NO_PROXY}"
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
echo; echo "== gateway simulator: 20 tags at 1 Hz from 24 h ago; the backlog goes at once,"
echo "   then 5 s of live data in real time (--catch-up)"
$bin/historian simulate --tags 20 --start "$start_ms" --duration 86405 --catch-up --batch 10000 \
    --spool "$spool"
rm -rf "$spool"

echo; echo "== tags"
$bin/historian tags --format table | head -n 12
echo; echo "== plot: $tag over the last 24 h, 10 pixels wide (M4: first, min, max, last per pixel)"
$bin/historian query "$tag" --from=-24h --to now --mode plot --points 10 --format table
echo; echo "== hourly report: time-weighted average, min, max over the last 8 h"
$bin/historian query "$tag" --from=-8h --to now --bucket hour --agg twa,min,max,count \
    --tz Europe/Berlin --format table
echo; echo "== storage"
$bin/historian stats
echo; echo "== trend viewer: http://127.0.0.1:9460/#view=trend&tag=$tag&from=-24h&to=now"
if command -v node >/dev/null 2>&1 && [ -x /usr/bin/chromium ] && \
    (cd tools/viewer && { [ -d node_modules ] || npm ci --no-audit --no-fund >/dev/null; }); then
    node tools/viewer/test/browser.mjs --demo http://127.0.0.1:9460 demo.png "$tag" || true
fi
