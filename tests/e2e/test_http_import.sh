#!/usr/bin/env bash
# test_http_import.sh: POST /api/v1/import, CSV over HTTP into the real
# historiand, as a browser or curl loads a file: a European Excel file
# (BOM, ';', decimal comma, CRLF, the wide form, zone-less times in
# Europe/Berlin across the DST change of 2026-03-29), a long file whose
# header names the columns in another order with quoted tag names holding
# ',' and '"', and `historian export`'s own output imported into a second
# server and exported again, byte for byte. Refusals: a bad row (400 naming
# its line, nothing written), no token (401), a read-only token (403), a
# tag outside the token's patterns (403), a gzip body (415), an unknown
# zone (400). Every sample is read back through the query API.
set -euo pipefail
BIN=${HIST_BIN_DIR:?HIST_BIN_DIR}
export no_proxy=127.0.0.1
dir=$(mktemp -d /tmp/test_http_import-XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; wait 2>/dev/null || true
            [ -n "${KEEP:-}" ] || rm -rf "$dir"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; tail -5 "$dir"/*.log; exit 1; }
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
printf 'w-token write,read\nr-token read\nl-token write,read line1/**\n' > "$dir/tokens"
start() { # NAME PORT
    "$BIN/historiand" --data "$dir/$1" --http 127.0.0.1:$2 --ingest '' --scrub-share 0 \
        --auth-file "$dir/tokens" > "$dir/$1.log" 2>&1 & pids+=($!)
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$2/healthz" >/dev/null 2>&1 && return 0; sleep 0.05; done
    fail "historiand $1 did not start"
}
pa=$(free_port); pb=$(free_port)
start a $pa; start b $pb
imp() { # PORT QUERY FILE [curl args]: "STATUS BODY"
    local port=$1 q=$2 f=$3; shift 3
    curl -s -o "$dir/answer" -w '%{http_code}' -XPOST "http://127.0.0.1:$port/api/v1/import$q" \
        --data-binary "@$f" "$@"; echo " $(cat "$dir/answer")"; }
query() { curl -sf -H 'Authorization: Bearer w-token' \
    "http://127.0.0.1:$1/api/v1/query?tag=$2&from=2026-03-28T00:00:00Z&to=2026-03-30T00:00:00Z&format=csv" | grep -v '^tag,'; }
W='Authorization: Bearer w-token'

# European Excel: wide form, Berlin local times across the DST jump
printf '\xef\xbb\xbftime;Kessel 1;"Pumpe; 2"\r\n2026-03-29 01:30:00;81,5;1\r\n2026-03-29 03:30:00;82,25;\r\n' > "$dir/wide.csv"
got=$(imp $pa '?delimiter=%3B&decimal_comma=1&tz=Europe%2FBerlin' "$dir/wide.csv" -H "$W")
[ "$got" = '200 {"batch_id":0,"written":3,"code":0,"errors":[]}' ] || fail "wide: $got"
[ "$(query $pa 'Kessel%201')" = "$(printf 'Kessel 1,2026-03-29T00:30:00Z,81.5,0\nKessel 1,2026-03-29T01:30:00Z,82.25,0')" ] ||
    fail "Kessel 1: $(query $pa 'Kessel%201')"
[ "$(query $pa 'Pumpe%3B%202')" = "Pumpe; 2,2026-03-29T00:30:00Z,1,0" ] || fail "Pumpe; 2: $(query $pa 'Pumpe%3B%202')"
# a long file, the header in another order, names with ',' and '"'
cat > "$dir/long.csv" <<'CSV'
quality,value,time,tag
0,1.5,2026-03-29T00:59:59Z,"line1/a,b"
1073741824,true,2026-03-29T01:00:00Z,"line1/say ""hi"""
,-7,1774746001000,"line1/a,b"
CSV
got=$(imp $pa '' "$dir/long.csv" -H "$W"); [ "${got%% *}" = 200 ] || fail "long: $got"
[ "$(query $pa 'line1%2Fa%2Cb')" = "$(printf '"line1/a,b",2026-03-29T00:59:59Z,1.5,0\n"line1/a,b",2026-03-29T01:00:01Z,-7,0')" ] ||
    fail "line1/a,b: $(query $pa 'line1%2Fa%2Cb')"
[ "$(query $pa 'line1%2Fsay%20%22hi%22')" = '"line1/say ""hi""",2026-03-29T01:00:00Z,true,1073741824' ] ||
    fail "say hi: $(query $pa 'line1%2Fsay%20%22hi%22')"
# export -> import over HTTP -> export: the same bytes
exp() { "$BIN/historian" export --server "http://127.0.0.1:$1" --token w-token -p '*' -p '*/*' \
    --from 2026-03-28T00:00:00Z --to 2026-03-30T00:00:00Z; }
exp $pa > "$dir/a.csv"
[ "$(wc -l < "$dir/a.csv")" -ge 6 ] || fail "export a: $(cat "$dir/a.csv")"
got=$(imp $pb '' "$dir/a.csv" -H "$W"); [ "${got%% *}" = 200 ] || fail "import of the export: $got"
exp $pb > "$dir/b.csv"
cmp "$dir/a.csv" "$dir/b.csv" || { diff "$dir/a.csv" "$dir/b.csv" | head; fail "export -> import -> export differs"; }

# refusals
printf 'tag,time,value\nline1/x,2026-03-29T02:00:00Z,1\nline1/y,not a time,2\n' > "$dir/bad.csv"
got=$(imp $pa '' "$dir/bad.csv" -H "$W")
case $got in '400 {"error":"1 bad row, nothing was written: line 3, column 2 (time)'*) ;; *) fail "bad row: $got";; esac
[ -z "$(query $pa 'line1%2Fx' || true)" ] || fail "a refused import left line1/x"
got=$(imp $pa '' "$dir/long.csv"); [ "${got%% *}" = 401 ] || fail "no token: $got"
got=$(imp $pa '' "$dir/long.csv" -H 'Authorization: Bearer r-token'); [ "${got%% *}" = 403 ] || fail "read token: $got"
printf 'tag,time,value\nline1/ok,2026-03-29T02:00:00Z,1\nother,2026-03-29T02:00:00Z,2\n' > "$dir/pat.csv"
got=$(imp $pa '' "$dir/pat.csv" -H 'Authorization: Bearer l-token'); [ "${got%% *}" = 403 ] || fail "pattern: $got"
[ -z "$(query $pa 'line1%2Fok' || true)" ] || fail "a refused import left line1/ok"
gzip -c "$dir/long.csv" > "$dir/long.gz"
got=$(imp $pa '' "$dir/long.gz" -H "$W" -H 'Content-Encoding: gzip'); [ "${got%% *}" = 415 ] || fail "gzip: $got"
got=$(imp $pa '?tz=Mars%2FOlympus' "$dir/wide.csv" -H "$W"); [ "${got%% *}" = 400 ] || fail "zone: $got"
for p in "${pids[@]}"; do kill "$p"; rc=0; wait "$p" || rc=$?; [ $rc = 0 ] || fail "historiand exit $rc"; done; pids=()
echo "test_http_import: a wide European file, a long file, an export round trip byte for byte, 6 refusals"
