#!/usr/bin/env bash
# test.sh: the Sparkplug B end-to-end test with a real edge node. Eclipse
# Tahu's JavaScript client (npm: sparkplug-client, sparkplug-payload; pinned
# in package-lock.json, installed here with npm ci) publishes through
# Debian's mosquitto (a free 127.0.0.1 port, a temporary config, stopped by
# PID) into historiand (--mqtt), which reads it as a Sparkplug B host;
# edge.js drives births, data by alias, a seq gap and the rebirth, historical
# and null metrics, deaths (one by the MQTT will), and compares what the
# query API, the tag API and /metrics give back with what it sent, sample
# for sample.
#
# Use: tests/mqtt/tahu/test.sh [BIN_DIR]   (historiand's folder; default
# $HIST_BIN_DIR, else build/tools). KEEP=1 keeps the temporary folder.
# Without node/npm or mosquitto: "SKIP: why" as the closing line, exit 0.
# Otherwise the closing line is "sparkplug-tahu: OK (...)" or
# "sparkplug-tahu: FAIL ..." (exit 1). Every wait is bounded.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
BIN=${1:-${HIST_BIN_DIR:-build/tools}}
skip() { echo "SKIP: $*"; exit 0; }
fail() { echo "sparkplug-tahu: FAIL $*"; exit 1; }
command -v node >/dev/null && command -v npm >/dev/null || skip "node or npm not installed"
[ -x "$BIN/historiand" ] || fail "no historiand in $BIN"
BIN=$(cd "$BIN" && pwd)
NAME=sparkplug-tahu SKIP_CODE=0
. "$here/../mqtt_lib.sh"

(cd "$here" && timeout 300 npm ci --no-audit --no-fund) > "$dir/npm.log" 2>&1 ||
    { tail -20 "$dir/npm.log"; fail "npm ci failed (see above)"; }

start_broker
start_historiand
timeout 90 node "$here/edge.js" --broker "mqtt://127.0.0.1:$mport" --http "http://127.0.0.1:$hport" \
    --out "$dir" > "$dir/edge.out" 2> "$dir/edge.err"
rc=$?
result=$(grep '^RESULT ' "$dir/edge.out" | tail -1)
if [ $rc -ne 0 ] || [ "${result#RESULT OK }" = "$result" ]; then
    cat "$dir/edge.err" >&2
    echo "--- historiand log (last lines)" >&2; tail -20 "$dir/server.log" >&2
    curl -s "http://127.0.0.1:$hport/metrics" | grep '^historian_mqtt' >&2
    msg=${result#RESULT FAIL }
    [ -n "$result" ] || msg="edge.js exited $rc without a result"
    fail "$msg"
fi
# an unsupported metric is logged once, rebirths included (a device's too)
for m in Edge1/Label Edge1/Pump7/Status/Text; do
    n=$(grep -c "sparkplug: Plant1/$m: unsupported datatype" "$dir/server.log" || true)
    [ "$n" = 1 ] || fail "Plant1/$m: logged $n times as unsupported, want once"
done
stop_historiand || fail "historiand did not shut down cleanly (exit $?)"
echo "sparkplug-tahu: OK (${result#RESULT OK })"
