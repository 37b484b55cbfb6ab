#!/usr/bin/env bash
# test_mqtts.sh: historiand's MQTT connection over TLS and with broker
# authentication, end to end against Debian's mosquitto.
#
# The certificates are made here with openssl (a CA, a second CA nobody
# trusts, server certificates for 127.0.0.1 and for other names, a client
# certificate); two mosquitto brokers run on free 127.0.0.1 ports with
# temporary configs: broker 1 has TLS listeners that require a client
# certificate (one with the right server certificate, two whose names do
# not match 127.0.0.1), broker 2 a password file and no anonymous access
# (a plain and a TLS listener). Each case starts its own historiand and
# checks /healthz, /metrics and, where data should flow, every value
# published by mosquitto_pub at QoS 1 read back value for value (and
# timestamp for timestamp) through /api/v1/query ... &format=csv; where it
# should not, that nothing was stored.
#
#  0  a missing CA file, a key of another certificate, a key without a
#     certificate: historiand refuses to start (exit 1, the reason said)
#  1  mqtts:// with --mqtt-cafile, --mqtt-cert, --mqtt-key: connected, data
#     1b the same listener without a client certificate: refused
#  2  a CA that did not sign the broker's certificate: refused with the
#     certificate's failure named in /healthz, reconnects counted, HTTP up
#  3  the broker's certificate names other.example, or IP 127.0.0.2 (with
#     CN=127.0.0.1): refused, the name mismatch named
#  4  user:password in the URL: right (plain and TLS, %-encoded password)
#     connects and stores; wrong is refused with the CONNACK reason in
#     /healthz and nothing stored
#  5  MQTT 3.1.1 over TLS (data) and with a wrong password (refused)
#  6  a listener that accepts TCP and never answers the ClientHello: down:
#     timed out after the 10 s step deadline, not before
#  7  mqtts://localhost (where localhost is 127.0.0.1 alone): a certificate
#     for DNS:localhost connects and stores; one for IP:127.0.0.1 only is
#     refused (hostname mismatch)
#
# Exit 77: skipped (no mosquitto, mosquitto_passwd, openssl). Every wait is
# bounded; every process is stopped by its PID.
set -euo pipefail
BIN=${HIST_BIN_DIR:?HIST_BIN_DIR}
for t in mosquitto mosquitto_pub mosquitto_passwd openssl python3 curl; do
    command -v $t >/dev/null || { echo "SKIP: $t not installed"; exit 77; }
done
export no_proxy=127.0.0.1
dir=$(mktemp -d /tmp/test_mqtts-XXXXXX)
mpids=(); hpid=
cleanup() {
    [ -n "$hpid" ] && kill -9 "$hpid" 2>/dev/null || true
    for p in "${mpids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [ -n "${KEEP:-}" ] || rm -rf "$dir"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*"
    [ -f "$dir/case.log" ] && { echo "--- historiand log:"; grep -v " conn [0-9]* " "$dir/case.log" | tail -20; }
    exit 1
}
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

# ---- certificates ---------------------------------------------------------
C=$dir/certs
mkdir -p "$C"
newkey=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
mkca() { # NAME
    openssl req -x509 "${newkey[@]}" -keyout "$C/$1.key" -out "$C/$1.crt" -days 2 \
        -subj "/CN=$1" -addext basicConstraints=critical,CA:TRUE \
        -addext keyUsage=critical,keyCertSign,cRLSign 2>>"$dir/openssl.log"
}
mkcert() { # NAME CA CN EXTENSIONS
    openssl req -new "${newkey[@]}" -keyout "$C/$1.key" -out "$C/$1.csr" -subj "/CN=$3" \
        2>>"$dir/openssl.log"
    printf '%b\n' "$4" > "$C/$1.ext"
    openssl x509 -req -in "$C/$1.csr" -CA "$C/$2.crt" -CAkey "$C/$2.key" -CAcreateserial \
        -out "$C/$1.crt" -days 2 -extfile "$C/$1.ext" 2>>"$dir/openssl.log"
}
mkca ca
mkca rogue-ca
mkcert server ca broker 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth'
mkcert other ca other.example 'subjectAltName=DNS:other.example\nextendedKeyUsage=serverAuth'
mkcert ip2 ca 127.0.0.1 'subjectAltName=IP:127.0.0.2\nextendedKeyUsage=serverAuth'
mkcert dns ca localhost 'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth'
mkcert client ca historian 'extendedKeyUsage=clientAuth'
openssl verify -CAfile "$C/ca.crt" "$C/server.crt" "$C/other.crt" "$C/ip2.crt" "$C/dns.crt" \
    "$C/client.crt" \
    >/dev/null || fail "the test's certificates do not verify"

# ---- brokers --------------------------------------------------------------
runas=$([ "$(id -u)" = 0 ] && echo "user root" || true)
tls_listener() { # PORT CERT [require]
    printf 'listener %s 127.0.0.1\ncafile %s\ncertfile %s\nkeyfile %s\nrequire_certificate %s\n' \
        "$1" "$C/ca.crt" "$C/$2.crt" "$C/$2.key" "${3:-false}"
}
broker() { # NAME: with the listeners in $dir/NAME.conf
    printf 'persistence false\n%s\n' "$runas" >> "$dir/$1.conf"
    : > "$dir/$1.log"
    mosquitto -c "$dir/$1.conf" >> "$dir/$1.log" 2>&1 &
    mpids+=($!)
    for _ in $(seq 100); do
        grep -q ' running' "$dir/$1.log" && return 0
        kill -0 "${mpids[-1]}" 2>/dev/null || break
        sleep 0.05
    done
    cat "$dir/$1.log"; fail "mosquitto $1 did not start"
}
PA=$(free_port); PB=$(free_port); PC=$(free_port) # broker 1: TLS, client certificates
PD=$(free_port)
PP=$(free_port); PT=$(free_port)                  # broker 2: passwords (plain, TLS)
{ tls_listener $PA server true; tls_listener $PB other true; tls_listener $PC ip2 true
  tls_listener $PD dns true
  echo "allow_anonymous true"; } > "$dir/certs.conf"
broker certs
mosquitto_passwd -b -c "$dir/passwd" hist 'p@ss:w/rd' >/dev/null 2>&1
mosquitto_passwd -b "$dir/passwd" pub pubsecret >/dev/null 2>&1
chmod 600 "$dir/passwd"
{ echo "listener $PP 127.0.0.1"; tls_listener $PT server false
  printf 'allow_anonymous false\npassword_file %s\n' "$dir/passwd"; } > "$dir/passwords.conf"
broker passwords
pub_tls=(-h 127.0.0.1 --cafile "$C/ca.crt" --cert "$C/client.crt" --key "$C/client.key")
pub_pw=(-h 127.0.0.1 -u pub -P pubsecret)

# ---- historiand -------------------------------------------------------------
hport=
hd_start() { # NAME ARGS...: a historiand of its own (data, port, log)
    local name=$1; shift
    hport=$(free_port)
    : > "$dir/case.log"
    "$BIN/historiand" --data "$dir/data-$name" --http 127.0.0.1:$hport --ingest '' \
        --scrub-share 0 --log-level debug --mqtt-client-id "hist-$name" "$@" \
        > "$dir/case.log" 2>&1 &
    hpid=$!
    for _ in $(seq 100); do
        curl -sf "http://127.0.0.1:$hport/healthz" >/dev/null 2>&1 && return 0
        kill -0 $hpid 2>/dev/null || break
        sleep 0.05
    done
    fail "$name: historiand did not answer /healthz"
}
# SIGTERM: historiand stops within 10 s, exit 0, no sanitizer report
sanitizer_re='ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:'
hd_stop() {
    kill -TERM $hpid 2>/dev/null || true
    for _ in $(seq 200); do kill -0 $hpid 2>/dev/null || break; sleep 0.05; done
    kill -0 $hpid 2>/dev/null && { kill -9 $hpid; fail "historiand did not stop on SIGTERM"; }
    local rc=0
    wait $hpid || rc=$?
    hpid=
    cat "$dir/case.log" >> "$dir/server.log"
    ! grep -Eq "$sanitizer_re" "$dir/case.log" || fail "a sanitizer report"
    [ $rc = 0 ] || fail "historiand exited with $rc after SIGTERM"
}
health() { curl -sf "http://127.0.0.1:$hport/healthz" 2>/dev/null || true; }
# the broker's /healthz line matching the extended regex, within SECONDS
wait_health() { # PORT REGEX SECONDS
    local i
    for i in $(seq $(( $3 * 20 ))); do
        health | grep -Eq "^mqtt 127\.0\.0\.1:$1 ($2)" && return 0
        sleep 0.05
    done
    return 1
}
metric() { # NAME PORT
    curl -sf "http://127.0.0.1:$hport/metrics" |
        awk -v k="$1{broker=\"127.0.0.1:$2\"}" '$1 == k { print $2; f = 1 } END { if (!f) print -1 }'
}

# ---- data -------------------------------------------------------------------
N=40
base=$(( $(date -u -d '2026-01-01T00:59:50Z' +%s) * 1000 )) # crosses 01:00
from=2026-01-01T00:00:00Z; to=2026-01-01T02:00:00Z
# N QoS 1 messages {"value":v,"timestamp":t} on TOPIC; the broker has each
# when mosquitto_pub exits 0. Values i/4 - 5 (exact in binary), timestamps
# 0.5 s apart (whole and fractional seconds both).
publish() { # TOPIC PORT MOSQUITTO_PUB_ARGS...
    local topic=$1 port=$2; shift 2
    seq 1 $N | awk -v b=$base '{ printf "{\"value\":%g,\"timestamp\":%.0f}\n", $1 / 4 - 5, b + $1 * 500 }' |
        timeout 20 mosquitto_pub -p "$port" "$@" -q 1 -t "$topic" -l ||
        fail "mosquitto_pub to $topic on port $port failed"
}
query() { # TAG
    curl -sf "http://127.0.0.1:$hport/api/v1/query?tag=$1&from=$from&to=$to&format=csv" || true
}
# every published value exactly once at its timestamp, nothing else
check_values() { # TAG CSV_FILE
    python3 - "$1" "$2" "$N" "$base" <<'PY'
import sys, time
tag, path, n, base = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
def stamp(ms):
    s = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000))
    return s + (".%03dZ" % (ms % 1000) if ms % 1000 else "Z")
want = {stamp(base + i * 500): i / 4 - 5 for i in range(1, n + 1)}
seen, bad = {}, []
for line in open(path).read().splitlines()[1:]:
    t, ts, v, q = line.split(",")
    if t != tag or ts not in want or float(v) != want[ts] or q != "0" or ts in seen:
        bad.append(line)
    seen[ts] = v
missing = [ts for ts in want if ts not in seen]
for b in bad[:5]: print("unexpected row:", b)
for m in missing[:5]: print("missing:", m, want[m])
sys.exit(1 if bad or missing else 0)
PY
}
# publish N values and read them all back through historiand
roundtrip() { # CASE TOPIC PORT MOSQUITTO_PUB_ARGS...
    local name=$1 tag=$2
    publish "${@:2}"
    local got=0
    for _ in $(seq 100); do
        query "$tag" > "$dir/out.csv"
        got=$(grep -c "^$tag," "$dir/out.csv" || true)
        [ "$got" -ge $N ] && break
        sleep 0.1
    done
    check_values "$tag" "$dir/out.csv" || fail "$name: the values read back differ ($got rows)"
    echo "  $name: $N QoS 1 values stored and read back value for value"
}
# nothing stored under TAG (its messages published while historiand ran):
# the query API answers 404 "unknown tag" (and so serves HTTP)
nothing_stored() { # CASE TAG
    sleep 1
    local code
    code=$(curl -s -o "$dir/out.csv" -w '%{http_code}' \
        "http://127.0.0.1:$hport/api/v1/query?tag=$2&from=$from&to=$to&format=csv" || true)
    [ "$code" = 404 ] && grep -q "unknown tag" "$dir/out.csv" ||
        fail "$1: $2 should be unknown: HTTP $code: $(head -c 200 "$dir/out.csv")"
    echo "  $1: nothing stored ($2: HTTP 404 unknown tag)"
}
# refused: never connected within SECONDS, down with a reason matching REGEX
refused() { # CASE PORT REASON_REGEX SECONDS
    if wait_health "$2" "down: .*($3)" "$4"; then
        echo "  $1: $(health | grep "^mqtt 127.0.0.1:$2 ")"
    else
        fail "$1: /healthz does not say down: ...$3 ($(health | grep "^mqtt" | tr '\n' ' '))"
    fi
    ! grep -q "connected (session" "$dir/case.log" || fail "$1: historiand connected"
}
tls_opts=(--mqtt-cafile "$C/ca.crt" --mqtt-cert "$C/client.crt" --mqtt-key "$C/client.key")

# ---- 0: TLS options that cannot work: historiand does not start --------------------
# refused_start CASE MESSAGE ARGS...: exit 1 within 10 s, MESSAGE on stderr
refused_start() {
    local name=$1 msg=$2 rc=0; shift 2
    : > "$dir/case.log"
    timeout 10 "$BIN/historiand" --data "$dir/data-start" --http 127.0.0.1:$(free_port) \
        --ingest '' --scrub-share 0 --mqtt mqtts://127.0.0.1:$PA "$@" > "$dir/case.log" 2>&1 || rc=$?
    [ $rc = 1 ] || fail "0 ($name): exit $rc, want 1"
    grep -qF -- "$msg" "$dir/case.log" || fail "0 ($name): no '$msg' in the output"
    ! grep -Eq "$sanitizer_re" "$dir/case.log" || fail "0 ($name): a sanitizer report"
    echo "  0 ($name): $(grep -F -- "$msg" "$dir/case.log" | sed 's/^[^ ]* ERROR //')"
}
echo "0: impossible TLS options refused at start"
refused_start "no CA file" "cannot load the broker CA (--mqtt-cafile) $dir/none.crt" \
    --mqtt-cafile "$dir/none.crt"
refused_start "key of another certificate" "does not match" --mqtt-cafile "$C/ca.crt" \
    --mqtt-cert "$C/client.crt" --mqtt-key "$C/server.key"
refused_start "key without certificate" "--mqtt-key $C/client.key without --mqtt-cert" \
    --mqtt-cafile "$C/ca.crt" --mqtt-key "$C/client.key"

# ---- 1: TLS with a client certificate -----------------------------------------
echo "1: mqtts with --mqtt-cafile, --mqtt-cert, --mqtt-key"
hd_start tls --mqtt mqtts://127.0.0.1:$PA "${tls_opts[@]}" --mqtt-topic 'tls/#'
wait_health $PA 'connected$' 10 || fail "1: not connected: $(health | tr '\n' ' ')"
grep -q "TLS TLSv1.3" "$dir/case.log" || fail "1: no TLS 1.3 session in the log"
roundtrip 1 tls/v5/temp $PA "${pub_tls[@]}"
[ "$(metric historian_mqtt_reconnects_total $PA)" = 0 ] || fail "1: reconnected"
hd_stop

echo "1b: the same listener (require_certificate) without --mqtt-cert"
hd_start nocert --mqtt mqtts://127.0.0.1:$PA --mqtt-cafile "$C/ca.crt" --mqtt-topic 'tls/#'
refused 1b $PA 'certificate' 10
hd_stop

# ---- 2: a CA that did not sign the broker's certificate ----------------------------
echo "2: --mqtt-cafile of another CA"
hd_start rogue --mqtt mqtts://127.0.0.1:$PA --mqtt-cafile "$C/rogue-ca.crt" \
    --mqtt-cert "$C/client.crt" --mqtt-key "$C/client.key" --mqtt-topic 'tls/#'
refused 2 $PA 'server certificate: (unable to get local issuer certificate|self-signed certificate in certificate chain)' 10
r1=$(metric historian_mqtt_reconnects_total $PA)
# back-off 0.5 s, 1 s, 2 s...: two more attempts within 8 s
for _ in $(seq 80); do
    r2=$(metric historian_mqtt_reconnects_total $PA)
    [ "$r2" -ge $((r1 + 2)) ] && break
    sleep 0.1
done
[ "$r1" -ge 0 ] && [ "$r2" -ge $((r1 + 2)) ] || fail "2: reconnects_total $r1 then $r2"
[ "$(metric historian_mqtt_connected $PA)" = 0 ] || fail "2: historian_mqtt_connected not 0"
echo "  2: historian_mqtt_reconnects_total $r1 -> $r2"
# HTTP still serves: /healthz 200 (a broker down is not unhealthy), queries
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$hport/healthz")
[ "$code" = 200 ] || fail "2: /healthz answered $code"
publish tls/rogue/temp $PA "${pub_tls[@]}"
nothing_stored 2 tls/rogue/temp
hd_stop

# ---- 3: the broker's certificate does not name 127.0.0.1 -----------------------------
echo "3: server certificates for DNS:other.example and for IP:127.0.0.2 (CN=127.0.0.1)"
hd_start names --mqtt mqtts://127.0.0.1:$PB --mqtt mqtts://127.0.0.1:$PC "${tls_opts[@]}" \
    --mqtt-topic 'tls/#'
refused 3 $PB 'mismatch' 10
refused 3 $PC 'mismatch' 10
hd_stop

# ---- 4: user name and password -----------------------------------------------------
echo "4: user:password in the URL (password_file, allow_anonymous false)"
hd_start pw --mqtt 'mqtt://hist:p%40ss%3Aw%2Frd@127.0.0.1:'$PP --mqtt-topic 'pw/#'
wait_health $PP 'connected$' 10 || fail "4: not connected: $(health | tr '\n' ' ')"
roundtrip 4 pw/plain/temp $PP "${pub_pw[@]}"
hd_stop

hd_start pwtls --mqtt 'mqtts://hist:p%40ss%3Aw%2Frd@127.0.0.1:'$PT --mqtt-cafile "$C/ca.crt" \
    --mqtt-topic 'pw/#'
wait_health $PT 'connected$' 10 || fail "4 (TLS): not connected: $(health | tr '\n' ' ')"
roundtrip "4 (TLS, no client certificate)" pw/tls/temp $PT "${pub_pw[@]}" --cafile "$C/ca.crt"
hd_stop

hd_start pwbad --mqtt "mqtt://hist:wrong@127.0.0.1:$PP" --mqtt-topic 'pw/#'
# mosquitto 2.0 answers a wrong password with 0x87 not authorized (v5) and
# 5 (3.1.1); 0x86 and 4 are "bad user name or password"
refused "4 (wrong password)" $PP 'CONNACK refused: 0x8[67] ' 10
publish pw/wrong/temp $PP "${pub_pw[@]}"
nothing_stored "4 (wrong password)" pw/wrong/temp
hd_stop

# ---- 5: MQTT 3.1.1 ---------------------------------------------------------------------
echo "5: --mqtt-version 3.1.1 over TLS"
hd_start v311 --mqtt-version 3.1.1 --mqtt mqtts://127.0.0.1:$PA "${tls_opts[@]}" --mqtt-topic 'tls/#'
wait_health $PA 'connected$' 10 || fail "5: not connected: $(health | tr '\n' ' ')"
# mosquitto logs its protocol enum: p2 = MQTT 3.1.1, p5 = MQTT 5
grep -q "as hist-v311 (p2," "$dir/certs.log" || fail "5: mosquitto saw no MQTT 3.1.1 client"
roundtrip 5 tls/v311/temp $PA "${pub_tls[@]}"
hd_stop

hd_start v311bad --mqtt-version 3.1.1 --mqtt "mqtts://hist:wrong@127.0.0.1:$PT" \
    --mqtt-cafile "$C/ca.crt" --mqtt-topic 'pw/#'
refused "5 (wrong password)" $PT 'CONNACK refused: 0x0[45] ' 10
hd_stop

# ---- 6: a listener that never answers the ClientHello -----------------------------------
echo "6: mqtts to a listener that accepts and never answers (the handshake's deadline)"
python3 - "$dir/silent.port" <<'PY' &
# accepts connections, reads nothing, answers nothing; gone after 40 s
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(8)
s.settimeout(0.5)
open(sys.argv[1] + ".tmp", "w").write(str(s.getsockname()[1]))
__import__("os").rename(sys.argv[1] + ".tmp", sys.argv[1])
held, end = [], time.time() + 40
while time.time() < end:
    try:
        held.append(s.accept())
    except socket.timeout:
        pass
PY
mpids+=($!)
for _ in $(seq 100); do [ -s "$dir/silent.port" ] && break; sleep 0.05; done
PS=$(cat "$dir/silent.port") || fail "6: the silent listener did not start"
hd_start silent --mqtt mqtts://127.0.0.1:$PS "${tls_opts[@]}" --mqtt-topic 'tls/#'
t0=$(date +%s%N)
for _ in $(seq 300); do
    grep -q "mqtt 127.0.0.1:$PS: connection lost: timed out" "$dir/case.log" && break
    sleep 0.05
done
took=$(( ($(date +%s%N) - t0) / 1000000 ))
grep -q "mqtt 127.0.0.1:$PS: connection lost: timed out" "$dir/case.log" ||
    fail "6: no time-out within 15 s: $(health | grep ^mqtt)"
# the step limit is 10 s (mqtt_link.c STEP_LIMIT_MS), counted from the TCP connect
[ $took -ge 9000 ] || fail "6: timed out after $took ms, before the 10 s deadline"
echo "  6: down: timed out after $took ms; then $(health | grep "^mqtt")"
hd_stop

# ---- 7: a DNS name (SNI, the name checked as a host name) ------------------------------
# only where localhost is 127.0.0.1 alone (the test stays on 127.0.0.1)
if [ "$(getent ahostsv4 localhost | awk '{ print $1 }' | sort -u)" = 127.0.0.1 ] &&
    ! grep -q '^::1 ' <<<"$(getent ahostsv6 localhost 2>/dev/null)"; then
    echo "7: mqtts://localhost, a certificate for DNS:localhost; and for IP:127.0.0.1 only"
    hd_start dns --mqtt mqtts://localhost:$PD --mqtt mqtts://localhost:$PA "${tls_opts[@]}" \
        --mqtt-topic 'tls/#'
    for _ in $(seq 200); do
        grep -q "^mqtt localhost:$PD connected" <<<"$(health)" && break
        sleep 0.05
    done
    grep -q "^mqtt localhost:$PD connected" <<<"$(health)" || fail "7: not connected: $(health | grep ^mqtt)"
    for _ in $(seq 200); do
        grep -q "^mqtt localhost:$PA down: TLS: server certificate: hostname mismatch" <<<"$(health)" && break
        sleep 0.05
    done
    grep -q "^mqtt localhost:$PA down: TLS: server certificate: hostname mismatch" <<<"$(health)" ||
        fail "7: the IP-only certificate was not refused: $(health | grep ^mqtt)"
    health | grep "^mqtt" | sed 's/^/  7: /'
    roundtrip 7 tls/dns/temp $PD "${pub_tls[@]}" -h localhost
    hd_stop
else
    echo "7: skipped: localhost is not 127.0.0.1 alone here"
fi

echo "test_mqtts: TLS with client certificates, wrong CA, wrong names, passwords, 3.1.1, handshake deadline, DNS names: all as expected"
