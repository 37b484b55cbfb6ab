#!/usr/bin/env bash
# bench/peers.sh: ingest throughput and bytes per sample of Historian next to
# InfluxDB 1.6 and VictoriaMetrics, on the same data set. Not run by ctest.
#
#   bench/peers.sh [BUILD_DIR]        (default: build)
#   SAMPLES=10000000 BATCH=10000 CONNS=4 LP_BATCH=5000 bench/peers.sh
#
# 1. bench_ingest --dump-lp writes the data set once (plantgen, seed 42) as
#    InfluxDB line protocol: measurements f/i/b, tag "tag", field "value".
# 2. Historian: bench_ingest generates the identical samples in memory and
#    sends them as protobuf over TCP (acked = durable).
# 3. InfluxDB (influxd, generated config, temp dir, loopback) and
#    VictoriaMetrics (temp dir, loopback) get the file over HTTP /write in
#    LP_BATCH-line bodies, CONNS in parallel (curl).
# 4. Each peer is flushed/compacted, then its data dir is measured (du),
#    and stopped by its PID.
# Prints lines "name value unit" and our ratio to each peer.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
BUILD=${1:-$here/../build}
SAMPLES=${SAMPLES:-10000000}
BATCH=${BATCH:-10000}
CONNS=${CONNS:-4}
LP_BATCH=${LP_BATCH:-5000}

command -v influxd >/dev/null && command -v victoria-metrics >/dev/null ||
    HIST_DEPS_EXTRA="influxdb victoria-metrics" "$here/../scripts/deps.sh"
for b in "$BUILD/bench/bench_ingest" "$BUILD/tools/historiand"; do
    [ -x "$b" ] || { echo "peers.sh: build $b first" >&2; exit 2; }
done

tmp=$(mktemp -d /tmp/hist-peers-XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
wait_http() { # url
    for _ in $(seq 1 300); do
        curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "peers.sh: $1 did not come up" >&2
    return 1
}
now() { date +%s.%N; }
du_bytes() { du -s --block-size=1 "$1" | cut -f1; }
feed() { # url: posts the data set in LP_BATCH-line chunks, CONNS at a time
    rm -rf "$tmp/chunks" && mkdir "$tmp/chunks"
    split -l "$LP_BATCH" -a 6 "$tmp/data.lp" "$tmp/chunks/c"
    ls "$tmp/chunks"/c* | xargs -P "$CONNS" -n 8 sh -c '
        url=$0
        for f in "$@"; do
            curl -fsS -o /dev/null -XPOST "$url" --data-binary "@$f" || exit 255
        done' "$1"
}

echo "peers: data set of $SAMPLES samples" >&2
"$BUILD/bench/bench_ingest" --dump-lp "$tmp/data.lp" --samples "$SAMPLES" --batch "$BATCH"
n=$(wc -l < "$tmp/data.lp")

# ---- Historian -----------------------------------------------------------
ours=$("$BUILD/bench/bench_ingest" --samples "$SAMPLES" --batch "$BATCH" --conns "$CONNS")
echo "$ours"
our_msps=$(echo "$ours" | awk '/\.msps /{print $2}')
our_bps=$(echo "$ours" | awk '/bytes_per_sample /{print $2}')
our_sealed=$(echo "$ours" | awk '/bytes_per_sample_sealed /{print $2}')

# ---- InfluxDB 1.6 --------------------------------------------------------
ip=$(free_port); irp=$(free_port)
mkdir -p "$tmp/influx"
cat > "$tmp/influx/influxdb.conf" <<CONF
reporting-disabled = true
bind-address = "127.0.0.1:$irp"
[meta]
  dir = "$tmp/influx/meta"
[data]
  dir = "$tmp/influx/data"
  wal-dir = "$tmp/influx/wal"
  wal-fsync-delay = "0s"
  query-log-enabled = false
  cache-snapshot-write-cold-duration = "2s"
  compact-full-write-cold-duration = "5s"
[http]
  bind-address = "127.0.0.1:$ip"
  log-enabled = false
  max-body-size = 0
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
CONF
influxd -config "$tmp/influx/influxdb.conf" > "$tmp/influx/log" 2>&1 &
ipid=$!; pids+=("$ipid")
wait_http "http://127.0.0.1:$ip/ping"
curl -fsS -o /dev/null -XPOST "http://127.0.0.1:$ip/query" --data-urlencode "q=CREATE DATABASE bench"
t0=$(now)
feed "http://127.0.0.1:$ip/write?db=bench&precision=ns"
t1=$(now)
influx_msps=$(echo "$n $t0 $t1" | awk '{printf "%.3f", $1/($3-$2)/1e6}')
sleep 20 # cold snapshot + full compaction
influx_bps=$(echo "$(du_bytes "$tmp/influx/data") $(du_bytes "$tmp/influx/wal") $n" |
    awk '{printf "%.3f", ($1+$2)/$3}')
kill "$ipid"; wait "$ipid" 2>/dev/null || true
echo "peers.influxdb.conns$CONNS.batch$LP_BATCH.msps $influx_msps Msamples/s"
echo "peers.influxdb.bytes_per_sample $influx_bps B"

# ---- VictoriaMetrics -----------------------------------------------------
vp=$(free_port)
victoria-metrics -storageDataPath "$tmp/vm" -httpListenAddr "127.0.0.1:$vp" \
    -retentionPeriod 100y -search.disableCache > "$tmp/vm.log" 2>&1 &
vpid=$!; pids+=("$vpid")
wait_http "http://127.0.0.1:$vp/health"
t0=$(now)
feed "http://127.0.0.1:$vp/write"
curl -fsS -o /dev/null "http://127.0.0.1:$vp/internal/force_flush"
t1=$(now)
vm_msps=$(echo "$n $t0 $t1" | awk '{printf "%.3f", $1/($3-$2)/1e6}')
curl -fsS -o /dev/null "http://127.0.0.1:$vp/internal/force_merge" || true
sleep 20
vm_bps=$(echo "$(du_bytes "$tmp/vm") $n" | awk '{printf "%.3f", $1/$2}')
kill "$vpid"; wait "$vpid" 2>/dev/null || true
echo "peers.victoriametrics.conns$CONNS.batch$LP_BATCH.msps $vm_msps Msamples/s"
echo "peers.victoriametrics.bytes_per_sample $vm_bps B"

# ---- ratios ---------------------------------------------------------------
awk -v o="$our_msps" -v i="$influx_msps" -v v="$vm_msps" 'BEGIN {
    printf "peers.ratio.ingest_vs_influxdb %.2f x\n", o / i
    printf "peers.ratio.ingest_vs_victoriametrics %.2f x\n", o / v }'
# size: whole data dir (WAL included), and segments + index only
awk -v o="$our_bps" -v s="$our_sealed" -v i="$influx_bps" -v v="$vm_bps" 'BEGIN {
    printf "peers.ratio.size_vs_influxdb %.2f x\n", o / i
    printf "peers.ratio.size_vs_victoriametrics %.2f x\n", o / v
    printf "peers.ratio.sealed_size_vs_influxdb %.2f x\n", s / i
    printf "peers.ratio.sealed_size_vs_victoriametrics %.2f x\n", s / v }'
