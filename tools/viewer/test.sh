#!/usr/bin/env bash
# test.sh: the trend viewer's tests (scripts/test.sh calls it).
#   1. npm ci (package-lock.json), 2. build.sh --check: the committed dist/
#      is what src/ builds to,
#   3. the browser test (test/browser.mjs): Debian's /usr/bin/chromium,
#      headless, through playwright-core, against a real historiand
#      ($HIST_BIN_DIR/historiand or <repo>/build/tools/historiand) started
#      here on free 127.0.0.1 ports with a temporary --data dir, TLS (a
#      certificate made here with openssl) and a tokens file (a read and an
#      admin token), stopped by its PID.
# Closing line: "viewer: OK (...)" or "viewer: FAIL ..."; "SKIP: why" (exit
# 0) without node/npm or chromium. The screenshot goes to
# $VIEWER_SHOT or <repo>/build/viewer-test.png.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$here"

fail() { echo "viewer: FAIL $*"; exit 1; }

command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || { echo "SKIP: node/npm not installed"; exit 0; }
chromium=${CHROMIUM:-/usr/bin/chromium}
[ -x "$chromium" ] || { echo "SKIP: no chromium at $chromium (apt-get install chromium)"; exit 0; }
command -v openssl >/dev/null 2>&1 || { echo "SKIP: openssl not installed (the test serves over TLS)"; exit 0; }

echo "--- npm ci"
npm ci --no-audit --no-fund >/dev/null || fail "npm ci"
echo "--- build.sh --check"
./build.sh --check || fail "dist/ does not match src/"

bin=""
for cand in "${HIST_BIN_DIR:-}/historiand" "$repo/build/tools/historiand"; do
    if [ "$cand" != "/historiand" ] && [ -x "$cand" ]; then
        bin=$cand
        break
    fi
done
[ -n "$bin" ] || fail "no historiand binary (looked in \$HIST_BIN_DIR and $repo/build/tools)"

free_port() {
    node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"
}
http_port=$(free_port)
ingest_port=$(free_port)
while [ "$ingest_port" = "$http_port" ]; do ingest_port=$(free_port); done
work=$(mktemp -d /tmp/hist-viewer-test.XXXXXX)
read_token="ro-$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')"
admin_token="adm-$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')"
printf '%s read\n%s admin\n' "$read_token" "$admin_token" >"$work/tokens"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
    -keyout "$work/key.pem" -out "$work/cert.pem" >/dev/null 2>&1 || fail "openssl could not make a certificate"
shot=${VIEWER_SHOT:-$repo/build/viewer-test.png}
mkdir -p "$(dirname "$shot")"

echo "--- browser test: $bin on https://127.0.0.1:$http_port (TLS, tokens file; data $work/data)"
"$bin" --data "$work/data" --http "127.0.0.1:$http_port" --ingest "127.0.0.1:$ingest_port" \
    --auth-file "$work/tokens" --tls-cert "$work/cert.pem" --tls-key "$work/key.pem" \
    >"$work/log" 2>&1 &
pid=$!
cleanup() {
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

up=0
for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    if curl -fsk --max-time 2 "https://127.0.0.1:$http_port/healthz" >/dev/null 2>&1; then
        up=1
        break
    fi
    sleep 0.1
done
if [ "$up" != 1 ]; then
    cat "$work/log"
    fail "historiand did not answer /healthz within 10 s"
fi

CHROMIUM=$chromium timeout 300 node test/browser.mjs --test "https://127.0.0.1:$http_port" \
    "$read_token" "$admin_token" "$shot"
rc=$?
if [ $rc -ne 0 ]; then
    echo "historiand log (last 20 lines):"
    tail -n 20 "$work/log"
    exit 1
fi
