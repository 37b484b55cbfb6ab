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
command -v mosquitto >/dev/null || skip "mosquitto not installed"
[ -x "$BIN/historiand" ] || fail "no historiand in $BIN"
BIN=$(cd "$BIN" && pwd)
command -v curl >/dev/null || fail "curl not installed"

dir=$(mktemp -d /tmp/sparkplug-tahu-XXXXXX)
mpid=; hpid=
cleanup() {
    [ -n "$hpid" ] && kill "$hpid" 2>/dev/null
    [ -n "$mpid" ] && kill "$mpid" 2>/dev/null
    wait 2>/dev/null
    if [ -n "${KEEP:-}" ]; then echo "kept: $dir" >&2; else rm -rf "$dir"; fi
}
trap cleanup EXIT
export no_proxy=127.0.0.1 NO_PROXY=127.0.0.1

(cd "$here" && timeout 300 npm ci --no-audit --no-fund) > "$dir/npm.log" 2>&1 ||
    { tail -20 "$dir/npm.log"; fail "npm ci failed (see above)"; }

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
mport=$(free_port); hport=$(free_port); iport=$(free_port)
cat > "$dir/m.conf" <<CONF
listener $mport 127.0.0.1
allow_anonymous true
persistence false
$( [ "$(id -u)" = 0 ] && echo "user root" )
CONF
mosquitto -c "$dir/m.conf" > "$dir/mosquitto.log" 2>&1 & mpid=$!
"$BIN/historiand" --data "$dir/data" --http 127.0.0.1:$hport --ingest 127.0.0.1:$iport \
    --scrub-share 0 --mqtt mqtt://127.0.0.1:$mport > "$dir/server.log" 2>&1 & hpid=$!
up=
for _ in $(seq 200); do
    curl -sf "http://127.0.0.1:$hport/healthz" 2>/dev/null | grep -q "mqtt.*connected" && { up=1; break; }
    kill -0 $hpid 2>/dev/null || break
    sleep 0.05
done
[ -n "$up" ] || { tail -20 "$dir/server.log" "$dir/mosquitto.log"; fail "historiand did not connect to the broker"; }

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
echo "sparkplug-tahu: OK (${result#RESULT OK })"
