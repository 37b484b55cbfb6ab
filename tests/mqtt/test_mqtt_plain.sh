#!/usr/bin/env bash
# test_mqtt_plain.sh: plain MQTT topics, end to end. mosquitto_pub
# publishes to Debian's mosquitto; historiand, configured by a --config
# file, maps topics to tag names by templates and a prefix, reads bare
# numbers and JSON objects with configured field names, timestamps as RFC
# 3339 (with an offset, across Europe's DST change at 2026-03-29 01:00 UTC),
# ms and ns, qualities as words and StatusCodes, a null as a Bad sample
# (value 0, as Sparkplug's is_null); every sample is read back through the
# query API and compared value for value, time for time, quality for
# quality. Refused payloads are counted
# in /metrics and logged once per topic. Exit 77: skipped (no mosquitto).
set -euo pipefail
BIN=${HIST_BIN_DIR:?HIST_BIN_DIR}
NAME=test_mqtt_plain
. "$(dirname "$0")/mqtt_lib.sh"
start_broker
cat > "$dir/historian.conf" <<CONF
mqtt-topic=plant/+/+/temp={2}/{3}.temp
mqtt-topic=site/#=north/
mqtt-topic=json/#
mqtt-value-field=d.v
mqtt-time-field=t
mqtt-quality-field=q
mqtt-time-unit=ns
CONF
start_historiand --config "$dir/historian.conf"
pub() { mosquitto_pub -p "$mport" -q 1 -t "$1" -m "$2"; }
before=$(date -u +%s)
pub plant/a/l1/temp 21.5
pub plant/a/l1/temp '{"d":{"v":22.25},"t":1774745999000000000}'
pub json/x '{"d":{"v":1},"t":"2026-03-29T00:59:59Z"}'
pub json/x '{"d":{"v":2},"t":"2026-03-29T03:00:00.250+02:00","q":"bad"}'
pub json/x '{"d":{"v":-3.5},"t":1774746001000000000,"q":1073741824}'
pub json/b '{"d":{"v":true},"t":"2026-03-29T01:00:02Z"}'
pub json/b '{"d":{"v":false},"t":"2026-03-29T01:00:03Z","q":"Uncertain"}'
pub json/n '{"d":{"v":null},"t":"2026-03-29T01:00:04Z"}'
pub site/line2/flow '{"d":{"v":7},"t":"2026-03-29T01:00:05Z","q":2150694912}'
for _ in 1 2 3; do pub json/bad hello; done
pub json/bad2 '{"value":1}'   # the default field name means nothing here
after=$(date -u +%s)
want_samples=9 want_refused=4
for _ in $(seq 100); do
    [ "$(metric historian_mqtt_samples_total)" = $want_samples ] &&
        [ "$(metric historian_mqtt_refused_total)" = $want_refused ] && break
    sleep 0.05
done
fail() { echo "FAIL: $*"; tail -20 "$dir/server.log"; exit 1; }
[ "$(metric historian_mqtt_samples_total)" = $want_samples ] || fail "samples_total $(metric historian_mqtt_samples_total), want $want_samples"
[ "$(metric historian_mqtt_refused_total)" = $want_refused ] || fail "refused_total $(metric historian_mqtt_refused_total), want $want_refused"
# the bare number was stored at its arrival time, the JSON one at its own
query a/l1.temp 2026-03-29T00:00:00Z now > "$dir/a.csv"
[ "$(sed -n 1p "$dir/a.csv")" = "a/l1.temp,2026-03-29T00:59:59Z,22.25,0" ] || fail "a/l1.temp: $(cat "$dir/a.csv")"
row=$(sed -n 2p "$dir/a.csv"); t=$(echo "$row" | cut -d, -f2)
ts=$(date -u -d "$t" +%s)
[ "$(echo "$row" | cut -d, -f3,4)" = "21.5,0" ] && [ "$ts" -ge "$before" ] && [ "$ts" -le "$after" ] ||
    fail "bare 21.5 at arrival ($before..$after): $row"
from=2026-03-29T00:00:00Z to=2026-03-29T02:00:00Z
{ query json/x $from $to; query json/b $from $to; query json/n $from $to
  query north/site/line2/flow $from $to; } > "$dir/got.csv"
cat > "$dir/want.csv" <<WANT
json/x,2026-03-29T00:59:59Z,1,0
json/x,2026-03-29T01:00:00.250Z,2,2147483648
json/x,2026-03-29T01:00:01Z,-3.5,1073741824
json/b,2026-03-29T01:00:02Z,true,0
json/b,2026-03-29T01:00:03Z,false,1073741824
json/n,2026-03-29T01:00:04Z,0,2147483648
north/site/line2/flow,2026-03-29T01:00:05Z,7,2150694912
WANT
diff "$dir/want.csv" "$dir/got.csv" || fail "stored samples differ (want < > got)"
# one log line per refused topic, however often it is refused
n=$(grep -c "topic 'json/bad'" "$dir/server.log" || true)
[ "$n" = 1 ] || fail "json/bad logged $n times, want once"
grep -q "topic 'json/bad2': a JSON object without its value field" "$dir/server.log" ||
    fail "json/bad2's refusal not logged with its reason"
# a bad template stops start-up and names the option
if "$BIN/historiand" --data "$dir/data2" --http '' --ingest '' --mqtt mqtt://127.0.0.1:$mport \
    --mqtt-topic 'a/+={name}' > "$dir/bad.log" 2>&1; then fail "a bad template was accepted"; fi
grep -q "placeholders" "$dir/bad.log" || fail "bad template: $(cat "$dir/bad.log")"
stop_historiand || fail "historiand did not shut down cleanly (exit $?)"
echo "test_mqtt_plain: $want_samples samples stored value for value, $want_refused refused and logged once per topic"
