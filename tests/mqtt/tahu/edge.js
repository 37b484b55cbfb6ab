// edge.js: the Sparkplug B edge node of tests/mqtt/tahu/test.sh. Eclipse
// Tahu's JavaScript client (sparkplug-client, sparkplug-payload from npm)
// drives a real session through the broker into historiand: NBIRTH with
// every supported datatype (and a String, and a UInt64 over 2^63-1), a
// DBIRTH with '/' in metric names, NDATA/DDATA by alias with their own
// timestamps and Quality properties, a refused topic, a seq gap (historiand
// must ask for a rebirth on NCMD; the data until the rebirth is dropped), the
// rebirth, a burst of NDATA in which seq wraps from 255 to 0, is_historical
// and is_null metrics, a stale NDEATH (another bdSeq), DDEATH and NDEATH
// (Tahu's own on stop); a second node dies by its MQTT will (the broker
// publishes its NDEATH when the connection breaks).
// While sending it writes down what historiand must have stored, by the
// rules of docs/protocol.md ("MQTT / Sparkplug B"); then it reads
// everything back through the HTTP API (/api/v1/query CSV, /api/v1/tags,
// /metrics) and compares sample for sample: time (ns), value, quality; tag
// types and units; the counters.
//
// Use: node edge.js --broker mqtt://127.0.0.1:PORT --http http://127.0.0.1:PORT
//                   [--out DIR]   (expected.json and got.csv for a post mortem)
// Last line on stdout: "RESULT OK <summary>" or "RESULT FAIL <why>"; exit 0/1.
// Every wait is bounded.
'use strict';

const fs = require('fs');
const http = require('http');
const path = require('path');
const Long = require('long');
const sparkplugClient = require('sparkplug-client');
const spPayload = require('sparkplug-payload').get('spBv1.0');

// ---- arguments --------------------------------------------------------------

function args() {
  const a = { out: null };
  const v = process.argv.slice(2);
  for (let i = 0; i < v.length; i += 2) {
    if (v[i] === '--broker') a.broker = v[i + 1];
    else if (v[i] === '--http') a.http = v[i + 1];
    else if (v[i] === '--out') a.out = v[i + 1];
    else throw new Error('unknown argument ' + v[i]);
  }
  if (!a.broker || !a.http) throw new Error('usage: edge.js --broker URL --http URL [--out DIR]');
  return a;
}

const log = (...m) => console.error('edge:', ...m);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- the model: what historiand must store ----------------------------------

const GROUP = 'Plant1';
const NODE = 'Edge1'; // the node of the whole story
const NODE2 = 'Edge2'; // a second node, which dies by its MQTT will
const DEVICE = 'Pump7';
const T0 = Date.parse('2026-03-29T00:59:00.000Z'); // the rounds cross 01:00:00Z
const NS = 1000000n;
const INT64_MAX = (1n << 63n) - 1n;
const BURST = 260; // NDATA messages in a row: seq wraps 255 -> 0

// OPC UA StatusCodes (docs/protocol.md, "Quality")
const GOOD = 0;
const BAD = 0x80000000;
const BAD_NO_COMMUNICATION = 0x80310000;
// Ignition Quality -> StatusCode, for the values this test sends
const QUALITY = {
  192: GOOD,
  0: BAD,
  8: 0x808a0000, // Bad_NotConnected
  20: 0x80310000, // Bad_NoCommunication
  24: 0x80050000, // Bad_CommunicationError
  64: 0x40000000, // Uncertain
  216: 0x00960000, // Good_LocalOverride
};
const isBad = (q) => q >= 0x80000000;

const STORAGE = {
  Int8: 'int64', Int16: 'int64', Int32: 'int64', Int64: 'int64',
  UInt8: 'int64', UInt16: 'int64', UInt32: 'int64', UInt64: 'int64', DateTime: 'int64',
  Float: 'float64', Double: 'float64', Boolean: 'bool',
};

// The metrics of the node and of the device: name, alias, datatype, unit.
const NODE_DEFS = [
  { name: 'Int8', alias: 1, type: 'Int8' },
  { name: 'Int16', alias: 2, type: 'Int16' },
  { name: 'Int32', alias: 3, type: 'Int32' },
  { name: 'Int64', alias: 4, type: 'Int64' },
  { name: 'UInt8', alias: 5, type: 'UInt8' },
  { name: 'UInt16', alias: 6, type: 'UInt16' },
  { name: 'UInt32', alias: 7, type: 'UInt32' },
  { name: 'UInt64', alias: 8, type: 'UInt64' },
  { name: 'Float', alias: 9, type: 'Float', unit: 'degC' },
  { name: 'Double', alias: 10, type: 'Double', unit: 'bar' },
  { name: 'Boolean', alias: 11, type: 'Boolean' },
  { name: 'DateTime', alias: 12, type: 'DateTime' },
  { name: 'Label', alias: 13, type: 'String' },
  { name: 'Line 1/Motor/Speed', alias: 14, type: 'Double', unit: 'rpm' },
  { name: 'Line 1/Motor/Running', alias: 15, type: 'Boolean' },
];
const DEVICE_DEFS = [
  { name: 'Flow/Rate', alias: 101, type: 'Float', unit: 'm3/h' },
  { name: 'Flow/Total', alias: 102, type: 'UInt64' },
  { name: 'Valve/Open', alias: 103, type: 'Boolean' },
  { name: 'Status/Text', alias: 104, type: 'String' },
  { name: 'Pressure', alias: 105, type: 'Double', unit: 'bar' },
];

const NODE2_DEFS = [
  { name: 'Tank/Level', alias: 1, type: 'Double', unit: '%' },
  { name: 'Tank/Alarm', alias: 2, type: 'Boolean' },
];

const tagOf = (node, device, name) => `${GROUP}/${node}/${device ? device + '/' : ''}${name}`;

class Model {
  constructor() {
    this.samples = new Map(); // tag -> [{ts (BigInt ns), value (string), quality}]
    this.last = new Map(); // tag -> the latest sample's ts
    this.tags = new Map(); // tag -> {type, unit}
    this.absent = new Set(); // tags that must not exist
    this.unsupported = 0; // unsupported datatypes + refused values (invalid)
    this.sent = 0; // messages the edge published
    this.refused = 0; // messages historiand must refuse (a bad topic)
    this.dropped = 0; // metrics of dropped messages
    this.droppedTs = new Set(); // their timestamps (ns): never stored
    this.nodeDeaths = []; // [{node, defs, sentNs}]: NDEATH samples are at its arrival
  }

  add(tag, ts, value, quality) {
    if (!this.samples.has(tag)) this.samples.set(tag, []);
    this.samples.get(tag).push({ ts, value, quality });
    const l = this.last.get(tag);
    if (l === undefined || ts > l) this.last.set(tag, ts);
  }

  // One metric m of a message whose session rules say "stored" (births,
  // DATA of a born node), resolved to its birth definition d.
  metric(node, device, d, m, payloadTs, birth) {
    const tag = tagOf(node, device, d.name);
    if (!STORAGE[d.type]) {
      this.unsupported++; // String: counted, never stored
      this.absent.add(tag);
      return;
    }
    if (birth) this.tags.set(tag, { type: STORAGE[d.type], unit: d.unit || '' });
    const ts = BigInt(m.timestamp !== undefined ? m.timestamp : payloadTs) * NS;
    const qp = m.properties && m.properties.Quality ? m.properties.Quality.value : undefined;
    let q = qp === undefined ? GOOD : QUALITY[qp];
    if (q === undefined) throw new Error('no mapping for Quality ' + qp);
    let value;
    if (m.value === null) {
      value = zero(d.type);
      if (!isBad(q)) q = BAD;
    } else {
      value = canonical(d.type, m.value);
      if (d.type === 'UInt64' && BigInt(value) > INT64_MAX) {
        this.unsupported++; // refused: over 2^63-1 (counted with unsupported)
        return;
      }
    }
    this.add(tag, ts, value, q);
  }

  // The death samples of the metrics of defs (device or node): one each,
  // Bad_NoCommunication, at ts or 1 ns after the metric's latest sample.
  // Returns how many.
  deaths(node, device, defs, ts) {
    let n = 0;
    for (const d of defs) {
      if (!STORAGE[d.type]) continue;
      const tag = tagOf(node, device, d.name);
      const l = this.last.get(tag);
      const at = l !== undefined && l >= ts ? l + 1n : ts;
      this.add(tag, at, zero(d.type), BAD_NO_COMMUNICATION);
      n++;
    }
    return n;
  }
}

// A value as the CSV writes it: int64 exact, float64 shortest, bool true/false.
function canonical(type, v) {
  switch (STORAGE[type]) {
    case 'int64':
      return (Long.isLong(v) ? BigInt(v.toString()) : BigInt(v)).toString();
    case 'float64':
      return String(type === 'Float' ? Math.fround(v) : v);
    case 'bool':
      return v ? 'true' : 'false';
    default:
      return null;
  }
}
const zero = (type) => (STORAGE[type] === 'bool' ? 'false' : '0');

// ---- the edge node ----------------------------------------------------------

function prop(q, unit) {
  const p = {};
  if (unit) p.engUnit = { type: 'String', value: unit };
  if (q !== undefined) p.Quality = { type: 'Int32', value: q };
  return Object.keys(p).length ? p : undefined;
}

// Values of round r for every metric (r = 0: the first birth).
function nodeValue(d, r) {
  switch (d.name) {
    case 'Int8': return [-5, 7, -128, 127, 0, -1, 3, -77][r];
    case 'Int16': return -300 + 1000 * r;
    case 'Int32': return -70000 - 12345 * r;
    case 'Int64': return r % 2 ? Long.fromString('9007199254740993') : Long.fromString(String(-5000000000 - r));
    case 'UInt8': return 250 - r;
    case 'UInt16': return 65000 + r;
    case 'UInt32': return 4000000000 + r;
    case 'UInt64': // round 0 and 3 over 2^63-1 (refused), the others exact above 2^53
      if (r === 0) return Long.fromString('9223372036854775813', true);
      if (r === 3) return Long.fromString('9223372036854775808', true);
      return Long.fromString(String(9007199254740993n + BigInt(r)), true);
    case 'Float': return 21.5 + 0.25 * r;
    case 'Double': return 3.141592653589793 * (r + 1);
    case 'Boolean': return r % 2 === 0;
    case 'DateTime': return T0 + 3600000 * r;
    case 'Label': return 'hello ' + r;
    case 'Line 1/Motor/Speed': return 1450.5 + r;
    case 'Line 1/Motor/Running': return r % 2 === 1;
  }
  throw new Error(d.name);
}
function deviceValue(d, r) {
  switch (d.name) {
    case 'Flow/Rate': return 12.25 + r;
    case 'Flow/Total': return Long.fromString(String(123456789012345 + 1000 * r), true);
    case 'Valve/Open': return r % 2 === 0;
    case 'Status/Text': return 'ok ' + r;
    case 'Pressure': return 2.5 + 0.125 * r;
  }
  throw new Error(d.name);
}
// A Quality property for some metrics of some rounds (undefined: none)
function quality(d, r) {
  if (d.name === 'Float') return [192, 192, 24, 216, 192, 20, 192][r];
  if (d.name === 'Line 1/Motor/Speed') return r === 0 ? 0 : 192;
  if (d.name === 'Line 1/Motor/Running') return r === 0 ? 64 : undefined;
  if (d.name === 'Pressure') return r === 2 ? 8 : 192;
  return undefined;
}

function birthMetrics(defs, valueOf, r, ts) {
  return defs.map((d, i) => {
    const m = { name: d.name, alias: d.alias, type: d.type, value: valueOf(d, r) };
    if (i % 3 === 1) m.timestamp = ts - 250 * i; // the metric's own timestamp wins
    const p = prop(quality(d, r), d.unit);
    if (p) m.properties = p;
    return m;
  });
}

// DATA by alias only: no names. Every other metric has its own timestamp.
function dataMetrics(defs, valueOf, r, ts, withStrings) {
  const out = [];
  defs.forEach((d, i) => {
    if (d.type === 'String' && !withStrings) return;
    const m = { alias: d.alias, type: d.type, value: valueOf(d, r) };
    if (i % 2 === 0) m.timestamp = ts - 10 * (i + 1);
    const q = quality(d, r);
    if (q !== undefined) m.properties = prop(q);
    out.push(m);
  });
  return out;
}

class Edge {
  // node: the edge node id; defs and valueOf: its metrics and their values
  constructor(broker, model, node, defs, valueOf) {
    this.model = model;
    this.node = node;
    this.defs = defs;
    this.valueOf = valueOf;
    this.ncmds = [];
    this.waiters = [];
    this.client = sparkplugClient.newClient({
      serverUrl: broker,
      username: 'edge',
      password: 'edge',
      clientId: `tahu-${node}-${process.pid}`,
      groupId: GROUP,
      edgeNode: node,
      publishDeath: true,
      keepalive: 30,
      mqttOptions: { reconnectPeriod: 0 },
    });
    // sparkplug-client 3.2.4 has no 'rebirth' event: every NCMD to the node
    // comes as 'ncmd' with the decoded payload (its index.js, 'message').
    this.client.on('ncmd', (payload) => {
      this.ncmds.push(payload);
      for (const w of this.waiters.splice(0)) w();
    });
    this.client.on('error', (e) => log(node, 'mqtt error', e.message));
  }

  connected(ms) {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`${this.node}: no connection to the broker in ${ms} ms`)), ms);
      this.client.once('birth', () => { clearTimeout(t); resolve(); });
    });
  }

  // The next NCMD, within ms.
  async nextNcmd(have, ms) {
    const end = Date.now() + ms;
    while (this.ncmds.length <= have && Date.now() < end)
      await new Promise((r) => { this.waiters.push(r); setTimeout(r, 100); });
    return this.ncmds[have];
  }

  nbirth(r, ts) {
    const metrics = birthMetrics(this.defs, this.valueOf, r, ts);
    this.client.publishNodeBirth({ timestamp: ts, metrics });
    this.model.sent++;
    for (const d of this.defs)
      this.model.metric(this.node, null, d, metrics.find((m) => m.name === d.name), ts, true);
  }

  dbirth(r, ts) {
    const metrics = birthMetrics(DEVICE_DEFS, deviceValue, r, ts);
    this.client.publishDeviceBirth(DEVICE, { timestamp: ts, metrics });
    this.model.sent++;
    for (const d of DEVICE_DEFS)
      this.model.metric(this.node, DEVICE, d, metrics.find((m) => m.name === d.name), ts, true);
  }

  // NDATA (device null) or DDATA; stored false: historiand must drop it.
  data(device, metrics, ts, stored) {
    if (device) this.client.publishDeviceData(device, { timestamp: ts, metrics });
    else this.client.publishNodeData({ timestamp: ts, metrics });
    this.model.sent++;
    const defs = device ? DEVICE_DEFS : this.defs;
    for (const m of metrics) {
      const d = defs.find((x) => x.alias === m.alias);
      if (stored) {
        this.model.metric(this.node, device, d, m, ts, false);
      } else {
        this.model.dropped++;
        this.model.droppedTs.add(BigInt(m.timestamp !== undefined ? m.timestamp : ts) * NS);
      }
    }
  }

  raw(topic, buf) {
    this.client.client.publish(topic, buf);
    this.model.sent++;
  }

  ddeath(ts) {
    this.client.publishDeviceDeath(DEVICE, { timestamp: ts });
    this.model.sent++;
    this.model.deviceDeaths = this.model.deaths(this.node, DEVICE, DEVICE_DEFS, BigInt(ts) * NS);
  }

  // Waits (at most ms) for the MQTT connection to close after start().
  closed(ms, start) {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this.client.client.once('close', () => { clearTimeout(t); resolve(); });
      this.model.nodeDeaths.push({ node: this.node, defs: this.defs, sentNs: BigInt(Date.now()) * NS });
      start();
      this.model.sent++;
    });
  }

  // NDEATH: with publishDeath, Tahu's stop() publishes its death certificate
  // (bdSeq 0, the birth's: 3.2.4 never increments it) and disconnects
  // cleanly (so its will, the same NDEATH, is not sent as well).
  stop(ms) {
    return this.closed(ms, () => this.client.stop());
  }

  // NDEATH by the broker: the connection breaks without DISCONNECT, so
  // mosquitto publishes the will Tahu set at connect (bdSeq 0).
  cut(ms) {
    return this.closed(ms, () => this.client.client.stream.destroy());
  }
}

function node2Value(d, r) {
  return d.type === 'Boolean' ? r % 2 === 1 : 40 + 2.5 * r;
}

async function drive(a, model) {
  const edge = new Edge(a.broker, model, NODE, NODE_DEFS, nodeValue);
  const edge2 = new Edge(a.broker, model, NODE2, NODE2_DEFS, node2Value);
  await edge.connected(10000);
  await edge2.connected(10000);
  log('connected');
  const S = 1000;

  // the second node: a birth, data on both sides of 01:00:00Z
  edge2.nbirth(0, T0 + 2 * S);
  edge2.data(null, dataMetrics(NODE2_DEFS, node2Value, 1, T0 + 50 * S, false), T0 + 50 * S, true);
  edge2.data(null, dataMetrics(NODE2_DEFS, node2Value, 2, T0 + 65 * S, false), T0 + 65 * S, true);

  // births: every datatype, engUnit, Quality, '/' in names
  edge.nbirth(0, T0);
  edge.dbirth(0, T0 + 1 * S);
  // a topic historiand refuses (unknown message type): counted, no session change
  edge.raw(`spBv1.0/${GROUP}/NFOO/${NODE}`, Buffer.from([8, 1]));
  model.refused++;

  // four rounds by alias, crossing 01:00:00Z; round 1 carries the String again
  for (let r = 1; r <= 4; r++) {
    const ts = T0 + 15 * S * r;
    edge.data(null, dataMetrics(NODE_DEFS, nodeValue, r, ts, r === 1), ts, true);
    edge.data(DEVICE, dataMetrics(DEVICE_DEFS, deviceValue, r, ts + 5 * S, false), ts + 5 * S, true);
  }

  // a seq gap: historiand must ask for a rebirth and drop everything until it
  edge.client.seq++;
  const before = edge.ncmds.length;
  edge.data(null, dataMetrics(NODE_DEFS, nodeValue, 5, T0 + 70 * S, false), T0 + 70 * S, false);
  edge.data(null, dataMetrics(NODE_DEFS, nodeValue, 6, T0 + 71 * S, false), T0 + 71 * S, false);
  edge.data(DEVICE, dataMetrics(DEVICE_DEFS, deviceValue, 5, T0 + 72 * S, false), T0 + 72 * S, false);
  const cmd = await edge.nextNcmd(before, 10000);
  if (!cmd) throw new Error('no NCMD from historiand within 10 s after the seq gap');
  const rb = (cmd.metrics || []).find((m) => m.name === 'Node Control/Rebirth');
  if (!rb || rb.value !== true)
    throw new Error('the NCMD is not a rebirth request: ' + JSON.stringify(cmd));
  log('rebirth requested');
  model.rebirths = 1;

  // the rebirth, then data that must be stored again
  edge.nbirth(5, T0 + 80 * S);
  edge.dbirth(5, T0 + 81 * S);
  for (let r = 5; r <= 6; r++) {
    const ts = T0 + 90 * S + 15 * S * (r - 5);
    const metrics = dataMetrics(NODE_DEFS, nodeValue, r, ts, false);
    if (r === 6) { // a data message changes an engineering unit: the tag's metadata follows
      const m = metrics.find((x) => x.alias === 10);
      m.properties = Object.assign(m.properties || {}, { engUnit: { type: 'String', value: 'kPa' } });
    }
    edge.data(null, metrics, ts, true);
    if (r === 6) model.tags.get(tagOf(NODE, null, 'Double')).unit = 'kPa';
    edge.data(DEVICE, dataMetrics(DEVICE_DEFS, deviceValue, r, ts + 5 * S, false), ts + 5 * S, true);
  }

  // a burst of 260 NDATA: the seq wraps from 255 to 0 and nothing is dropped
  for (let i = 0; i < BURST; i++) {
    const t = T0 + 111 * S + 10 * i;
    edge.data(null, [{ alias: 6, type: 'UInt16', value: 60000 + i, timestamp: t }], t - 1, true);
  }

  // store-and-forward (is_historical, at times between earlier samples) and nulls
  let ts = T0 + 120 * S;
  edge.data(null, [
    { alias: 3, type: 'Int32', value: 424242, timestamp: T0 + 22500, isHistorical: true },
    { alias: 3, type: 'Int32', value: -424242, timestamp: T0 + 37500, isHistorical: true },
    { alias: 10, type: 'Double', value: 0.1, timestamp: T0 + 52500, isHistorical: true },
    { alias: 10, type: 'Double', value: null, timestamp: ts },
    { alias: 14, type: 'Double', value: null, timestamp: ts + 1, properties: prop(8) },
    { alias: 11, type: 'Boolean', value: null },
  ], ts, true);
  ts = T0 + 125 * S;
  edge.data(DEVICE, [
    { alias: 101, type: 'Float', value: 99.5, timestamp: T0 + 27500, isHistorical: true },
    { alias: 105, type: 'Double', value: null, timestamp: ts },
  ], ts, true);

  // an NDEATH of another session (bdSeq 99): ignored
  edge.raw(`spBv1.0/${GROUP}/NDEATH/${NODE}`, Buffer.from(spPayload.encodePayload({
    timestamp: T0 + 128 * S, metrics: [{ name: 'bdSeq', type: 'UInt64', value: 99 }],
  })));

  // the device dies at the payload's time, then the nodes (arrival time)
  edge.ddeath(T0 + 130 * S);
  await edge.stop(5000);
  await edge2.cut(5000);
  log('stopped, ' + model.sent + ' messages sent');
}

// ---- reading back -----------------------------------------------------------

function get(base, p) {
  return new Promise((resolve, reject) => {
    const req = http.get(base + p, { timeout: 10000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout: ' + p)));
    req.on('error', reject);
  });
}

function counters(text) {
  const c = {};
  for (const line of text.split('\n')) {
    const m = /^historian_mqtt_(\w+)\{[^}]*\} (\d+)$/.exec(line);
    if (m) c[m[1]] = (c[m[1]] || 0) + Number(m[2]);
  }
  return c;
}

// RFC 4180 line of tag,time,value,quality (a tag with a space or comma is quoted)
function csvRow(line) {
  const f = [];
  let i = 0;
  while (i <= line.length) {
    if (line[i] === '"') {
      let s = '';
      i++;
      for (;;) {
        if (line[i] === '"' && line[i + 1] === '"') { s += '"'; i += 2; }
        else if (line[i] === '"') { i++; break; }
        else s += line[i++];
      }
      f.push(s);
      i++;
    } else {
      const j = line.indexOf(',', i);
      const e = j < 0 ? line.length : j;
      f.push(line.slice(i, e));
      i = e + 1;
    }
  }
  return f;
}

const enc = (tag) => tag.split('/').map(encodeURIComponent).join('/');

async function check(a, model) {
  const errors = [];
  const expectedTotal = [...model.samples.values()].reduce((n, s) => n + s.length, 0);
  // the nodes' death samples: at the NDEATH's arrival, after the metrics' latest
  const deathTags = new Map(); // tag -> {death, def}
  for (const death of model.nodeDeaths)
    for (const def of death.defs.filter((d) => STORAGE[d.type]))
      deathTags.set(tagOf(death.node, null, def.name), { death, def });
  const wantSamples = expectedTotal + deathTags.size;
  const wantMessages = model.sent + 1 /* our STATE, back */ + model.rebirths /* our NCMD, back */;

  // wait (bounded) until historiand has counted every message and sample
  let c = {};
  for (let i = 0; i < 100; i++) {
    c = counters((await get(a.http, '/metrics')).body);
    if (c.messages_total >= wantMessages && c.samples_total >= wantSamples) break;
    await sleep(100);
  }
  const want = {
    messages_total: wantMessages, samples_total: wantSamples, refused_total: model.refused,
    unsupported_total: model.unsupported, rebirths_total: model.rebirths,
  };
  log('/metrics:', JSON.stringify(c));
  for (const k of Object.keys(want))
    if (c[k] !== want[k]) errors.push(`/metrics historian_mqtt_${k}: ${c[k]}, expected ${want[k]}`);

  // the tags: exactly the expected ones, with their types and units
  const list = await get(a.http, `/api/v1/tags?prefix=${GROUP}/&limit=1000`);
  const names = list.status === 200 ? JSON.parse(list.body).map((t) => t.name).sort() : [];
  const wantNames = [...model.tags.keys()].sort();
  if (JSON.stringify(names) !== JSON.stringify(wantNames))
    errors.push(`tags under ${GROUP}/: ${JSON.stringify(names)}, expected ${JSON.stringify(wantNames)}`);
  for (const [tag, info] of model.tags) {
    const r = await get(a.http, '/api/v1/tags/' + enc(tag));
    if (r.status !== 200) { errors.push(`GET /api/v1/tags/${tag}: ${r.status}`); continue; }
    const t = JSON.parse(r.body);
    if (t.type !== info.type) errors.push(`${tag}: type ${t.type}, expected ${info.type}`);
    if ((t.unit || '') !== info.unit) errors.push(`${tag}: unit '${t.unit}', expected '${info.unit}'`);
  }
  for (const tag of [...model.absent, tagOf(NODE, null, 'bdSeq'), tagOf(NODE2, null, 'bdSeq')]) {
    const r = await get(a.http, '/api/v1/tags/' + enc(tag));
    if (r.status !== 404) errors.push(`${tag} must not be stored (GET: ${r.status})`);
  }

  // every sample, value for value, time for time (ns), quality for quality
  const from = '2026-03-29T00:00:00Z';
  const to = new Date(Date.now() + 3600000).toISOString();
  const checkNs = BigInt(Date.now()) * NS;
  let compared = 0, csvAll = '';
  const deathTimes = new Map(); // node -> the times of its NDEATH samples
  for (const [tag] of model.tags) {
    const exp = (model.samples.get(tag) || []).slice();
    const r = await get(a.http, `/api/v1/query?tag=${encodeURIComponent(tag)}&from=${from}&to=${to}` +
      '&format=csv&time_format=ns&limit=100000');
    csvAll += r.body;
    if (r.status !== 200) { errors.push(`query ${tag}: ${r.status} ${r.body.slice(0, 200)}`); continue; }
    const lines = r.body.split('\n').filter((l) => l.length);
    if (lines[0] !== 'tag,time,value,quality') errors.push(`query ${tag}: header ${lines[0]}`);
    const rows = lines.slice(1).map(csvRow);
    // the node's death: one more sample, Bad_NoCommunication, value 0, after
    // every other, at a time between the NDEATH's sending and now
    const dt = deathTags.get(tag);
    if (dt) {
      const last = exp.reduce((m, s) => (s.ts > m ? s.ts : m), 0n);
      const row = rows[rows.length - 1];
      const ts = row ? BigInt(row[1]) : -1n;
      const lo = dt.death.sentNs > last ? dt.death.sentNs : last + 1n;
      const hi = checkNs > last ? checkNs : last + 1n;
      const z = zero(dt.def.type);
      if (!row || ts < lo || ts > hi || row[2] !== z || Number(row[3]) !== BAD_NO_COMMUNICATION)
        errors.push(`${tag}: NDEATH sample ${JSON.stringify(row)}, expected (${lo}..${hi},${z},${BAD_NO_COMMUNICATION})`);
      else exp.push({ ts, value: row[2], quality: BAD_NO_COMMUNICATION });
      if (!deathTimes.has(dt.death.node)) deathTimes.set(dt.death.node, new Set());
      deathTimes.get(dt.death.node).add(String(ts));
    }
    exp.sort((x, y) => (x.ts < y.ts ? -1 : x.ts > y.ts ? 1 : 0));
    if (rows.length !== exp.length)
      errors.push(`${tag}: ${rows.length} samples stored, expected ${exp.length}`);
    for (let i = 0; i < Math.max(rows.length, exp.length); i++) {
      const g = rows[i], e = exp[i];
      if (g && model.droppedTs.has(BigInt(g[1])))
        errors.push(`${tag}: a sample of dropped data is stored: ${g.join(',')}`);
      if (!g || !e) { if (e) errors.push(`${tag}: missing ${e.ts},${e.value},${e.quality}`); else errors.push(`${tag}: extra ${g.join(',')}`); continue; }
      const vOk = model.tags.get(tag).type === 'float64' ? Object.is(Number(g[2]), Number(e.value)) : g[2] === e.value;
      if (g[0] !== tag || BigInt(g[1]) !== e.ts || !vOk || Number(g[3]) !== e.quality)
        errors.push(`${tag}: sample ${i}: ${g.join(',')}, expected ${tag},${e.ts},${e.value},${e.quality}`);
      else compared++;
    }
  }
  const latest = [...model.last.values()].reduce((m, x) => (x > m ? x : m), 0n);
  for (const death of model.nodeDeaths) { // all at the arrival time when that is the later
    const times = deathTimes.get(death.node) || new Set();
    if (death.sentNs > latest && times.size !== 1)
      errors.push(`${death.node}: its NDEATH samples have ${times.size} different times, expected one`);
  }
  if (a.out) {
    fs.writeFileSync(path.join(a.out, 'got.csv'), csvAll);
    fs.writeFileSync(path.join(a.out, 'expected.json'), JSON.stringify(
      Object.fromEntries([...model.samples].map(([t, s]) => [t, s.map((x) => [String(x.ts), x.value, x.quality])])), null, 1));
  }
  return { errors, compared, tags: model.tags.size, counters: c, want, nodeDeaths: deathTags.size };
}

async function main() {
  const a = args();
  const model = new Model();
  model.rebirths = 0;
  const watchdog = setTimeout(() => { console.log('RESULT FAIL edge.js took over 60 s'); process.exit(1); }, 60000);
  try {
    await drive(a, model);
    const r = await check(a, model);
    clearTimeout(watchdog);
    if (r.errors.length) {
      for (const e of r.errors.slice(0, 40)) log(e);
      console.log(`RESULT FAIL ${r.errors.length} differences (first: ${r.errors[0]})`);
      process.exit(1);
    }
    console.log(`RESULT OK ${r.compared} samples of ${r.tags} tags compared value for value, ` +
      `time for time and quality for quality, ${r.nodeDeaths} NDEATH and ${model.deviceDeaths} ` +
      `DDEATH samples among them; ${model.sent} messages (seq wrapped), ${model.dropped} ` +
      `metrics dropped after the seq gap and not stored, ${r.want.rebirths_total} rebirth, ` +
      `${r.want.unsupported_total} unsupported/refused values; /metrics counters match`);
    process.exit(0);
  } catch (e) {
    clearTimeout(watchdog);
    console.log('RESULT FAIL ' + (e && e.message ? e.message : String(e)));
    process.exit(1);
  }
}

main();
