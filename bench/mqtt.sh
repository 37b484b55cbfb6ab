#!/usr/bin/env bash
# bench/mqtt.sh: MQTT into Historian. Messages/s and samples/s from the
# broker to durable storage for Sparkplug B payloads of 10 and 100 metrics,
# next to the broker's own ceiling on the same machine, in one run. Not run
# by ctest (figures, not a test).
#
#   bench/mqtt.sh [BUILD_DIR]          (default: build; build it in Release)
#   N10=100000 N100=50000 WINDOW=100 bench/mqtt.sh
#
# One Debian mosquitto on a free 127.0.0.1 port for the whole run
# (temporary config: persistence off, no limit on in-flight or queued
# messages, so the broker throttles no one). The publisher is
# build/bench/bench_mqtt_pub (our MQTT codec on a blocking socket, QoS 1,
# WINDOW PUBLISHes in flight, every payload encoded before the clock
# starts). For M in 10 and 100 metrics a message (N = N10 or N100):
#  (0) the publisher alone: the N payloads to a topic nobody reads, so the
#      broker only accepts them (mqtt_broker_only_mM_msgs_per_s: what the
#      publisher and the broker can do without a consumer on the machine).
#  (a) ceiling: mosquitto_sub -C N -q 1 on bench/raw/mM, then the publisher
#      sends the N NDATA payloads, byte for byte, to that plain topic; the
#      time from the publisher's first PUBLISH until mosquitto_sub has
#      received all N (it exits) is publisher -> broker -> subscriber.
#  (b) historian (live): historiand with a fresh data dir and --mqtt to the broker
#      (v5, its default); the publisher sends an NBIRTH of node edgeM then
#      the N NDATA (seq 1..255, 0, ... after the birth's 0); the time from
#      the first PUBLISH until historiand's /metrics counts every sample
#      written (historian_mqtt_samples_total, counted when the write job
#      comes back from the WAL's group commit, reaches (N + 1) * M: the
#      birth's values are samples too), polled every POLL_S (0.05 s: the
#      figure is late by at most that). Then, through /api/v1/query, the
#      first and last metric's tags hold N + 1 samples each, value for value.
#  (c) historian (drain): historiand, connected, is stopped (SIGSTOP) while
#      the publisher sends 1 + N messages of node edgeMd; the time from
#      SIGCONT until every sample is written is historiand alone taking a
#      backlog from the broker (mqtt_historian_drain_mM_*).
# Lines "name value unit": mqtt_ceiling_mM_msgs_per_s,
# mqtt_historian_mM_msgs_per_s (N + 1 messages: the birth counts),
# mqtt_historian_mM_samples_per_s, mqtt_historian_mM_vs_ceiling (the ratio
# of the two msgs/s; mqtt_historian_drain_mM_vs_ceiling likewise), the
# publisher's own rate (PUBACKs from the broker) in each case
# (..._pub_msgs_per_s), the CPU seconds mosquitto and historiand used
# during each timed case (..._cpu_s, from /proc: the publisher, the broker
# and the consumer share the machine's cores), historiand's WAL syncs in
# it and their seconds (historian_wal_syncs_total and
# historian_wal_sync_seconds_sum), and its MQTT counters at the end
# (..._server_messages counts its own retained STATE messages too).
#
# Durability of an acknowledgement (printed too): mosquitto's PUBACK to the
# publisher means the message is in the broker's memory (persistence
# false); the subscriber's receipt in the ceiling run is in its memory
# only. historiand sends its PUBACK to the broker only after the message's
# samples passed the WAL's group commit (fdatasync), and its samples
# counter moves at the same moment.
#
# Environment (defaults): METRICS "10 100" (the cases)  N10 100000
#   N100 50000 (each at most 999,999: the read-back asks for N + 1 rows)
#   WINDOW 100  POLL_S 0.05  TIMEOUT_S 300 (each wait)
#   HISTORIAND_ARGS ""
#   PERF_DIR: when set, `perf record -g` follows historiand during each
#   historian run into PERF_DIR/historiand-mM.data and
#   PERF_DIR/historiand-drain-mM.data (the figures of such a
#   run include perf's cost); PERF_ARGS replaces -g (e.g. "--call-graph dwarf").
# Every process is started here and stopped by its PID; exits nonzero,
# saying why, when something does not start, a wait runs out, or the data
# read back differ.
set -euo pipefail
shopt -s inherit_errexit
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
BUILD=${1:-${BUILD_DIR:-$root/build}}
case $BUILD in /*) ;; *) BUILD=$PWD/$BUILD ;; esac
N10=${N10:-100000}
N100=${N100:-50000}
WINDOW=${WINDOW:-100}
POLL_S=${POLL_S:-0.05}
TIMEOUT_S=${TIMEOUT_S:-300}
PERF_DIR=${PERF_DIR:-}
[ "$N10" -ge 1 ] && [ "$N10" -le 999999 ] && [ "$N100" -ge 1 ] && [ "$N100" -le 999999 ] ||
    { echo "mqtt.sh: N10 and N100 must be 1..999999" >&2; exit 1; }
STOP_S=60
START_MS=1767225600000 # 2026-01-01T00:00:00Z, the birth's timestamp
export no_proxy=127.0.0.1

. "$here/peers_lib.sh"

for b in bench/bench_mqtt_pub tools/historiand; do
    [ -x "$BUILD/$b" ] || die "build $BUILD/$b first (cmake --build $BUILD -j2)"
done
for p in mosquitto mosquitto_sub curl python3; do
    command -v "$p" >/dev/null || die "$p is not installed (mosquitto, mosquitto-clients)"
done
[ -z "$PERF_DIR" ] || command -v perf >/dev/null || die "PERF_DIR is set and perf is missing"
bench_temp hist-mqtt
# a historiand stopped by SIGSTOP (the drain) must get SIGCONT to see SIGTERM
mqtt_cleanup() {
    for p in "${pids[@]}"; do kill -CONT "$p" 2>/dev/null || true; done
    bench_cleanup
}
trap mqtt_cleanup EXIT
PUB=$BUILD/bench/bench_mqtt_pub

# ---- the broker ---------------------------------------------------------
mport=$(free_port)
cat >"$tmp/mosquitto.conf" <<CONF
listener $mport 127.0.0.1
allow_anonymous true
persistence false
max_inflight_messages 0
max_queued_messages 0
max_queued_bytes 0
log_dest file $tmp/mosquitto.log
log_type error
log_type warning
log_type notice
log_type subscribe
$([ "$(id -u)" = 0 ] && echo "user root")
CONF
mosquitto -c "$tmp/mosquitto.conf" >"$tmp/mosquitto.out" 2>&1 &
mpid=$!
pids+=("$mpid")
for _ in $(seq 100); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $mport), 1)" 2>/dev/null &&
        break
    kill -0 "$mpid" 2>/dev/null || start_failed mosquitto "$tmp/mosquitto.out" ||
        die "mosquitto did not start"
    sleep 0.05
done
log "mosquitto $(mosquitto -h 2>/dev/null | awk 'NR == 1 {print $3}') on 127.0.0.1:$mport"
echo "# durability: mosquitto (ceiling and broker): persistence false, a PUBACK means in memory"
echo "# durability: historiand: PUBACK to the broker after the WAL group commit (fdatasync)"

# Waits until file $1 holds a line matching $2 (up to TIMEOUT_S).
wait_line() {
    for _ in $(seq $((TIMEOUT_S * 20))); do
        grep -q -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}

# The value of line $2 (a name) in the publisher's output $1.
pub_value() { awk -v k="$2" '$1 == k {print $2}' "$1"; }

# CPU seconds (user + system) process $1 has used so far, 0 once it is gone.
cpu_s() {
    awk -v hz="$(getconf CLK_TCK)" '{sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / hz}' \
        "/proc/$1/stat" 2>/dev/null || echo 0
}
cpu_delta() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", b - a}'; }

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", (b > 0 ? a / b : 0)}'; }
rate() { awk -v n="$1" -v t="$2" 'BEGIN {printf "%.0f", (t > 0 ? n / t : 0)}'; }

# ---- (0) the publisher and the broker alone ------------------------------
broker_only() { # M N
    local m=$1 n=$2 out=$tmp/alone-m$1
    "$PUB" --port "$mport" --metrics "$m" --count "$n" --window "$WINDOW" --raw "bench/nobody/m$m" \
        --client-id "bench-pub-alone-m$m" --name "mqtt_broker_only_m${m}" --timeout-s "$TIMEOUT_S" \
        >"$out" || die "the publisher failed (alone, m$m)"
    echo "mqtt_broker_only_m${m}_msgs_per_s $(pub_value "$out" "mqtt_broker_only_m${m}_msgs_per_s") msg/s"
}

# ---- (a) the broker's ceiling -------------------------------------------
# Sets ceiling_mps.
ceiling() { # M N
    local m=$1 n=$2 topic=bench/raw/m$1 id=bench-sub-m$1 out=$tmp/ceiling-m$1
    # a subshell notes when mosquitto_sub exits; it is stopped by its own PID
    (
        mosquitto_sub -p "$mport" -q 1 -C "$n" -i "$id" -t "$topic" >/dev/null &
        echo $! >"$out.subpid"
        wait $! && date +%s.%N >"$out.end"
    ) &
    local spid=$!
    pids+=("$spid")
    for _ in $(seq 100); do [ -s "$out.subpid" ] && break; sleep 0.01; done
    pids+=("$(cat "$out.subpid")")
    wait_line "$tmp/mosquitto.log" "$id 1 $topic" || die "mosquitto_sub did not subscribe"
    local bcpu
    bcpu=$(cpu_s "$mpid")
    "$PUB" --port "$mport" --metrics "$m" --count "$n" --window "$WINDOW" --raw "$topic" \
        --client-id "bench-pub-raw-m$m" --name "mqtt_ceiling_m${m}_pub" --timeout-s "$TIMEOUT_S" \
        >"$out.pub" || die "the publisher failed (ceiling, m$m)"
    local waited=0
    while kill -0 "$spid" 2>/dev/null; do
        [ "$waited" -lt $((TIMEOUT_S * 20)) ] ||
            die "mosquitto_sub did not receive all $n messages within $TIMEOUT_S s"
        sleep 0.05
        waited=$((waited + 1))
    done
    wait "$spid" || true
    [ -s "$out.end" ] || die "mosquitto_sub failed (ceiling, m$m)"
    bcpu=$(cpu_delta "$bcpu" "$(cpu_s "$mpid")")
    local t0 t1 secs
    t0=$(pub_value "$out.pub" "mqtt_ceiling_m${m}_pub_first_publish_unix_s")
    t1=$(cat "$out.end")
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}')
    ceiling_mps=$(rate "$n" "$secs")
    echo "mqtt_ceiling_m${m}_msgs $n msg"
    echo "mqtt_ceiling_m${m}_seconds $secs s"
    echo "mqtt_ceiling_m${m}_msgs_per_s $ceiling_mps msg/s"
    echo "mqtt_ceiling_m${m}_samples_per_s $(rate $((n * m)) "$secs") samples/s"
    echo "mqtt_ceiling_m${m}_pub_msgs_per_s $(pub_value "$out.pub" "mqtt_ceiling_m${m}_pub_msgs_per_s") msg/s"
    echo "mqtt_ceiling_m${m}_mosquitto_cpu_s $bcpu s"
    echo "mqtt_ceiling_m${m}_payload_bytes $(pub_value "$out.pub" "mqtt_ceiling_m${m}_pub_payload_bytes") B"
}

# ---- (b) historiand -------------------------------------------------------
# historiand's counter $1 for our broker, 0 when absent.
counter() {
    curl -sf "http://127.0.0.1:$hport/metrics" 2>/dev/null |
        awk -v k="$1{broker=\"127.0.0.1:$mport\"}" '$1 == k {v = $2} END {print v + 0}'
}

# The query API's samples of tag $1 for the run's time range, checked value
# for value: message k (0..N) holds k + $2 for metric $2.
check_tag() { # tag j N
    local from to
    from=$(date -u -d "@$((START_MS / 1000))" +%Y-%m-%dT%H:%M:%SZ)
    to=$(date -u -d "@$((START_MS / 1000 + $3 + 1))" +%Y-%m-%dT%H:%M:%SZ)
    curl -sf "http://127.0.0.1:$hport/api/v1/query?tag=$1&from=$from&to=$to&format=csv&limit=1000000" \
        >"$tmp/q.csv" || die "the query of $1 failed"
    awk -F, -v t="$1" -v j="$2" -v n="$3" '$1 == t { rows++; seen[$3 - j]++ } END {
        bad = 0
        for (k = 0; k <= n; k++) if (seen[k] != 1) { bad++; if (bad < 4) print "  value " k + j ": " seen[k] + 0 " times" > "/dev/stderr" }
        if (rows != n + 1) { print "  " rows + 0 " rows, not " n + 1 > "/dev/stderr"; bad++ }
        exit bad > 0 }' "$tmp/q.csv" || die "$1: the stored samples differ from those sent"
    echo "$1"
}

# Starts historiand on data dir $1 (fresh) and waits until it is connected
# to the broker; sets hpid and hport.
start_historiand() { # dir
    local d=$1
    mkdir -p "$d"
    hist_start "$d" --scrub-share 0 --mqtt "mqtt://127.0.0.1:$mport" || die "historiand did not start"
    hport=$hist_port
    hpid=$hist_pid
    for _ in $(seq 200); do
        grep -q "mqtt.*connected" <<<"$(curl -sf "http://127.0.0.1:$hport/healthz")" && return 0
        sleep 0.05
    done
    die "historiand did not connect to the broker"
}

# historiand's unlabelled metric $1 (the storage's), 0 when absent.
gauge() {
    curl -sf "http://127.0.0.1:$hport/metrics" 2>/dev/null |
        awk -v k="$1" '$1 == k {v = $2} END {print v + 0}'
}

# What historiand, mosquitto and the WAL have spent so far (the start of
# a timed span).
mark() {
    hcpu0=$(cpu_s "$hpid")
    bcpu0=$(cpu_s "$mpid")
    syncs0=$(gauge historian_wal_syncs_total)
    sync_s0=$(gauge historian_wal_sync_seconds_sum)
}

# Polls historiand's samples counter until it reaches $1; sets t1 (the
# wall clock then) and hcpu, bcpu, syncs, sync_s (spent since mark).
wait_samples() { # target log
    local target=$1 got=0 polls=0 max
    max=$(awk -v t="$TIMEOUT_S" -v p="$POLL_S" 'BEGIN {printf "%d", t / p}')
    t1=
    while [ "$polls" -lt "$max" ]; do
        got=$(counter historian_mqtt_samples_total)
        if [ "$got" -ge "$target" ]; then
            t1=$(date +%s.%N)
            hcpu=$(cpu_delta "$hcpu0" "$(cpu_s "$hpid")")
            bcpu=$(cpu_delta "$bcpu0" "$(cpu_s "$mpid")")
            syncs=$(($(gauge historian_wal_syncs_total) - syncs0))
            sync_s=$(cpu_delta "$sync_s0" "$(gauge historian_wal_sync_seconds_sum)")
            return 0
        fi
        kill -0 "$hpid" 2>/dev/null || { tail -n 20 "$2" >&2; die "historiand exited"; }
        sleep "$POLL_S"
        polls=$((polls + 1))
    done
    die "historiand stored $got of $target samples in $TIMEOUT_S s"
}

# The lines of a historian case P (a prefix) of messages n, metrics m,
# from wall clock $4 to t1.
hist_lines() { # P m n t0
    local p=$1 m=$2 n=$3 secs
    secs=$(awk -v a="$4" -v b="$t1" 'BEGIN {printf "%.3f", b - a}')
    hist_mps=$(rate $((n + 1)) "$secs")
    echo "${p}_msgs $((n + 1)) msg"
    echo "${p}_seconds $secs s"
    echo "${p}_msgs_per_s $hist_mps msg/s"
    echo "${p}_samples_per_s $(rate $(((n + 1) * m)) "$secs") samples/s"
    echo "${p}_historiand_cpu_s $hcpu s"
    echo "${p}_mosquitto_cpu_s $bcpu s"
    echo "${p}_wal_syncs $syncs syncs"
    echo "${p}_msgs_per_wal_sync $(rate $((n + 1)) "$syncs") msg"
    echo "${p}_wal_sync_seconds $sync_s s"
    echo "${p}_server_messages $(counter historian_mqtt_messages_total) msg"
    echo "${p}_server_acks $(counter historian_mqtt_acks_total) msg"
}

# The first and last metric of node $1 hold messages 0..N, value for value.
check_node() { # node m n
    local tags
    tags=$(check_tag "bench/$1/m000" 0 "$3")
    tags="$tags, $(check_tag "bench/$1/m$(printf %03d $(($2 - 1)))" $(($2 - 1)) "$3")"
    echo "# read back through /api/v1/query: $tags: $(($3 + 1)) samples each, value for value"
}

# PERF_DIR set: perf follows historiand into PERF_DIR/historiand-$1.data
# until perf_stop (a second for perf to attach first).
perf_start() { # name
    ppid=
    [ -n "$PERF_DIR" ] || return 0
    mkdir -p "$PERF_DIR"
    perf record ${PERF_ARGS:--g} -p "$hpid" -o "$PERF_DIR/historiand-$1.data" >"$tmp/perf-$1.log" 2>&1 &
    ppid=$!
    pids+=("$ppid")
    sleep 1
}
perf_stop() {
    [ -n "$ppid" ] || return 0
    kill -INT "$ppid" 2>/dev/null || true
    wait "$ppid" 2>/dev/null || true
}

# (b) live: the publisher sends while historiand is connected. Sets hist_mps.
historian() { # M N
    local m=$1 n=$2 d=$tmp/hist-m$1 out=$tmp/hist-m$1
    start_historiand "$d"
    perf_start "m$m"
    local target=$(($(counter historian_mqtt_samples_total) + (n + 1) * m))
    mark
    "$PUB" --port "$mport" --metrics "$m" --count "$n" --window "$WINDOW" --node "edge$m" \
        --start-ms "$START_MS" --client-id "bench-pub-spb-m$m" --name "mqtt_historian_m${m}_pub" \
        --timeout-s "$TIMEOUT_S" >"$out.pub" &
    local pubpid=$!
    pids+=("$pubpid")
    wait_samples "$target" "$d/log"
    perf_stop
    wait "$pubpid" || die "the publisher failed (historian, m$m)"
    hist_lines "mqtt_historian_m$m" "$m" "$n" \
        "$(pub_value "$out.pub" "mqtt_historian_m${m}_pub_first_publish_unix_s")"
    echo "mqtt_historian_m${m}_pub_msgs_per_s $(pub_value "$out.pub" "mqtt_historian_m${m}_pub_msgs_per_s") msg/s"
    check_node "edge$m" "$m" "$n"
    stop_bounded "$hpid" historiand
}

# (c) drain: historiand connected (fresh data dir) is stopped with SIGSTOP;
# the publisher sends 1 + N messages of another node (edgeMd), which wait
# in the broker (and in historiand's socket buffer); SIGCONT, and the time
# until every sample is written is historiand taking a backlog with no
# publisher competing for the machine. (A reconnect to a session holding a
# backlog is not timed: historiand drops the PUBLISHes a resumed session
# delivers between CONNACK and SUBACK, ingest/mqtt_link.c on_packet, and
# the session stalls.)
drain() { # M N
    local m=$1 n=$2 d=$tmp/drain-m$1 out=$tmp/drain-m$1
    start_historiand "$d"
    local target=$(($(counter historian_mqtt_samples_total) + (n + 1) * m))
    mark
    kill -STOP "$hpid"
    "$PUB" --port "$mport" --metrics "$m" --count "$n" --window "$WINDOW" --node "edge${m}d" \
        --start-ms "$START_MS" --client-id "bench-pub-drain-m$m" --name "mqtt_drain_m${m}_pub" \
        --timeout-s "$TIMEOUT_S" >"$out.pub" || {
        kill -CONT "$hpid"
        die "the publisher failed (drain, m$m)"
    }
    perf_start "drain-m$m"
    bcpu0=$(cpu_s "$mpid")
    local t0
    t0=$(date +%s.%N)
    kill -CONT "$hpid"
    wait_samples "$target" "$d/log"
    perf_stop
    hist_lines "mqtt_historian_drain_m$m" "$m" "$n" "$t0"
    check_node "edge${m}d" "$m" "$n"
    stop_bounded "$hpid" historiand
}

for m in ${METRICS:-10 100}; do
    n=$N10
    [ "$m" = 100 ] && n=$N100
    log "m$m: the publisher alone, $n messages"
    broker_only "$m" "$n"
    log "m$m: ceiling, $n messages"
    ceiling "$m" "$n"
    log "m$m: historian, 1 + $n messages"
    historian "$m" "$n"
    echo "mqtt_historian_m${m}_vs_ceiling $(ratio "$hist_mps" "$ceiling_mps") ratio"
    log "m$m: historian draining a backlog of 1 + $n messages"
    drain "$m" "$n"
    echo "mqtt_historian_drain_m${m}_vs_ceiling $(ratio "$hist_mps" "$ceiling_mps") ratio"
done
