// write.js: InfluxDB's JavaScript client (@influxdata/influxdb-client, v2
// write API) writing to historiand, then everything read back through
// Historian's query API and compared value for value. The client gzips a
// body over its gzipThreshold (1,000 bytes by default): the big batch goes
// gzip'd, the small one plain. Also: the client's HttpError for a refused
// batch carries InfluxDB's error JSON (code "invalid", the line named).
// Usage: node write.js URL TOKEN; prints "RESULT OK ..." or "RESULT FAIL ...".
'use strict';
const { InfluxDB, Point, HttpError } = require('@influxdata/influxdb-client');
const http = require('http');

const [url, token] = process.argv.slice(2);
const T0 = Date.UTC(2026, 2, 29, 0, 59, 0); // 2026-03-29T00:59:00Z: across 01:00 UTC (DST in Europe)
const N = 600; // points per field: ~40 KB of lines, gzip'd by the client

function get(path) {
  return new Promise((resolve, reject) => {
    http.get(url + path, { headers: { Authorization: 'Bearer ' + token } }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    }).on('error', reject);
  });
}

async function main() {
  const client = new InfluxDB({ url, token, timeout: 10000 });
  const w = client.getWriteApi('plant', 'line1', 'ms', { maxRetries: 0, flushInterval: 0, batchSize: 100000 });
  const want = new Map(); // tag -> [[ts_ns, value]]
  const add = (tag, ts, v) => { if (!want.has(tag)) want.set(tag, []); want.get(tag).push([BigInt(ts) * 1000000n, v]); };
  for (let i = 0; i < N; i++) {
    const ts = T0 + i * 250;
    const p = new Point('press').tag('line', 'l1').tag('unit', 'A 1')
      .floatField('force', 100 + i / 8).intField('count', i - 300).booleanField('closed', i % 3 === 0)
      .timestamp(new Date(ts));
    w.writePoint(p);
    add('l1/A 1/press/force', ts, String(100 + i / 8));
    add('l1/A 1/press/count', ts, String(i - 300));
    add('l1/A 1/press/closed', ts, i % 3 === 0 ? 'true' : 'false');
  }
  await w.flush();
  // a small batch: plain, not gzip'd
  const w2 = client.getWriteApi('plant', 'line1', 's', { maxRetries: 0, flushInterval: 0 });
  w2.writePoint(new Point('tank').tag('site', 'north').floatField('level', 3.5).timestamp(T0 / 1000 + 3600));
  await w2.close();
  add('north/tank/level', T0 + 3600000, '3.5');
  // refused: count is int64, a fractional float conflicts; nothing of the batch is stored
  const w3 = client.getWriteApi('plant', 'line1', 'ms', { maxRetries: 0, flushInterval: 0 });
  w3.writePoint(new Point('tank').tag('site', 'south').floatField('level', 1).timestamp(new Date(T0)));
  w3.writePoint(new Point('press').tag('line', 'l1').tag('unit', 'A 1').floatField('count', 0.5).timestamp(new Date(T0)));
  let refused = null;
  try { await w3.close(); } catch (e) { refused = e; }
  const errors = [];
  if (!(refused instanceof HttpError) || refused.statusCode !== 400 || refused.code !== 'invalid' ||
      !/type conflict/.test(refused.message) || !/nothing was written/.test(refused.message))
    errors.push('the refused batch: ' + (refused ? `${refused.statusCode} ${refused.code} ${refused.message}` : 'no error'));
  const south = await get('/api/v1/tags/south/tank/level');
  if (south.status !== 404) errors.push('a refused batch left south/tank/level: ' + south.status);
  let compared = 0;
  for (const [tag, rows] of want) {
    const q = `/api/v1/query?tag=${encodeURIComponent(tag)}&from=2026-03-29T00:00:00Z&to=2026-03-29T03:00:00Z&format=csv&time_format=ns`;
    const r = await get(q);
    const got = r.body.trim().split('\n').slice(1).map((l) => l.slice(tag.length + 1).split(','));
    if (got.length !== rows.length) { errors.push(`${tag}: ${got.length} rows, want ${rows.length}`); continue; }
    rows.forEach(([ts, v], i) => {
      const [gts, gv, gq] = got[i];
      if (gts !== String(ts) || gv !== v || gq !== '0') errors.push(`${tag} row ${i}: ${got[i]} want ${ts},${v},0`);
      else compared++;
    });
  }
  if (errors.length) console.log('RESULT FAIL ' + errors.length + ' differences, first: ' + errors[0]);
  else console.log(`RESULT OK ${compared} samples of ${want.size} tags compared value for value (gzip'd and plain batches), a refused batch's HttpError is InfluxDB's`);
}
main().catch((e) => { console.log('RESULT FAIL ' + (e && e.stack || e)); process.exitCode = 1; });
