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

. "$here/peers_lib.sh"

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
start_influxdb
t0=$(now)
feed "http://127.0.0.1:$INFLUX_PORT/write?db=bench&precision=ns"
t1=$(now)
influx_msps=$(echo "$n $t0 $t1" | awk '{printf "%.3f", $1/($3-$2)/1e6}')
sleep 20 # cold snapshot + full compaction
influx_bps=$(echo "$(du_bytes "$tmp/influx/data") $(du_bytes "$tmp/influx/wal") $n" |
    awk '{printf "%.3f", ($1+$2)/$3}')
stop_pid "$INFLUX_PID"
echo "peers.influxdb.conns$CONNS.batch$LP_BATCH.msps $influx_msps Msamples/s"
echo "peers.influxdb.bytes_per_sample $influx_bps B"

# ---- VictoriaMetrics -----------------------------------------------------
start_victoriametrics
t0=$(now)
feed "http://127.0.0.1:$VM_PORT/write"
curl -fsS -o /dev/null "http://127.0.0.1:$VM_PORT/internal/force_flush"
t1=$(now)
vm_msps=$(echo "$n $t0 $t1" | awk '{printf "%.3f", $1/($3-$2)/1e6}')
curl -fsS -o /dev/null "http://127.0.0.1:$VM_PORT/internal/force_merge" || true
sleep 20
vm_bps=$(echo "$(du_bytes "$tmp/vm") $n" | awk '{printf "%.3f", $1/$2}')
stop_pid "$VM_PID"
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
