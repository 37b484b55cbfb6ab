// feed.mjs: the browser test's data: a year (2025-12-01 to 2026-12-01 UTC)
// of a float, an int64 and a bool tag every 15 minutes, with a run of Bad
// samples, a float level hourly, and a setpoint with two samples only (one
// before the year: boundary=outside must draw it across a window without
// samples). Written through POST /api/v1/write (a WriteRequest encoded here)
// after PUT /api/v1/tags/{name} set each tag's type and unit.
import { request } from './http.mjs';

export const DAY = 86400000;
export const Y0 = Date.UTC(2025, 11, 1);
export const Y1 = Y0 + 365 * DAY;
export const STEP = 15 * 60000;
export const BAD_FROM = Y0 + 150 * DAY; // temp is Bad in [BAD_FROM, BAD_TO)
export const BAD_TO = Y0 + 160 * DAY;
export const BAD = 0x80000000;

export const TAGS = {
  temp: { name: 'plant/area1/reactor/temp', type: 'float64', unit: 'degC' },
  batch: { name: 'plant/area1/reactor/batch', type: 'int64', unit: 'count' },
  running: { name: 'plant/area1/pump/running', type: 'bool', unit: '' },
  level: { name: 'plant/area2/tank/level', type: 'float64', unit: '%' },
  setpoint: { name: 'plant/area2/tank/setpoint', type: 'float64', unit: '%' },
};

function samples(key) {
  const ts = [];
  const vs = [];
  const qs = [];
  const push = (t, v, q = 0) => {
    ts.push(t);
    vs.push(v);
    qs.push(q);
  };
  if (key === 'setpoint') {
    push(Y0 - 10 * DAY, 70);
    push(Y0 + 200 * DAY, 75);
    return { ts, vs, qs };
  }
  const step = key === 'level' ? 3600000 : STEP;
  for (let t = Y0; t < Y1; t += step) {
    const d = (t - Y0) / DAY;
    if (key === 'temp') {
      const bad = t >= BAD_FROM && t < BAD_TO;
      push(t, bad ? 0 : 50 + 10 * Math.sin((2 * Math.PI * d) / 30) + 2 * Math.sin(2 * Math.PI * d), bad ? BAD : 0);
    } else if (key === 'batch') {
      push(t, 100 + (Math.floor(d) % 7) * 10);
    } else if (key === 'running') {
      push(t, Math.floor(d / 3) % 2 === 0);
    } else {
      push(t, 40 + 20 * Math.sin((2 * Math.PI * d) / 90));
    }
  }
  return { ts, vs, qs };
}

// ---- a minimal protobuf writer for historian.v1.WriteRequest ----
function varint(out, v) {
  let x = BigInt(v);
  while (x > 0x7fn) {
    out.push(Number((x & 0x7fn) | 0x80n));
    x >>= 7n;
  }
  out.push(Number(x));
}
const zigzag = (v) => (v >= 0n ? v << 1n : (-v << 1n) - 1n);
function field(out, num, bytes) {
  varint(out, (num << 3) | 2);
  varint(out, bytes.length);
  for (const b of bytes) out.push(b);
}

function series(tag, type, { ts, vs, qs }) {
  const s = [];
  field(s, 1, [...Buffer.from(tag, 'utf8')]);
  const deltas = [];
  let prev = 0n;
  for (const t of ts) {
    const ns = BigInt(t) * 1000000n;
    varint(deltas, zigzag(ns - prev));
    prev = ns;
  }
  field(s, 2, deltas);
  if (type === 'float64') {
    const f = Buffer.alloc(vs.length * 8);
    vs.forEach((v, i) => f.writeDoubleLE(v, i * 8));
    field(s, 3, [...f]);
  } else if (type === 'int64') {
    const i64 = [];
    for (const v of vs) varint(i64, zigzag(BigInt(v)));
    field(s, 4, i64);
  } else {
    field(s, 5, vs.map((v) => (v ? 1 : 0)));
  }
  const q = [];
  for (const v of qs) varint(q, v);
  field(s, 6, q);
  return s;
}

export async function feed(base, adminToken) {
  const auth = { Authorization: `Bearer ${adminToken}` };
  let batch = 1;
  let total = 0;
  for (const [key, t] of Object.entries(TAGS)) {
    const put = await request('PUT', `${base}/api/v1/tags/${t.name}`, JSON.stringify({ type: t.type, unit: t.unit }), {
      ...auth,
      'Content-Type': 'application/json',
    });
    if (put.status !== 200) throw new Error(`PUT ${t.name}: ${put.status} ${put.text}`);
    const data = samples(key);
    const body = [];
    varint(body, (1 << 3) | 0);
    varint(body, batch++);
    field(body, 3, series(t.name, t.type, data));
    const w = await request('POST', `${base}/api/v1/write`, Buffer.from(body), {
      ...auth,
      'Content-Type': 'application/x-protobuf',
      Accept: 'application/json',
    });
    if (w.status !== 200) throw new Error(`write ${t.name}: ${w.status} ${w.text}`);
    total += data.ts.length;
  }
  return total;
}
