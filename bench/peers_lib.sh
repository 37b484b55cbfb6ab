# bench/peers_lib.sh: what the bench scripts (peers.sh, peers_query.sh,
# backup.sh, live.sh, mqtt.sh) share: loopback ports, waiting for a server,
# starting historiand, feeding line protocol, measuring a data dir, and
# starting the peers, InfluxDB 1.6 and VictoriaMetrics, each in its own
# temp dir on 127.0.0.1.
#
# Sourced, not run. The caller sets: tmp (its temp dir), pids (an array its
# EXIT trap kills and reaps), BUILD, LP_BATCH and CONNS (for feed), and writes the
# data set to $tmp/data.lp before feeding. The start_* functions return 1
# (and say why, with the end of the server's log) when a server does not
# come up; callers check it (set -e does not reach into `f || ...`).

# The calling script's failure (its name, FAILED and why; exit 1) and
# progress lines, on stderr.
die() {
    echo "${0##*/}: FAILED: $*" >&2
    exit 1
}
log() { echo "${0##*/}: $*" >&2; }

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_http() { # url [pid]: up to 30 s; gives up at once when pid has exited
    for _ in $(seq 1 300); do
        curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
        if [ -n "${2:-}" ] && ! kill -0 "$2" 2>/dev/null; then
            echo "$(basename "$0"): the server for $1 exited" >&2
            return 1
        fi
        sleep 0.1
    done
    echo "$(basename "$0"): $1 did not come up" >&2
    return 1
}

# Says why a server did not start: its log's last lines. Returns 1.
start_failed() { # name log
    echo "$(basename "$0"): $1 did not start; the end of $2:" >&2
    tail -n 20 "$2" >&2 || true
    return 1
}

# hist_start DIR [ARGS...]: $BUILD/tools/historiand on free loopback ports
# (HTTP and ingest) with its data in DIR/data, ARGS and then
# HISTORIAND_ARGS, its output appended to DIR/log; sets hist_port (HTTP)
# and hist_pid (added to pids). Returns 1, saying why, when /healthz does
# not answer.
hist_start() {
    local d=$1
    shift
    hist_port=$(free_port)
    "$BUILD/tools/historiand" --data "$d/data" --http "127.0.0.1:$hist_port" \
        --ingest "127.0.0.1:$(free_port)" --log-level warn "$@" ${HISTORIAND_ARGS:-} >>"$d/log" 2>&1 &
    hist_pid=$!
    pids+=("$hist_pid")
    wait_http "http://127.0.0.1:$hist_port/healthz" "$hist_pid" || start_failed historiand "$d/log"
}

# Peak resident memory of a running process in KiB (VmHWM: the kernel's
# high-water mark since the process started), or 0 once it is gone.
peak_rss_kib() { awk '/^VmHWM:/ {print $2; f = 1} END {if (!f) print 0}' "/proc/$1/status" 2>/dev/null || echo 0; }

now() { date +%s.%N; }
du_bytes() { du -s --block-size=1 "$@" | awk '{s += $1} END {printf "%.0f\n", s}'; }
stop_pid() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# Posts $tmp/data.lp to url in LP_BATCH-line bodies over CONNS keep-alive
# connections, one request in flight on each (bench_thin, which the caller's
# $BUILD holds); fails when any answer is not 2xx.
feed() { # url: http://host:port/path?query
    local rest=${1#http://}
    local hostport=${rest%%/*}
    "$BUILD/bench/bench_thin" --bodies "$tmp/data.lp" --lp-lines "$LP_BATCH" \
        --host "${hostport%:*}" --port "${hostport##*:}" --path "/${rest#*/}" \
        --content-type "text/plain; charset=utf-8" --streams "$CONNS" --timeout-ms 120000 \
        --name feed >/dev/null
}

# Starts influxd on a free loopback port with data in $tmp/influx and a
# database "bench"; sets INFLUX_PORT and INFLUX_PID. Index INFLUX_INDEX
# (default tsi1, the disk-based index meant for high cardinality; 1.6's own
# default is inmem). No per-database series or per-tag value limits (the
# defaults, 1 M and 100 k, refuse the 1 M-tag point). Fast cold snapshots
# and full compactions, so on-disk size settles within seconds; no query
# timeout or row limit, so a full scan returns everything. The WAL is
# fsync'ed before a write is answered, after wal-fsync-delay (0s: at once).
start_influxdb() {
    INFLUX_PORT=$(free_port)
    local rpc
    rpc=$(free_port)
    mkdir -p "$tmp/influx"
    cat >"$tmp/influx/influxdb.conf" <<CONF
reporting-disabled = true
bind-address = "127.0.0.1:$rpc"
[meta]
  dir = "$tmp/influx/meta"
[data]
  dir = "$tmp/influx/data"
  wal-dir = "$tmp/influx/wal"
  wal-fsync-delay = "0s"
  index-version = "${INFLUX_INDEX:-tsi1}"
  max-series-per-database = 0
  max-values-per-tag = 0
  query-log-enabled = false
  cache-snapshot-write-cold-duration = "2s"
  compact-full-write-cold-duration = "5s"
[coordinator]
  query-timeout = "0s"
[http]
  bind-address = "127.0.0.1:$INFLUX_PORT"
  log-enabled = false
  max-body-size = 0
  max-row-limit = 0
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
CONF
    influxd -config "$tmp/influx/influxdb.conf" >"$tmp/influx/log" 2>&1 &
    INFLUX_PID=$!
    pids+=("$INFLUX_PID")
    wait_http "http://127.0.0.1:$INFLUX_PORT/ping" "$INFLUX_PID" ||
        start_failed influxdb "$tmp/influx/log" || return 1
    curl -fsS -o /dev/null -XPOST "http://127.0.0.1:$INFLUX_PORT/query" \
        --data-urlencode "q=CREATE DATABASE bench" ||
        start_failed "influxdb (CREATE DATABASE bench)" "$tmp/influx/log" || return 1
}

# Starts victoria-metrics on a free loopback port with data in $tmp/vm;
# sets VM_PORT and VM_PID.
start_victoriametrics() {
    VM_PORT=$(free_port)
    victoria-metrics -storageDataPath "$tmp/vm" -httpListenAddr "127.0.0.1:$VM_PORT" \
        -retentionPeriod 100y -search.disableCache -search.maxPointsPerTimeseries 1000000 \
        >"$tmp/vm.log" 2>&1 &
    VM_PID=$!
    pids+=("$VM_PID")
    wait_http "http://127.0.0.1:$VM_PORT/health" "$VM_PID" ||
        start_failed victoria-metrics "$tmp/vm.log" || return 1
}

# stop_bounded PID NAME: SIGTERM, then waits up to STOP_S for the exit (the
# caller defines STOP_S and die).
stop_bounded() {
    kill "$1" 2>/dev/null || true
    local n=0
    while kill -0 "$1" 2>/dev/null; do
        if [ "$n" -ge $((STOP_S * 10)) ]; then
            kill -KILL "$1" 2>/dev/null || true
            wait "$1" 2>/dev/null || true
            die "$2 did not stop within $STOP_S s of SIGTERM (killed)"
        fi
        sleep 0.1
        n=$((n + 1))
    done
    wait "$1" 2>/dev/null || true
}

# bench_temp NAME: $tmp, a new /tmp/NAME-XXXXXX, and $pids, the servers a
# script starts; on any exit every one is stopped by its PID and $tmp
# removed.
bench_temp() {
    tmp=$(mktemp -d "/tmp/$1-XXXXXX")
    pids=()
    trap bench_cleanup EXIT
    trap 'exit 130' INT TERM
}
bench_cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
