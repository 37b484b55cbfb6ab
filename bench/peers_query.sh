#!/usr/bin/env bash
# bench/peers_query.sh: the same queries on the same data against Historian
# (its HTTP API on a historiand started here), InfluxDB 1.6 and
# VictoriaMetrics, each on loopback with a temp dir. Not run by ctest.
#
#   bench/peers_query.sh                       (BUILD_DIR=build by default)
#   YEAR_DAYS=365 TAGS=100 DAYS=30 RUNS=5 BUILD_DIR=build bench/peers_query.sh
#
# Data (bench_query's data set, tools/plantgen.h): one float64 "year" tag at
# 1 Hz over YEAR_DAYS days (default 30: 2.6 M samples) and TAGS plant tags
# over DAYS days (default 20 x 2; vibration tags sample at 10 Hz). The
# issue's full sizes are YEAR_DAYS=365 (31.5 M) and TAGS=100 DAYS=30 (259 M);
# they take hours here, not minutes.
#   Historian: bench_query --dir loads it through the storage API (and seals
#     it), then historiand serves that dir.
#   Peers: bench_query_peers writes the same samples as line protocol
#     (measurement y = the year tag, p = plant tags, tag "tag", field
#     "value", every value a float), posted to /write in LP_BATCH-line bodies
#     by bench_thin (CONNS keep-alive connections, every answer checked).
#
# Queries (all over HTTP, JSON out, time per request = curl's time_total,
# median of RUNS after one warm-up; the raw scan is timed end to end):
#   plot1000     the year tag, whole range, 1000 px. Historian mode=plot (M4:
#                first/min/max/last per pixel); InfluxDB first,min,max,last
#                GROUP BY time(range/1000); VictoriaMetrics rollup()
#                (min/avg/max) plus first_over_time/last_over_time.
#   hourly_twa   every plant tag, 1 h buckets. Historian agg=twa; InfluxDB has
#                no time-weighted mean: mean() (less work);
#                VictoriaMetrics avg_over_time[1h] (also a plain mean).
#                hourly_mean: Historian agg=mean, the peers' work, ratios
#                against the same peer figures.
#   daily        every plant tag, UTC days, mean/min/max.
#   raw_scan     every sample of the year tag. Historian mode=raw pages of
#                limit=1000000 following X-Historian-Next, shape=columns (an
#                array per column, like VictoriaMetrics' export lines);
#                InfluxDB SELECT value chunked; VictoriaMetrics /api/v1/export.
# Historian aggregates with include_bad=true: the peers have no quality, so
# every engine aggregates the same samples.
# Disk: du of each data dir after load; InfluxDB after a cold cache snapshot
# and full compaction (PEER_SETTLE_S), VictoriaMetrics after force_flush and
# force_merge. historian_sealed leaves out the WAL still on disk after the
# flush (segments + LMDB index only).
# Prints `name value unit` lines; ratio_<peer> = peer time / Historian time
# (raw scan: our rate / peer rate; disk: peer bytes / ours), so > 1 means
# Historian is faster (smaller). check.* lines count what each answered.
set -euo pipefail
shopt -s inherit_errexit
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
BUILD=${BUILD_DIR:-build}
case $BUILD in /*) ;; *) BUILD=$root/$BUILD ;; esac
HIST_BIN_DIR=${HIST_BIN_DIR:-$BUILD/tools}
YEAR_DAYS=${YEAR_DAYS:-30}
TAGS=${TAGS:-20}
DAYS=${DAYS:-2}
RUNS=${RUNS:-5}
RAW_RUNS=${RAW_RUNS:-3}
LP_BATCH=${LP_BATCH:-5000}
CONNS=${CONNS:-2}
PEER_SETTLE_S=${PEER_SETTLE_S:-20}

command -v influxd >/dev/null && command -v victoria-metrics >/dev/null ||
    HIST_DEPS_EXTRA="influxdb victoria-metrics" "$root/scripts/deps.sh"
if [ ! -x "$BUILD/bench/bench_query" ] || [ ! -x "$BUILD/bench/bench_query_peers" ] ||
    [ ! -x "$BUILD/bench/bench_thin" ] || [ ! -x "$HIST_BIN_DIR/historiand" ]; then
    cmake -S "$root" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build "$BUILD" -j2 --target historiand bench_query bench_query_peers bench_thin >/dev/null
fi

. "$here/peers_lib.sh"
bench_temp hist-peers-query

log() { echo "peers_query: $*" >&2; }
median() { sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

# ---- Shape ------------------------------------------------------------------
S=1000000000
T0_S=1767225600 # 2026-01-01T00:00:00Z, bench_query's T0
YEAR_END_S=$((T0_S + YEAR_DAYS * 86400))
END_S=$((T0_S + DAYS * 86400))
PLOT_STEP_S=$((YEAR_DAYS * 86400 / 1000))
YEAR_TAG=bench/year/line1/cell1/temperature_pv
echo "scale.year_tag.days $YEAR_DAYS days"
echo "scale.plant.tags $TAGS tags"
echo "scale.plant.days $DAYS days"
echo "scale.runs $RUNS runs"

# timed NAME CMD...: one warm-up (output kept in $tmp/NAME.out), then RUNS
# runs; CMD prints curl's time_total in seconds; echoes the median in ms.
timed() {
    local name=$1; shift
    "$@" "$tmp/$name.out" >/dev/null
    for _ in $(seq 1 "$RUNS"); do "$@" /dev/null; done | median | awk '{printf "%.2f", $1 * 1000}'
}
# get URL OUT [curl args...]: GET with --data-urlencode args, prints time_total.
get() {
    local url=$1 out=$2; shift 2
    curl -fsS -G --max-time 600 -o "$out" -w '%{time_total}\n' "$url" "$@"
}

declare -A MS # MS[query.engine] = ms
declare -A RAW_MSPS
declare -A BPS

# ---- Data ----------------------------------------------------------------
log "generating line protocol"
lp_out=$("$BUILD/bench/bench_query_peers" --out "$tmp/data.lp" --tags "$TAGS" --days "$DAYS" \
    --year-days "$YEAR_DAYS")
NLP=$(echo "$lp_out" | awk '$1 == "bench.peers.lp_samples" {print $2}')
NYEAR=$(echo "$lp_out" | awk '$1 == "bench.peers.lp_year_samples" {print $2}')
echo "scale.samples $NLP samples"

# ---- Historian ---------------------------------------------------------------
log "historian: load (bench_query)"
t0=$(now)
"$BUILD/bench/bench_query" --dir "$tmp/hist" --tags "$TAGS" --days "$DAYS" \
    --year-days "$YEAR_DAYS" --runs 1 >"$tmp/bench_query.out"
t1=$(now)
nhist=$(awk '/^bench.load.samples /{print $2}' "$tmp/bench_query.out")
[ "$nhist" = "$NLP" ] || { log "historian loaded $nhist samples, line protocol has $NLP"; exit 1; }
echo "load.historian.seconds $(echo "$t0 $t1" | awk '{printf "%.1f", $2 - $1}') s"
BPS[historian]=$(echo "$(du_bytes "$tmp/hist") $NLP" | awk '{printf "%.3f", $1 / $2}')
# The chunk segments alone (the rest: LMDB index, WAL files, markers).
# Sealed data alone: chunk segments + LMDB index, without the WAL that the
# storage keeps after the flush (its active segment is not deleted).
BPS[historian_sealed]=$(echo "$(du_bytes "$tmp/hist/seg" "$tmp/hist/index") $NLP" |
    awk '{printf "%.3f", $1 / $2}')
du -s --block-size=1 "$tmp/hist"/* >&2

hp=$(free_port)
"$HIST_BIN_DIR/historiand" --data "$tmp/hist" --http "127.0.0.1:$hp" --ingest '' \
    --log-level warn >"$tmp/historiand.log" 2>&1 &
hpid=$!; pids+=("$hpid")
wait_http "http://127.0.0.1:$hp/healthz"
H="http://127.0.0.1:$hp/api/v1/query"
hq() { # OUT TO_S ARGS...: a Historian query over [T0, TO)
    local out=$1 to=$2; shift 2
    get "$H" "$out" --data-urlencode "from=$((T0_S * 1000))" --data-urlencode "to=$((to * 1000))" "$@"
}
hq_plot() { hq "$1" "$YEAR_END_S" --data-urlencode "tag=$YEAR_TAG" -d mode=plot -d points=1000; }
hq_twa() {
    hq "$1" "$END_S" --data-urlencode 'pattern=site*/**' -d agg=twa -d bucket=hour -d include_bad=true
}
hq_daily() {
    hq "$1" "$END_S" --data-urlencode 'pattern=site*/**' -d agg=mean,min,max -d bucket=day \
        -d include_bad=true
}
MS[plot1000.historian]=$(timed h_plot hq_plot)
MS[hourly_twa.historian]=$(timed h_twa hq_twa)
# The peers' hourly figure is a plain mean: ours for the same work too.
hq_mean() {
    hq "$1" "$END_S" --data-urlencode 'pattern=site*/**' -d agg=mean -d bucket=hour -d include_bad=true
}
MS[hourly_mean.historian]=$(timed h_mean hq_mean)
MS[daily.historian]=$(timed h_daily hq_daily)

# Raw scan: pages of 1 M samples; X-Historian-Next names the next cursor.
hist_scan() { # OUT (pages to OUT.0, OUT.1, ...) or /dev/null: prints seconds
    local out=$1 cursor="" page=0 t0 t1
    t0=$(now)
    while [ $page -lt 10000 ]; do
        local body=/dev/null
        [ "$out" != /dev/null ] && body="$out.$page"
        curl -fsS -G --max-time 600 -D "$tmp/h_hdr" -o "$body" "$H" \
            --data-urlencode "from=$((T0_S * 1000))" --data-urlencode "to=$((YEAR_END_S * 1000))" --data-urlencode "tag=$YEAR_TAG" \
            --data-urlencode mode=raw --data-urlencode limit=1000000 --data-urlencode shape=columns \
            ${cursor:+--data-urlencode "cursor=$cursor"}
        cursor=$(awk -F': ' 'tolower($1) == "x-historian-next" {sub(/\r$/, "", $2); print $2}' \
            "$tmp/h_hdr")
        page=$((page + 1))
        [ -n "$cursor" ] || break
    done
    t1=$(now)
    echo "$t0 $t1" | awk '{print $2 - $1}'
}
raw_rate() { # NAME CMD...: warm-up to $tmp/NAME.out, then RAW_RUNS; median M samples/s
    local name=$1; shift
    "$@" "$tmp/$name.out" >/dev/null
    for _ in $(seq 1 "$RAW_RUNS"); do "$@" /dev/null; done | median |
        awk -v n="$NYEAR" '{printf "%.3f", n / $1 / 1e6}'
}
RAW_MSPS[historian]=$(raw_rate h_raw hist_scan)
stop_pid "$hpid"

# ---- Checks on what came back --------------------------------------------
count_json() { # KIND FILE...: prints number of samples / points / rows
    python3 - "$@" <<'PY'
import json, sys
kind, files = sys.argv[1], sys.argv[2:]
n = 0
for f in files:
    if kind == "hist":          # Historian long JSON: a list of rows
        n += len(json.load(open(f)))
    elif kind == "hist_cols":   # Historian columns JSON: an object per tag
        n += sum(len(o["time"]) for o in json.load(open(f)))
    elif kind == "influx":      # InfluxDB (chunked: one JSON object a line)
        for line in open(f):
            if not line.strip():
                continue
            for r in json.loads(line)["results"]:
                if "error" in r:
                    sys.exit("influx error: " + r["error"])
                for s in r.get("series", []):
                    n += len(s["values"])
    elif kind == "vm_query":    # Prometheus query_range answer: points
        d = json.load(open(f))
        if d.get("status") != "success":
            sys.exit("vm error: " + json.dumps(d)[:300])
        n += sum(len(s["values"]) for s in d["data"]["result"])
    elif kind == "vm_series":
        d = json.load(open(f))
        n += len(d["data"]["result"])
    elif kind == "vm_export":   # one JSON line per series
        for line in open(f):
            if line.strip():
                n += len(json.loads(line)["values"])
print(n)
PY
}
# compare_daily PEER FILE: largest relative difference between Historian's
# daily mean/min/max (kept in $tmp/h_daily.out) and the peer's, over every
# (tag, day) both answered, and how many such cells there were.
compare_daily() {
    python3 - "$1" "$tmp/h_daily.out" "$2" <<'PY'
import json, sys
peer, hfile, pfile = sys.argv[1:]
ours = {}
for r in json.load(open(hfile)):
    for a in ("mean", "min", "max"):
        if r.get(a) is not None:
            ours[(r["tag"], r["time"], a)] = float(r[a])
theirs = {}
if peer == "influxdb":
    for r in json.load(open(pfile))["results"]:
        for s in r.get("series", []):
            cols = s["columns"]
            for row in s["values"]:
                for a in ("mean", "min", "max"):
                    v = row[cols.index(a)]
                    if v is not None:
                        theirs[(s["tags"]["tag"], row[0], a)] = float(v)
else:  # VictoriaMetrics rollup(): points at bucket ends, rollup=min|max|avg
    for s in json.load(open(pfile))["data"]["result"]:
        a = {"avg": "mean"}.get(s["metric"]["rollup"], s["metric"]["rollup"])
        for t, v in s["values"]:
            theirs[(s["metric"]["tag"], int(t) * 1000 - 86400000, a)] = float(v)
both = ours.keys() & theirs.keys()
worst = max((abs(ours[k] - theirs[k]) / max(abs(ours[k]), 1e-9) for k in both), default=0.0)
print("check.daily.%s.cells_compared %d cells" % (peer, len(both)))
print("check.daily.%s.max_rel_diff %.3g ratio" % (peer, worst))
PY
}
echo "check.plot1000.historian.rows $(count_json hist "$tmp/h_plot.out") rows"
echo "check.hourly_twa.historian.rows $(count_json hist "$tmp/h_twa.out") rows"
echo "check.daily.historian.rows $(count_json hist "$tmp/h_daily.out") rows"
echo "check.raw_scan.historian.samples $(count_json hist_cols "$tmp"/h_raw.out.*) samples"

# ---- InfluxDB 1.6 ------------------------------------------------------------
start_influxdb
log "influxdb: load"
t0=$(now)
feed "http://127.0.0.1:$INFLUX_PORT/write?db=bench&precision=ns"
t1=$(now)
echo "load.influxdb.seconds $(echo "$t0 $t1" | awk '{printf "%.1f", $2 - $1}') s"
log "influxdb: waiting ${PEER_SETTLE_S}s for cache snapshot and full compaction"
sleep "$PEER_SETTLE_S"
BPS[influxdb]=$(echo "$(du_bytes "$tmp/influx/data" "$tmp/influx/wal") $NLP" |
    awk '{printf "%.3f", $1 / $2}')

I="http://127.0.0.1:$INFLUX_PORT/query"
IW_Y="time >= ${T0_S}s AND time < ${YEAR_END_S}s"
IW_P="time >= ${T0_S}s AND time < ${END_S}s"
iq() { # URL OUT QUERY
    get "$1" "$2" --data-urlencode db=bench --data-urlencode epoch=ms --data-urlencode "q=$3"
}
iq_plot() { iq "$I" "$1" "SELECT first(value),min(value),max(value),last(value) FROM y WHERE $IW_Y GROUP BY time(${PLOT_STEP_S}s)"; }
iq_twa() { iq "$I" "$1" "SELECT mean(value) FROM p WHERE $IW_P GROUP BY time(1h), \"tag\""; }
iq_daily() { iq "$I" "$1" "SELECT mean(value),min(value),max(value) FROM p WHERE $IW_P GROUP BY time(1d), \"tag\""; }
MS[plot1000.influxdb]=$(timed i_plot iq_plot)
MS[hourly_twa.influxdb]=$(timed i_twa iq_twa)
MS[daily.influxdb]=$(timed i_daily iq_daily)
influx_scan() { # OUT: prints seconds
    curl -fsS -G --max-time 600 -o "$1" -w '%{time_total}\n' "$I" --data-urlencode db=bench \
        --data-urlencode epoch=ms --data-urlencode chunked=true --data-urlencode chunk_size=100000 \
        --data-urlencode "q=SELECT value FROM y WHERE $IW_Y"
}
RAW_MSPS[influxdb]=$(raw_rate i_raw influx_scan)
stop_pid "$INFLUX_PID"
echo "check.plot1000.influxdb.rows $(count_json influx "$tmp/i_plot.out") rows"
echo "check.hourly_twa.influxdb.rows $(count_json influx "$tmp/i_twa.out") rows"
echo "check.daily.influxdb.rows $(count_json influx "$tmp/i_daily.out") rows"
compare_daily influxdb "$tmp/i_daily.out"
echo "check.raw_scan.influxdb.samples $(count_json influx "$tmp/i_raw.out") samples"

# ---- VictoriaMetrics ---------------------------------------------------------
start_victoriametrics
log "victoriametrics: load"
t0=$(now)
feed "http://127.0.0.1:$VM_PORT/write"
curl -fsS -o /dev/null "http://127.0.0.1:$VM_PORT/internal/force_flush"
t1=$(now)
echo "load.victoriametrics.seconds $(echo "$t0 $t1" | awk '{printf "%.1f", $2 - $1}') s"
curl -fsS -o /dev/null "http://127.0.0.1:$VM_PORT/internal/force_merge" || true
log "victoriametrics: waiting ${PEER_SETTLE_S}s for the merge"
sleep "$PEER_SETTLE_S"
BPS[victoriametrics]=$(echo "$(du_bytes "$tmp/vm") $NLP" | awk '{printf "%.3f", $1 / $2}')

V="http://127.0.0.1:$VM_PORT/api/v1/query_range"
# A point at t covers (t - window, t]: evaluate at bucket ends so each point
# covers the same bucket as the others' [start, start + step).
vq() { # OUT QUERY STEP_S END_S
    get "$V" "$1" --data-urlencode "query=$2" --data-urlencode "start=$((T0_S + $3))" \
        --data-urlencode "end=$4" --data-urlencode "step=$3s" --data-urlencode nocache=1
}
P=$PLOT_STEP_S
vq_plot() {
    vq "$1" "union(rollup(y_value[${P}s]), label_set(first_over_time(y_value[${P}s]), \"rollup\", \"first\"), label_set(last_over_time(y_value[${P}s]), \"rollup\", \"last\"))" "$P" "$YEAR_END_S"
}
vq_twa() { vq "$1" "avg_over_time(p_value[1h])" 3600 "$END_S"; }
vq_daily() { vq "$1" "rollup(p_value[1d])" 86400 "$END_S"; }
MS[plot1000.victoriametrics]=$(timed v_plot vq_plot)
MS[hourly_twa.victoriametrics]=$(timed v_twa vq_twa)
MS[daily.victoriametrics]=$(timed v_daily vq_daily)
vm_scan() { # OUT: prints seconds
    curl -fsS -G --max-time 600 -o "$1" -w '%{time_total}\n' "http://127.0.0.1:$VM_PORT/api/v1/export" \
        --data-urlencode 'match[]=y_value' --data-urlencode "start=$T0_S" \
        --data-urlencode "end=$((YEAR_END_S - 1))"
}
RAW_MSPS[victoriametrics]=$(raw_rate v_raw vm_scan)
stop_pid "$VM_PID"
echo "check.plot1000.victoriametrics.points $(count_json vm_query "$tmp/v_plot.out") points"
echo "check.hourly_twa.victoriametrics.points $(count_json vm_query "$tmp/v_twa.out") points"
echo "check.daily.victoriametrics.points $(count_json vm_query "$tmp/v_daily.out") points"
compare_daily victoriametrics "$tmp/v_daily.out"
echo "check.raw_scan.victoriametrics.samples $(count_json vm_export "$tmp/v_raw.out") samples"

# ---- Figures -----------------------------------------------------------------
for q in plot1000 hourly_twa daily; do
    for e in historian influxdb victoriametrics; do
        echo "query.$q.$e.ms ${MS[$q.$e]} ms"
    done
    for e in influxdb victoriametrics; do
        echo "${MS[$q.historian]} ${MS[$q.$e]}" |
            awk -v n="query.$q.ratio_$e" '{printf "%s %.1f x\n", n, $2 / $1}'
    done
    if [ $q = hourly_twa ]; then # the peers' mean against our mean
        echo "query.hourly_mean.historian.ms ${MS[hourly_mean.historian]} ms"
        for e in influxdb victoriametrics; do
            echo "${MS[hourly_mean.historian]} ${MS[hourly_twa.$e]}" |
                awk -v n="query.hourly_mean.ratio_$e" '{printf "%s %.1f x\n", n, $2 / $1}'
        done
    fi
done
for e in historian influxdb victoriametrics; do
    echo "query.raw_scan.$e.msps ${RAW_MSPS[$e]} Msamples/s"
done
for e in influxdb victoriametrics; do
    echo "${RAW_MSPS[historian]} ${RAW_MSPS[$e]}" |
        awk -v n="query.raw_scan.ratio_$e" '{printf "%s %.1f x\n", n, $1 / $2}'
done
for e in historian historian_sealed influxdb victoriametrics; do
    echo "disk.$e.bytes_per_sample ${BPS[$e]} B"
done
for e in influxdb victoriametrics; do # peer size / ours: > 1 means we are smaller
    echo "${BPS[historian]} ${BPS[historian_sealed]} ${BPS[$e]}" |
        awk -v n="disk.ratio_$e" '{printf "%s %.2f x\n%s_sealed %.2f x\n", n, $3 / $1, n, $3 / $2}'
done
echo "machine.loadavg $(cut -d' ' -f1 /proc/loadavg) load"
