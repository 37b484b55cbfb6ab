#!/usr/bin/env bash
# bench/attacks.sh: the hostile requests of issue 12 ("no request takes the
# server down"), each against a freshly started historiand, with what each
# cost the server. Not run by ctest (the tests check the answers; this
# measures them, and runs an old build as well for a before/after).
#
#   bench/attacks.sh [BUILD_DIR]          (default: build)
#
# For every attack: historiand starts on free loopback ports in a temp dir
# with a tokens file ("reader" holds read, "writer" write), 400 tags x 100 s
# of data are written, the attack is sent with the read token (or none),
# then GET /healthz must still answer. Printed per attack (name value unit):
#   attack.NAME.status       the HTTP status answered (0: none within 120 s)
#   attack.NAME.seconds      time to the answer
#   attack.NAME.peak_mib     historiand's VmHWM after it (its whole life)
#   attack.NAME.alive        1 when /healthz answered afterwards
# The server is stopped by its PID. Needs curl and python3 (installed here).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
HIST_DEPS_EXTRA="python3 curl" "$root/scripts/deps.sh"
export no_proxy="127.0.0.1${no_proxy:+,$no_proxy}" NO_PROXY="127.0.0.1${NO_PROXY:+,$NO_PROXY}"
tmp=$(mktemp -d /tmp/hist-attacks.XXXXXX)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
printf 'reader read\nwriter write\n' >"$tmp/tokens"
python3 - "$tmp/data.csv" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    for t in range(400):
        for s in range(100):
            f.write("m/t%04d,%d,%g\n" % (t, 1700000000000 + s * 1000, (s * 7 + t) % 100 / 10))
PY

start() {
    hp=$(port); ip=$(port)
    rm -rf "$tmp/data"
    "$build/tools/historiand" --data "$tmp/data" --http "127.0.0.1:$hp" --ingest "127.0.0.1:$ip" \
        --auth-file "$tmp/tokens" --log-level warn --scrub-share 0 --compact-share 0 \
        >"$tmp/log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do
        curl -s -o /dev/null "http://127.0.0.1:$hp/healthz" && break
        sleep 0.1
    done
    "$build/tools/historian" import "$tmp/data.csv" --ingest "127.0.0.1:$ip" --token writer \
        >/dev/null
}

stop() { kill "$pid"; wait "$pid" || true; pid=""; }

peak_mib() { awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$pid/status"; }

report() { # name status seconds
    local alive=0
    curl -s -m 10 -o /dev/null "http://127.0.0.1:$hp/healthz" && alive=1
    local peak
    peak=$(peak_mib 2>/dev/null || echo 0)
    printf 'attack.%s.status %s code\nattack.%s.seconds %s s\nattack.%s.peak_mib %s MiB\nattack.%s.alive %s bool\n' \
        "$1" "$2" "$1" "$3" "$1" "${peak:-0}" "$1" "$alive"
}

http_attack() { # name, curl arguments after the URL base
    local name=$1 path=$2; shift 2
    start
    local t0 t1 code
    t0=$(date +%s.%N)
    code=$(curl -s -m 120 -o "$tmp/body" -w '%{http_code}' -H 'Authorization: Bearer reader' \
        "$@" "http://127.0.0.1:$hp$path" || true)
    t1=$(date +%s.%N)
    report "$name" "${code:-0}" "$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}')"
    stop
}

# 1. a nested-bound regex in a Grafana ad hoc filter
http_attack grafana_regex /grafana/variable -X POST -H 'Content-Type: application/json' \
    --data-binary '{"payload":{"pattern":"m/*"},"adhocFilters":[{"key":"signal","operator":"=~","value":"((((a{1,50}){1,50}){1,50}){1,50})"}]}'
# 2. 400 Grafana targets of 1 ms interpolation over 1,000 s
python3 - >"$tmp/gq.json" <<'PY'
import json
t = [{"refId": "A%d" % i, "target": "m/t%04d" % i, "payload": {"mode": "interp", "step": "1ms"}}
     for i in range(400)]
print(json.dumps({"range": {"from": "2023-11-14T22:13:20Z", "to": "2023-11-14T22:30:00Z"}, "targets": t}))
PY
http_attack grafana_targets /grafana/query -X POST -H 'Content-Type: application/json' \
    --data-binary "@$tmp/gq.json"
# 3. day buckets from 1800 to 2099 over the 400 tags
http_attack calendar '/api/v1/query?pattern=m/**&mode=agg&bucket=day&from=1800-01-01T00:00:00Z&to=2099-12-31T00:00:00Z'
# 4. 20,000 pattern= values
python3 -c "print('mode=latest&'+'&'.join('pattern=m/*zz%d*' % i for i in range(20000)))" >"$tmp/pat.txt"
http_attack patterns /api/v1/query -X POST -H 'Content-Type: application/x-www-form-urlencoded' \
    --data-binary "@$tmp/pat.txt"
# 5. a range of 350 years
http_attack long_range '/api/v1/query?tag=m/t0001&mode=interp&points=10&from=1800-01-01T00:00:00Z&to=2150-01-01T00:00:00Z'
# 6. 5,000 header lines
hdrs=()
for i in $(seq 5000); do hdrs+=(-H "A$((i % 10));"); done
http_attack headers '/api/v1/tags?limit=1' "${hdrs[@]}"
# 7. a NUL in a tag parameter (answered for the tag before the NUL?)
http_attack nul_param '/api/v1/query?tag=m/t0001%00junk&mode=latest'
# 8. a 16 MB write body announced without a token (only the headers are sent)
start
t0=$(date +%s.%N)
code=$(python3 - "$hp" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"POST /api/v1/write HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
          b"Content-Length: 16000000\r\n\r\n")
s.settimeout(20)
try:
    d = s.recv(100)
    print(d.split()[1].decode() if d.startswith(b"HTTP/1.1") else 0)
except OSError:
    print(0)
PY
)
t1=$(date +%s.%N)
report unread_body "$code" "$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}')"
stop
# 9. an unauthenticated 16 MiB TCP frame of 8.4 M empty series (wrong token)
start
t0=$(date +%s.%N)
code=$(python3 - "$ip" <<'PY'
import socket, struct, sys
tok = b"wrong-token"
body = b"\x12" + bytes([len(tok)]) + tok + b"\x1a\x00" * 8380000
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(struct.pack(">I", len(body)) + body)
s.settimeout(60)
try:
    print(1 if s.recv(65536) else 0)
except OSError:
    print(0)
PY
)
t1=$(date +%s.%N)
report tcp_frame "$code" "$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}')"
stop
