#!/usr/bin/env bash
# test.sh: the Grafana plugin's tests (scripts/test.sh calls it when npm is
# present).
#   1. npm ci (from package-lock.json), 2. build (tsc + esbuild -> dist/ + zip),
#   3. unit tests (vitest, no Grafana, no network), then the query and
#      config editors rendered with the real @grafana/ui in Debian's
#      Chromium (test/browser/editors.mjs, playwright-core; screenshots in
#      build/artifacts/grafana-editors/; skipped, and said so, without it),
#   4. integration test against a real historiand on loopback, when a binary
#      exists at $HIST_BIN_DIR/historiand or <repo>/build/tools/historiand:
#      started on free 127.0.0.1 ports with a temporary --data dir, fed by
#      POST /api/v1/write from the test itself, stopped by its PID.
# Prints "skipped: <reason>" for what it cannot run, and a closing summary.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$here"

fail() { echo "grafana-datasource: FAILED: $*"; exit 1; }

echo "--- npm ci"
npm ci --no-audit --no-fund || fail "npm ci"
echo "--- build"
./build.sh || fail "build"
echo "--- unit tests"
npx --no-install vitest run test/unit || fail "unit tests"
unit="unit tests passed"
echo "--- the query and config editors in Chromium (the real @grafana/ui; skips without Chromium)"
artifacts="$repo/build/artifacts/grafana-editors"
node test/browser/editors.mjs "$artifacts" | tee "${TMPDIR:-/tmp}/hist-gf-editors.out"
[ "${PIPESTATUS[0]}" -eq 0 ] || fail "editors in Chromium"
unit="$unit; $(tail -n 1 "${TMPDIR:-/tmp}/hist-gf-editors.out")"
rm -f "${TMPDIR:-/tmp}/hist-gf-editors.out"

bin=""
for cand in "${HIST_BIN_DIR:-}/historiand" "$repo/build/tools/historiand"; do
    if [ -n "$cand" ] && [ -x "$cand" ] && [ "$cand" != "/historiand" ]; then
        bin=$cand
        break
    fi
done
if [ -z "$bin" ]; then
    echo "skipped: integration test: no historiand binary (looked in \$HIST_BIN_DIR and $repo/build/tools)"
    echo "grafana-datasource: OK ($unit; integration skipped: no historiand binary)"
    exit 0
fi

free_port() {
    node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"
}
http_port=$(free_port)
ingest_port=$(free_port)
while [ "$ingest_port" = "$http_port" ]; do ingest_port=$(free_port); done
data=$(mktemp -d /tmp/hist-grafana-it.XXXXXX)
log="$data.log"
tokens="$data.tokens"
# With a tokens file, as in production: the test sends the token the way
# Grafana's proxy route would (Authorization: Bearer).
token="it-$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')"
echo "$token read,write,admin" >"$tokens"
echo "--- integration test: $bin on 127.0.0.1:$http_port (data $data, --auth-file)"
"$bin" --data "$data" --http "127.0.0.1:$http_port" --ingest "127.0.0.1:$ingest_port" \
    --auth-file "$tokens" >"$log" 2>&1 &
pid=$!
cleanup() {
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
    rm -rf "$data" "$log" "$tokens"
}
trap cleanup EXIT

up=0
for _ in $(seq 1 100); do
    if ! kill -0 "$pid" 2>/dev/null; then break; fi
    if node -e "require('http').get('http://127.0.0.1:$http_port/healthz',r=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1))"; then
        up=1
        break
    fi
    sleep 0.1
done
if [ "$up" != 1 ]; then
    echo "historiand did not come up; its log:"
    cat "$log"
    fail "integration test: historiand did not answer /healthz within 10 s"
fi

HIST_URL="http://127.0.0.1:$http_port" HIST_TOKEN="$token" npx --no-install vitest run test/integration
rc=$?
if [ $rc -ne 0 ]; then
    echo "historiand log (last 30 lines):"
    tail -n 30 "$log"
    fail "integration test"
fi
echo "grafana-datasource: OK ($unit; integration test passed against $bin)"
