# mqtt_lib.sh: what the MQTT shell tests share (sourced, not run): a
# temporary directory, free 127.0.0.1 ports, Debian's mosquitto on one of
# them with a temporary config, historiand subscribed to it, and a cleanup
# that stops both by PID. The caller sets BIN (historiand's directory) and
# NAME before sourcing (and SKIP_CODE, the exit code of a skip: 77 for
# ctest, by default); KEEP=1 keeps the directory for a post-mortem.
command -v mosquitto >/dev/null && command -v mosquitto_pub >/dev/null || {
    echo "SKIP: mosquitto or mosquitto-clients not installed"; exit "${SKIP_CODE:-77}"; }
export no_proxy=127.0.0.1
dir=$(mktemp -d "/tmp/$NAME-XXXXXX")
mpid=; hpid=
cleanup() {
    [ -n "$hpid" ] && kill -9 "$hpid" 2>/dev/null || true
    [ -n "$mpid" ] && kill "$mpid" 2>/dev/null || true
    wait 2>/dev/null || true
    [ -n "${KEEP:-}" ] || rm -rf "$dir"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
mport=$(free_port); hport=$(free_port); iport=$(free_port)
# start_broker [CONFIG LINES]: mosquitto on $mport, anonymous, in memory,
# with the extra config lines given
start_broker() {
    { echo "listener $mport 127.0.0.1"; echo "allow_anonymous true"; echo "persistence false"
      [ "$(id -u)" = 0 ] && echo "user root"
      for l in "$@"; do echo "$l"; done; } > "$dir/m.conf"
    mosquitto -c "$dir/m.conf" > "$dir/mosquitto.log" 2>&1 & mpid=$!
    for _ in $(seq 100); do
        mosquitto_pub -p "$mport" -t probe -m 0 2>/dev/null && return 0
        sleep 0.05
    done
    echo "FAIL: mosquitto did not start"; cat "$dir/mosquitto.log"; exit 1
}
# start_historiand ARGS...: historiand on $hport/$iport with data in
# $dir/data, subscribed to the broker; returns once /healthz says connected
start_historiand() {
    "$BIN/historiand" --data "$dir/data" --http 127.0.0.1:$hport --ingest 127.0.0.1:$iport \
        --scrub-share 0 --mqtt mqtt://127.0.0.1:$mport "$@" >> "$dir/server.log" 2>&1 & hpid=$!
    for _ in $(seq 100); do
        grep -q "mqtt.*connected" <<<"$(curl -sf "http://127.0.0.1:$hport/healthz" 2>/dev/null)" && return 0
        sleep 0.05
    done
    echo "FAIL: historiand did not connect to the broker"; tail -20 "$dir/server.log"; exit 1
}
# stop_historiand: SIGTERM, then its exit status (0 after a clean shutdown;
# under ASan a leak or an error found at exit makes it non-zero); SIGKILL
# after 20 s
stop_historiand() {
    kill "$hpid"
    for _ in $(seq 400); do kill -0 "$hpid" 2>/dev/null || break; sleep 0.05; done
    kill -9 "$hpid" 2>/dev/null || true
    local rc=0; wait "$hpid" || rc=$?; hpid=
    return $rc
}
# metric NAME: the value of one historian_mqtt_* counter of our broker
metric() {
    curl -sf "http://127.0.0.1:$hport/metrics" | awk -v n="$1{broker=\"127.0.0.1:$mport\"}" '$1 == n { print $2 }'
}
# query TAG FROM TO: the CSV rows (tag,time,value,quality) of TAG
query() {
    curl -sf "http://127.0.0.1:$hport/api/v1/query?tag=$1&from=$2&to=$3&format=csv" | grep -v '^tag,'
}
