#!/usr/bin/env bash
# bench/peers.sh: ingest of Historian next to InfluxDB 1.6 and
# VictoriaMetrics, fed the same pre-encoded batches by the same thin HTTP
# client, at several tag counts. Not run by ctest.
#
#   bench/peers.sh [BUILD_DIR]                        (default: build)
#   TAGS="1000 100000" DURATION_S="600 10" STREAMS=2 BATCH=5000 bench/peers.sh
#
# For each tag count T in TAGS (default 1000 100000 1000000):
# 1. bench_gen writes the data once per wire format, before anything is
#    timed: the plant generator (tools/plantgen.h) at T tags, 1 Hz (its
#    vibration tags 10 Hz), for the point's duration, in time order (second
#    0 of every tag, then second 1, ...), cut into bodies of BATCH samples;
#    the same samples in the same bodies as Historian's HTTP write request
#    (protobuf WriteRequest) and as InfluxDB line protocol.
# 2. Each system in SYSTEMS is started here, on free loopback ports in a
#    temp dir, with its default settings except where said below:
#      historian        historiand, a write token (--auth-file), logs at warn
#      historian_lp     the same historiand fed the line protocol bodies the
#                       peers get, on POST /write (the apples-to-apples one)
#      influxdb         influxd 1.6 (Debian's influxdb), index tsi1, no
#                       series or tag-value limits (bench/peers_lib.sh)
#      victoriametrics  Debian's victoria-metrics, retention 100y
#    bench_thin posts the bodies: STREAMS keep-alive connections, one
#    request in flight on each, every answer's status checked. Historian
#    gets POST /api/v1/write (application/x-protobuf, Authorization:
#    Bearer); InfluxDB POST /write?db=bench&precision=ns and
#    VictoriaMetrics POST /write (text/plain line protocol).
#    The bodies holding second 0 of every tag (each tag's first contact:
#    series creation) are sent first and reported on their own
#    (*.first_contact.*); the rest is the steady figure (*.samples_per_s).
# 3. Peak RSS: VmHWM from /proc/PID/status (the kernel's high-water mark),
#    read after ingest and again after the flush, just before the stop.
#    On disk: allocated bytes of the data dir after each system's flush,
#    per sample sent: Historian after a clean stop (which seals every
#    buffer; *.bytes_per_sample_at_stop) and then after its compactor has
#    settled (started again on the data until nothing is left to merge,
#    at most SETTLE_S * 4 s; *.settle.*), InfluxDB after SETTLE_S seconds (cold
#    snapshot after 2 s and full compaction after 5 s are configured; WAL
#    dir included), VictoriaMetrics after /internal/force_flush,
#    /internal/force_merge and SETTLE_S seconds. Each server is stopped by
#    its PID (SIGTERM; SIGKILL and a failure after STOP_S seconds).
# 4. Ratios Historian / peer from this one run (> 1: Historian ingests
#    faster, or takes more bytes or memory).
# 5. NATIVE_TAGS (default 1000): bench_ingest, Historian's own pipelined
#    TCP client (window 8) on its own data order, printed as native.*:
#    not the same client or data as above, so never in a ratio.
#
# Every line is "name value unit", except the durability.* lines (text).
# Exits nonzero, saying why, when a system does not start, a request is not
# answered 2xx within TIMEOUT_MS, a point passes DEADLINE_S, or a server
# does not stop.
#
# Environment (defaults):
#   TAGS        "1000 100000 1000000"
#   DURATION_S  seconds of data per point: one value for every point, or one
#               per TAGS entry (default 1800 s at 1000 tags, 15 s at 100000,
#               2 s at 1000000, else 2,000,000 / T, at least 2; about
#               2.9 M samples each, vibration tags included)
#   BATCH 5000  STREAMS 2  SYSTEMS "historian historian_lp influxdb victoriametrics"
#   SETTLE_S 15  TIMEOUT_MS 60000 (per request)  DEADLINE_S 1200 (per
#   system and point)  STOP_S 600  NATIVE_TAGS 1000  NATIVE_SAMPLES 5000000
# Packages: influxdb and victoria-metrics from Debian, through
# scripts/deps.sh (apt-get only).
set -euo pipefail
shopt -s inherit_errexit
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
BUILD=${1:-${BUILD_DIR:-$root/build}}
case $BUILD in /*) ;; *) BUILD=$PWD/$BUILD ;; esac
TAGS=${TAGS:-"1000 100000 1000000"}
DURATION_S=${DURATION_S:-}
BATCH=${BATCH:-5000}
STREAMS=${STREAMS:-2}
SYSTEMS=${SYSTEMS:-"historian historian_lp influxdb victoriametrics"}
SETTLE_S=${SETTLE_S:-15}
TIMEOUT_MS=${TIMEOUT_MS:-60000}
DEADLINE_S=${DEADLINE_S:-1200}
STOP_S=${STOP_S:-600}
NATIVE_TAGS=${NATIVE_TAGS-1000}
NATIVE_SAMPLES=${NATIVE_SAMPLES:-5000000}
TOKEN=peers-bench-write-token

. "$here/peers_lib.sh"

command -v influxd >/dev/null && command -v victoria-metrics >/dev/null ||
    HIST_DEPS_EXTRA="influxdb victoria-metrics" "$root/scripts/deps.sh"
for b in bench/bench_gen bench/bench_thin bench/bench_ingest tools/historiand; do
    [ -x "$BUILD/$b" ] || die "build $BUILD/$b first (cmake --build $BUILD -j2)"
done
thin=$BUILD/bench/bench_thin

bench_temp hist-peers


default_duration() { # tags
    case $1 in
    1000) echo 1800 ;;
    100000) echo 15 ;;
    1000000) echo 2 ;;
    *) awk -v t="$1" 'BEGIN {d = int(2000000 / t); print d < 2 ? 2 : d}' ;;
    esac
}

# thin_feed NAME FILE PORT PATH CTYPE [header...]: runs bench_thin with the
# point's first-contact bodies as its warm-up; prints its lines.
thin_feed() {
    local name=$1 file=$2 port=$3 path=$4 ctype=$5
    shift 5
    local hdr=()
    for h in "$@"; do hdr+=(--header "$h"); done
    "$thin" --bodies "$file" --port "$port" --path "$path" --content-type "$ctype" \
        "${hdr[@]}" --streams "$STREAMS" --warmup "$FIRST" --timeout-ms "$TIMEOUT_MS" \
        --deadline-s "$DEADLINE_S" --name "$name" | sed 's/\.warmup\./.first_contact./'
}

figure() { awk -v n="$1" '$1 == n {print $2}'; } # from stdin

run_historian() { # prefix [bodies path content-type]: protobuf by default
    local bodies=${2:-$tmp/bodies.hist} path=${3:-/api/v1/write} ctype=${4:-application/x-protobuf}
    local d=$tmp/hist
    mkdir -p "$d"
    echo "$TOKEN write" >"$d/tokens"
    hist_start "$d" --auth-file "$d/tokens" || die "historian did not start"
    local hp=$hist_port pid=$hist_pid
    thin_feed "$1" "$bodies" "$hp" "$path" "$ctype" "Authorization: Bearer $TOKEN" >"$tmp/out" ||
        { tail -n 20 "$d/log" >&2; die "historian at $T tags: a write failed (above)"; }
    cat "$tmp/out"
    local rss t0 t1
    rss=$(peak_rss_kib "$pid")
    t0=$(now)
    stop_bounded "$pid" historiand # a clean stop seals every buffer
    t1=$(now)
    echo "$1.stop_seconds $(echo "$t0 $t1" | awk '{printf "%.1f", $2 - $1}') s"
    echo "$1.peak_rss_mib $(awk -v k="$rss" 'BEGIN {printf "%.0f", k / 1024}') MiB"
    echo "$1.bytes_per_sample_at_stop $(echo "$(du_bytes "$d/data") $NS" | awk '{printf "%.3f", $1 / $2}') B"
    settle_historian "$1" "$d"
    echo "$1.bytes_per_sample $(echo "$(du_bytes "$d/data") $NS" | awk '{printf "%.3f", $1 / $2}') B"
    rm -rf "$d"
}

# settle_historian PREFIX DIR: historiand started again on the stopped
# data, until its compactor has nothing left to merge (compact_pending 0
# and no merge for 3 s; at most SETTLE_S * 4 s), then stopped: the layout
# after compaction, as the peers are measured after theirs. Not timed.
settle_historian() {
    local d=$2 hp pid t0 i last=-1 cur pending rtok=peers-bench-read-token
    echo "$rtok read" >>"$d/tokens"
    hist_start "$d" --auth-file "$d/tokens" || die "historian did not start again on its data"
    hp=$hist_port
    pid=$hist_pid
    t0=$(now)
    for ((i = 0; i < SETTLE_S * 4; i++)); do
        sleep 1
        curl -s -H "Authorization: Bearer $rtok" "http://127.0.0.1:$hp/api/v1/stats" >"$d/stats" || true
        pending=$({ grep -o '"compact_pending":[0-9]*' "$d/stats" || true; } | cut -d: -f2)
        cur=$({ grep -o '"compact_tag_hours":[0-9]*' "$d/stats" || true; } | cut -d: -f2)
        [ "${pending:-1}" = 0 ] && [ "$cur" = "$last" ] && [ "$i" -ge 3 ] && break
        last=$cur
    done
    echo "$1.settle.seconds $(echo "$t0 $(now)" | awk '{printf "%.1f", $2 - $1}') s"
    echo "$1.settle.compact_tag_hours ${cur:-0} tag-hours"
    echo "$1.settle.compact_pending ${pending:-0} tag-hours"
    local k unit
    for k in chunks bytes_chunks bytes_segments bytes_index bytes_wal; do
        unit=B
        [ "$k" = chunks ] && unit=chunks
        echo "$1.settle.$k $({ grep -o "\"$k\":[0-9]*" "$d/stats" || true; } | cut -d: -f2) $unit"
    done
    stop_bounded "$pid" historiand
}

# historian_lp: historiand fed the very line protocol bodies the peers get,
# on POST /write (the same request, so the ratio is one of servers alone)
run_historian_lp() { # prefix
    run_historian "$1" "$tmp/bodies.lp" "/write?db=bench&precision=ns" "text/plain; charset=utf-8"
}

run_influxdb() { # prefix
    start_influxdb || die "influxdb did not start"
    local pid=$INFLUX_PID delay
    delay=$(awk -F'"' '$1 ~ /^ *wal-fsync-delay *= *$/ {print $2}' "$tmp/influx/influxdb.conf")
    [ -n "$delay" ] || die "no wal-fsync-delay in $tmp/influx/influxdb.conf"
    echo "$delay" >"$tmp/influx_fsync_delay" # for its durability line
    thin_feed "$1" "$tmp/bodies.lp" "$INFLUX_PORT" "/write?db=bench&precision=ns" \
        "text/plain; charset=utf-8" >"$tmp/out" ||
        { tail -n 20 "$tmp/influx/log" >&2; die "influxdb at $T tags: a write failed (above)"; }
    cat "$tmp/out"
    sleep "$SETTLE_S" # cold snapshot (2 s) and full compaction (5 s)
    local rss
    rss=$(peak_rss_kib "$pid")
    echo "$1.peak_rss_mib $(awk -v k="$rss" 'BEGIN {printf "%.0f", k / 1024}') MiB"
    echo "$1.bytes_per_sample $(echo "$(du_bytes "$tmp/influx/data" "$tmp/influx/wal") $NS" |
        awk '{printf "%.3f", $1 / $2}') B"
    stop_bounded "$pid" influxd
    rm -rf "$tmp/influx"
}

run_victoriametrics() { # prefix
    start_victoriametrics || die "victoria-metrics did not start"
    local pid=$VM_PID
    thin_feed "$1" "$tmp/bodies.lp" "$VM_PORT" /write "text/plain; charset=utf-8" >"$tmp/out" ||
        { tail -n 20 "$tmp/vm.log" >&2; die "victoria-metrics at $T tags: a write failed (above)"; }
    cat "$tmp/out"
    curl -fsS -o /dev/null "http://127.0.0.1:$VM_PORT/internal/force_flush" ||
        die "victoria-metrics: force_flush failed"
    curl -fsS -o /dev/null "http://127.0.0.1:$VM_PORT/internal/force_merge" ||
        die "victoria-metrics: force_merge failed"
    sleep "$SETTLE_S"
    local rss
    rss=$(peak_rss_kib "$pid")
    echo "$1.peak_rss_mib $(awk -v k="$rss" 'BEGIN {printf "%.0f", k / 1024}') MiB"
    echo "$1.bytes_per_sample $(echo "$(du_bytes "$tmp/vm") $NS" | awk '{printf "%.3f", $1 / $2}') B"
    stop_bounded "$pid" victoria-metrics
    rm -rf "$tmp/vm" "$tmp/vm.log"
}

for s in $SYSTEMS; do
    case $s in historian | historian_lp | influxdb | victoriametrics) ;;
    *) die "unknown system '$s' in SYSTEMS (historian historian_lp influxdb victoriametrics)" ;;
    esac
done
echo "peers.batch $BATCH samples"
echo "peers.streams $STREAMS streams"

# ---- one point per tag count ---------------------------------------------
read -r -a durations <<<"$DURATION_S"
read -r -a tag_list <<<"$TAGS"
[ ${#durations[@]} -le 1 ] || [ ${#durations[@]} -eq ${#tag_list[@]} ] ||
    die "DURATION_S has ${#durations[@]} values for ${#tag_list[@]} TAGS"
i=0
for T in "${tag_list[@]}"; do
    D=${durations[$i]:-${durations[0]:-$(default_duration "$T")}}
    i=$((i + 1))
    p=peers.tags$T
    log "$T tags x $D s: generating the bodies"
    gen=$("$BUILD/bench/bench_gen" --tags "$T" --seconds "$D" --batch "$BATCH" \
        --hist "$tmp/bodies.hist" --lp "$tmp/bodies.lp") || die "bench_gen failed at $T tags"
    NS=$(echo "$gen" | figure gen.samples)
    FIRST=$(echo "$gen" | figure gen.first_contact_bodies)
    echo "$p.tags $T tags"
    echo "$p.seconds_of_data $D s"
    echo "$gen" | sed "s/^gen\./$p./"
    declare -A F=()
    for s in $SYSTEMS; do
        log "$T tags: $s"
        # not in a subshell: its server's PID must reach the EXIT trap
        run_"$s" "$p.$s" >"$tmp/system.out"
        cat "$tmp/system.out"
        while read -r name value _; do F[$name]=$value; done <"$tmp/system.out"
    done
    for h in historian historian_lp; do
        for peer in influxdb victoriametrics; do
            case " $SYSTEMS " in *" $h "*) ;; *) continue ;; esac
            case " $SYSTEMS " in *" $peer "*) ;; *) continue ;; esac
            for m in samples_per_s first_contact.samples_per_s peak_rss_mib bytes_per_sample; do
                awk -v a="${F[$p.$h.$m]}" -v o="${F[$p.$peer.$m]}" -v n="$p.ratio.${h}_vs_$peer.$m" \
                    'BEGIN {if (o > 0) printf "%s %.2f x\n", n, a / o}'
            done
        done
    done
    unset F
    rm -f "$tmp/bodies.hist" "$tmp/bodies.lp"
done

# ---- Historian's own pipelined TCP client (not a ratio) -------------------
for T in $NATIVE_TAGS; do
    log "native: bench_ingest at $T tags"
    out=$("$BUILD/bench/bench_ingest" --tags "$T" --samples "$NATIVE_SAMPLES" --batch "$BATCH" \
        --conns "$STREAMS" --window 8) || die "bench_ingest failed at $T tags"
    echo "$out" | sed "s/^ingest\./native.historian_tcp_pipelined_window8.tags$T./"
done

# ---- what an acknowledgement meant, for the systems in this run ------------
for s in $SYSTEMS; do
    case $s in
    historian | historian_lp)
        echo "durability.$s: acknowledged after the request's WAL record is fdatasync'ed (group commit: one fdatasync for every request the writer drained; historiand's default)" ;;
    influxdb)
        [ -s "$tmp/influx_fsync_delay" ] || continue
        echo "durability.influxdb: acknowledged after its WAL write is fsync'ed; wal-fsync-delay = \"$(cat "$tmp/influx_fsync_delay")\" in the config this script wrote (0s: the fsync is not delayed; writes that arrive meanwhile share it)" ;;
    victoriametrics)
        echo "durability.victoriametrics: acknowledged before any fsync (rows wait in memory, about a second, before they reach disk; a crash loses them)" ;;
    esac
done
