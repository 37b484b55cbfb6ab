#!/usr/bin/env bash
# test.sh: InfluxDB's own JavaScript client (npm @influxdata/influxdb-client,
# pinned in package-lock.json, installed with npm ci) writes line protocol to
# historiand's POST /api/v2/write, gzip'd and plain, with a token; write.js
# reads everything back through the query API and compares it.
# Use: tests/e2e/influx-client/test.sh [BIN_DIR] (default $HIST_BIN_DIR, else
# build/tools). Without node/npm: "SKIP: why" as the closing line, exit 0.
# The closing line is "influx-client: OK (...)" or "influx-client: FAIL ...".
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
BIN=${1:-${HIST_BIN_DIR:-build/tools}}
fail() { echo "influx-client: FAIL $*"; exit 1; }
command -v node >/dev/null && command -v npm >/dev/null || { echo "SKIP: node or npm not installed"; exit 0; }
[ -x "$BIN/historiand" ] || fail "no historiand in $BIN"
export no_proxy=127.0.0.1 NO_PROXY=127.0.0.1
dir=$(mktemp -d /tmp/influx-client-XXXXXX)
hpid=
cleanup() { [ -n "$hpid" ] && kill -9 "$hpid" 2>/dev/null; wait 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$dir"; }
trap cleanup EXIT
(cd "$here" && timeout 300 npm ci --no-audit --no-fund) > "$dir/npm.log" 2>&1 ||
    { tail -20 "$dir/npm.log"; fail "npm ci failed"; }
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
echo "test-token write,read" > "$dir/tokens"
"$BIN/historiand" --data "$dir/data" --http 127.0.0.1:$port --ingest '' --scrub-share 0 \
    --auth-file "$dir/tokens" > "$dir/server.log" 2>&1 & hpid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.05; done
result=$(timeout 60 node "$here/write.js" "http://127.0.0.1:$port" test-token 2> "$dir/node.err" | grep '^RESULT' | tail -1)
case $result in
"RESULT OK "*) ;;
*) cat "$dir/node.err" >&2; tail -5 "$dir/server.log" >&2; fail "${result#RESULT FAIL }";;
esac
grep -q '^historian_lp_requests_total 3$' <<< "$(curl -s -H 'Authorization: Bearer test-token' "http://127.0.0.1:$port/metrics")" ||
    fail "historian_lp_requests_total is not 3"
kill "$hpid"; rc=0; wait "$hpid" || rc=$?; hpid=
[ $rc = 0 ] || fail "historiand did not stop cleanly (exit $rc)"
echo "influx-client: OK (${result#RESULT OK })"
