#!/usr/bin/env bash
# test_lp_write.sh: InfluxDB line protocol writes into the real historiand
# over HTTP, as InfluxDB's clients send them, replayed with curl: Telegraf's
# 1.x output (POST /write?db=telegraf, gzip, text/plain), its 2.x output
# (POST /api/v2/write?org=&bucket=, Authorization: Token), a 1.x client's
# ?u=&p= token, precisions, escapes, timestamps across the DST change of
# 2026-03-29 01:00 UTC and midnight, a name template and a quality field
# from the --config file. Every sample is read back through the query API
# and compared value for value. Refusals: a bad line (400 naming it,
# nothing written), a read-only token (403), a tag outside the token's
# patterns (403, nothing written), no token (401), a body over the limit
# and a gzip bomb (413), a string field (left out, said in a header).
set -euo pipefail
BIN=${HIST_BIN_DIR:?HIST_BIN_DIR}
export no_proxy=127.0.0.1
dir=$(mktemp -d /tmp/test_lp_write-XXXXXX)
hpid=
cleanup() { [ -n "$hpid" ] && kill -9 "$hpid" 2>/dev/null || true; wait 2>/dev/null || true
            [ -n "${KEEP:-}" ] || rm -rf "$dir"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; tail -20 "$dir/server.log"; exit 1; }
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
hport=$(free_port)
cat > "$dir/tokens" <<TOK
writer-token write,read
reader-token read
line-token write,read line1/**
TOK
cat > "$dir/historian.conf" <<CONF
lp-quality-field=quality
max-frame=1048576
CONF
start() {
    "$BIN/historiand" --config "$dir/historian.conf" --data "$dir/data" --http 127.0.0.1:$hport \
        --ingest '' --scrub-share 0 --auth-file "$dir/tokens" "$@" >> "$dir/server.log" 2>&1 & hpid=$!
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$hport/healthz" >/dev/null 2>&1 && return 0; sleep 0.05; done
    fail "historiand did not start"
}
stop() { kill "$hpid"; local rc=0; wait "$hpid" || rc=$?; hpid=; [ $rc = 0 ] || fail "historiand exit $rc"; }
url=http://127.0.0.1:$hport
# post PATH BODYFILE [CURL ARGS]: prints "STATUS BODY"
post() { local p=$1 f=$2; shift 2
    curl -s -o "$dir/answer" -w '%{http_code}' -XPOST "$url$p" --data-binary "@$f" "$@"; echo " $(cat "$dir/answer")"; }
query() { curl -sf -H 'Authorization: Bearer writer-token' \
    "$url/api/v1/query?tag=$1&from=2026-03-28T00:00:00Z&to=2026-03-30T00:00:00Z&format=csv&time_format=ns" | grep -v '^tag,'; }
start

# Telegraf's 1.x output: gzip'd, precision ns, db=telegraf
cat > "$dir/telegraf1.txt" <<'LP'
cpu,cpu=cpu0,host=plc-gw1 usage_user=1.5,usage_system=0.25 1774745999000000000
cpu,cpu=cpu0,host=plc-gw1 usage_user=2.5,usage_system=0.5 1774746000000000000
modbus,name=boiler\ 1,slave_id=3 temperature=81.25,pressure=2i,running=true 1774746001000000000
opcua,id=ns\=2;s\=Line1.Speed,name=speed value=1450.5,quality=192i 1774746002000000000
opcua,id=ns\=2;s\=Line1.Speed,name=speed value=0,quality=24i 1774746003000000000
LP
gzip -c "$dir/telegraf1.txt" > "$dir/telegraf1.gz"
got=$(post "/write?db=telegraf&rp=autogen&precision=ns" "$dir/telegraf1.gz" -H 'Content-Encoding: gzip' \
      -H 'Content-Type: text/plain; charset=utf-8' -H 'User-Agent: Telegraf/1.28.5 Go/1.21.4' \
      -H 'Authorization: Token writer-token')
[ "$got" = "204 " ] || fail "telegraf 1.x: $got"
# its 2.x output: org and bucket, plain, precision s; a line across midnight
printf 'mem,host=plc-gw1 used_percent=41.5 1774742399\nmem,host=plc-gw1 used_percent=42 1774742400\n' > "$dir/telegraf2.txt"
got=$(post "/api/v2/write?org=plant&bucket=telegraf&precision=s" "$dir/telegraf2.txt" -H 'Authorization: Token writer-token')
[ "$got" = "204 " ] || fail "telegraf 2.x: $got"
# a 1.x client's ?u=&p=, precision ms; a string field is left out and said
printf 'tank,site=north level=3.25,label="full" 1774746004000\n' > "$dir/v1p.txt"
curl -s -D "$dir/head" -o /dev/null -XPOST "$url/write?db=x&u=me&p=writer-token&precision=ms" \
    --data-binary "@$dir/v1p.txt"
grep -q "^HTTP/1.1 204" "$dir/head" || fail "?p=: $(head -1 "$dir/head")"
grep -qi "^X-Historian-Refused-Fields: 1" "$dir/head" || fail "the string field is not said: $(cat "$dir/head")"

{ query cpu0/plc-gw1/cpu/usage_user; query cpu0/plc-gw1/cpu/usage_system
  query "boiler%201/3/modbus/temperature"; query "boiler%201/3/modbus/pressure"; query "boiler%201/3/modbus/running"
  query "ns%3D2%3Bs%3DLine1.Speed/speed/opcua/value"; query plc-gw1/mem/used_percent; query north/tank/level
} > "$dir/got.csv"
cat > "$dir/want.csv" <<'WANT'
cpu0/plc-gw1/cpu/usage_user,1774745999000000000,1.5,0
cpu0/plc-gw1/cpu/usage_user,1774746000000000000,2.5,0
cpu0/plc-gw1/cpu/usage_system,1774745999000000000,0.25,0
cpu0/plc-gw1/cpu/usage_system,1774746000000000000,0.5,0
boiler 1/3/modbus/temperature,1774746001000000000,81.25,0
boiler 1/3/modbus/pressure,1774746001000000000,2,0
boiler 1/3/modbus/running,1774746001000000000,true,0
ns=2;s=Line1.Speed/speed/opcua/value,1774746002000000000,1450.5,0
ns=2;s=Line1.Speed/speed/opcua/value,1774746003000000000,0,2147811328
plc-gw1/mem/used_percent,1774742399000000000,41.5,0
plc-gw1/mem/used_percent,1774742400000000000,42,0
north/tank/level,1774746004000000000,3.25,0
WANT
diff "$dir/want.csv" "$dir/got.csv" || fail "stored samples differ (want < > got)"
# the quality field is no tag of its own, the string field neither
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer writer-token' \
    "$url/api/v1/tags/north/tank/label")
[ "$code" = 404 ] || fail "a string field became a tag ($code)"

# refusals: a bad line names its line and nothing of the request is written
printf 'cpu,host=a value=7 1774746100000000000\ncpu,host=a value= 1774746101000000000\n' > "$dir/bad.txt"
got=$(post "/write" "$dir/bad.txt" -H 'Authorization: Token writer-token')
case $got in "400 {\"code\":\"invalid\",\"message\":\"line 2, column "*"nothing was written\"}") ;; *) fail "bad line: $got";; esac
[ -z "$(query a/cpu/value || true)" ] || fail "a refused request left a/cpu/value"
printf 'x value=1\n' > "$dir/one.txt"
got=$(post "/write" "$dir/one.txt"); [ "${got%% *}" = 401 ] || fail "no token: $got"
got=$(post "/write" "$dir/one.txt" -H 'Authorization: Token reader-token'); [ "${got%% *}" = 403 ] || fail "read-only token: $got"
printf 'temp,line=line1,site=plant value=1 1774746200000000000\nother value=2 1774746200000000000\n' > "$dir/pat.txt"
got=$(post "/write" "$dir/pat.txt" -H 'Authorization: Token line-token')
[ "${got%% *}" = 403 ] || fail "a tag outside the token's patterns: $got"
[ -z "$(query other/value || true)" ] || fail "a refused request left other/value"
# over the 1 MiB limit, plain and as a gzip bomb (10 MiB of lines in ~30 KB)
head -c 1100000 /dev/zero | tr '\0' '#' > "$dir/big.txt"
got=$(post "/write" "$dir/big.txt" -H 'Authorization: Token writer-token'); [ "${got%% *}" = 413 ] || fail "big body: ${got:0:80}"
(yes 'bomb value=1 1774746300000000000' || true) | head -c 10485760 | gzip -c > "$dir/bomb.gz"
[ "$(stat -c %s "$dir/bomb.gz")" -lt 1048576 ] || fail "the bomb is not small"
got=$(post "/write" "$dir/bomb.gz" -H 'Content-Encoding: gzip' -H 'Authorization: Token writer-token')
case $got in "413 {\"code\":\"request too large\""*) ;; *) fail "gzip bomb: $got";; esac
got=$(post "/write?precision=fortnights" "$dir/one.txt" -H 'Authorization: Token writer-token')
[ "${got%% *}" = 400 ] || fail "bad precision: $got"
stop

# a name template from the options
start --lp-template '{tag:site}/{measurement}.{field}'
printf 'flow,site=south,pump=p1 rate=7.5 1774746400000000000\n' > "$dir/t.txt"
got=$(post "/api/v2/write?bucket=b" "$dir/t.txt" -H 'Authorization: Token writer-token')
[ "$got" = "204 " ] || fail "template: $got"
[ "$(query south/flow.rate)" = "south/flow.rate,1774746400000000000,7.5,0" ] || fail "template: $(query south/flow.rate)"
printf 'flow,pump=p1 rate=1 1774746401000000000\n' > "$dir/t2.txt"
got=$(post "/write" "$dir/t2.txt" -H 'Authorization: Token writer-token')
[ "${got%% *}" = 400 ] || fail "template without its tag: $got"
metrics=$(curl -s "$url/metrics" -H 'Authorization: Bearer writer-token')
grep -q '^historian_lp_requests_total 2$' <<< "$metrics" || fail "lp_requests_total: $(grep '^historian_lp' <<< "$metrics")"
stop
# a bad template stops start-up, naming it
if "$BIN/historiand" --data "$dir/data3" --http '' --ingest '' --lp-template '{nope}' > "$dir/bad.log" 2>&1; then
    fail "a bad template was accepted"; fi
grep -q -- "--lp-template" "$dir/bad.log" || fail "bad template: $(cat "$dir/bad.log")"
echo "test_lp_write: Telegraf 1.x and 2.x requests, 12 samples compared, 9 refusals as they should be"
