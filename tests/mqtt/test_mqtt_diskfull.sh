#!/usr/bin/env bash
# test_mqtt_diskfull.sh: durable before acknowledged when the disk is full.
# historiand's data directory is a small tmpfs the test mounts itself (root
# only; exit 77 = skipped otherwise, or without mosquitto). Round 1 of QoS 1
# messages is stored. Then a filler file takes every free byte and round 2
# is published: what the WAL's preallocated space holds may be written and
# acknowledged, the rest cannot be, and every acknowledged message is
# visible (a failed write closes the link without PUBACK and
# reconnects; the broker keeps the messages); /healthz says why. The
# filler goes: the broker redelivers and every message of both rounds is
# stored exactly once, value for value, without a restart. Every wait is
# bounded; the tmpfs is unmounted at the end.
set -euo pipefail
BIN=${HIST_BIN_DIR:?HIST_BIN_DIR}
NAME=test_mqtt_diskfull
. "$(dirname "$0")/mqtt_lib.sh"
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root to mount a tmpfs"; exit 77; }
mkdir -p "$dir/data"
mount -t tmpfs -o size=48m tmpfs "$dir/data" 2>/dev/null || { echo "SKIP: cannot mount a tmpfs"; exit 77; }
keep=${KEEP:-}
# the processes stop first, then the tmpfs goes, then the directory
trap 'KEEP=1 cleanup; umount "$dir/data" 2>/dev/null || true; [ -n "$keep" ] || rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; tail -20 "$dir/server.log"; exit 1; }
start_broker "max_queued_messages 0"
start_historiand --mqtt-topic 'full/#' --memtable-mb 8
base=$(( $(date -u -d '2026-01-01T23:59:00Z' +%s) * 1000 ))  # crosses midnight
msgs() { seq "$1" "$2" | awk -v b=$base '{printf "{\"value\":%d,\"timestamp\":%.0f}\n", $1, b + $1 * 100}'; }
stored() {
    curl -sf "http://127.0.0.1:$hport/api/v1/query?tag=full/line/temp&from=2026-01-01T23:00:00Z&to=2026-01-02T01:00:00Z&format=csv" |
        grep -c '^full/' || true
}
msgs 1 500 | timeout 60 mosquitto_pub -p $mport -q 1 -i full-pub -t full/line/temp -l
for _ in $(seq 200); do [ "$(stored)" = 500 ] && break; sleep 0.05; done
[ "$(stored)" = 500 ] || fail "round 1: $(stored) of 500 stored"
acks1=$(metric historian_mqtt_acks_total)
# the disk fills; round 2 cannot be written
dd if=/dev/zero of="$dir/data/filler" bs=1M 2>/dev/null || true
msgs 501 1500 | timeout 60 mosquitto_pub -p $mport -q 1 -i full-pub -t full/line/temp -l
for _ in $(seq 200); do
    grep -qi "space\|full" <<<"$(curl -s "http://127.0.0.1:$hport/healthz")" && break; sleep 0.05
done
grep -qi "space\|full" <<<"$(curl -s "http://127.0.0.1:$hport/healthz")" || fail "/healthz does not say the disk is full: $(curl -s "http://127.0.0.1:$hport/healthz")"
sleep 2 # reconnects and redeliveries meanwhile, refused
# What the WAL's space already held may have been written (and then
# acknowledged); the rest not. No acknowledgement without its sample: the
# acks read first can only be fewer than the samples read after them (a
# refused sample left visible would show as a duplicate or extra below).
acks2=$(metric historian_mqtt_acks_total) full=$(stored)
[ "$full" -lt 1500 ] || fail "with the disk full, all of round 2 was written: the disk was not full"
[ $((acks2 - acks1)) -le $((full - 500)) ] ||
    fail "with the disk full: $((acks2 - acks1)) messages acknowledged, only $((full - 500)) visible"
[ "$(metric historian_mqtt_reconnects_total)" -ge 1 ] || fail "the link did not reconnect after a failed write"
grep -q "mqtt 127.0.0.1:$mport: not written (.*): reconnecting; the broker keeps the messages" "$dir/server.log" ||
    fail "the log does not say why nothing was acknowledged"
# room again: the broker redelivers, everything is stored exactly once
rm -f "$dir/data/filler"
for _ in $(seq 600); do [ "$(stored)" -ge 1500 ] && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$hport/api/v1/query?tag=full/line/temp&from=2026-01-01T23:00:00Z&to=2026-01-02T01:00:00Z&format=csv" > "$dir/out.csv"
awk -F, -v b=$base '/^full\// { seen[$3+0]++ } END {
    bad = 0; for (i = 1; i <= 1500; i++) if (seen[i] != 1) { bad++; if (bad < 5) print "value " i ": " seen[i] + 0 " times" }
    exit bad > 0 }' "$dir/out.csv" || fail "after the disk has room again the values differ"
stop_historiand || fail "historiand did not shut down cleanly (exit $?)"
echo "test_mqtt_diskfull: 1500 QoS 1 messages across a full disk: $((acks2 - acks1)) acknowledged while it was full, each of them stored; in the end all stored once, value for value"
