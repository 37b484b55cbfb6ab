// Integration test: the datasource's query path, in Node, against a real
// historiand on loopback. test.sh starts the server and sets HIST_URL (and
// HIST_TOKEN when it runs with auth). The fake @grafana/runtime forwards the
// proxy-route URLs to HIST_URL the way Grafana's datasource proxy would:
//   /api/datasources/proxy/uid/<uid>/historian/<path> -> HIST_URL/<path>
//   + Authorization: Bearer HIST_TOKEN
// Data is written first with POST /api/v1/write (a WriteRequest encoded by
// hand below: three float64 tags, one sample a minute for two days).
import { request as httpRequest } from 'node:http';

import { dateTime, DataQueryRequest, DataSourceInstanceSettings, FieldType } from '@grafana/data';
import { beforeAll, describe, expect, it, vi } from 'vitest';

vi.mock('@grafana/runtime', async () => (await import('../fake-runtime')).fakeRuntimeModule);

import { HistorianDataSource } from '../../src/datasource';
import { HistorianOptions, HistorianQuery } from '../../src/types';
import { runtime } from '../fake-runtime';

const HIST_URL = process.env.HIST_URL ?? '';
const TOKEN = process.env.HIST_TOKEN ?? '';
const PROXY = '/api/datasources/proxy/uid/it/historian';

const HOUR = 3_600_000;
/* 2026-01-05 00:00 UTC, a Monday in winter (Berlin = UTC+1) */
const T0 = Date.UTC(2026, 0, 5, 0, 0, 0);
const MINUTES = 48 * 60;
const TAGS = ['it/line1/temp', 'it/line1/flow', 'it/line2/temp'];

/* temp: 20.0 .. 25.9 in each hour (minute/10); flow: constant 3.5; line2: 50 + minute of day/100 */
function value(tag: string, i: number): number {
  if (tag.endsWith('flow')) {
    return 3.5;
  }
  if (tag.startsWith('it/line2')) {
    return 50 + (i % 1440) / 100;
  }
  return 20 + (i % 60) / 10;
}

function http(method: string, url: string, body?: Uint8Array | string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; text: string; headers: Record<string, unknown> }>((resolve, reject) => {
    const u = new URL(url);
    const h: Record<string, string> = { ...headers };
    if (TOKEN) {
      h.Authorization = `Bearer ${TOKEN}`;
    }
    if (body !== undefined) {
      h['Content-Length'] = String(typeof body === 'string' ? Buffer.byteLength(body) : body.length);
    }
    const req = httpRequest(
      { method, hostname: u.hostname, port: u.port, path: u.pathname + u.search, headers: h, timeout: 20_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), headers: res.headers })
        );
      }
    );
    req.on('timeout', () => req.destroy(new Error(`timeout: ${method} ${url}`)));
    req.on('error', reject);
    if (body !== undefined) {
      req.write(body);
    }
    req.end();
  });
}

/* ---- a minimal protobuf writer for historian.v1.WriteRequest ---- */
function varint(out: number[], v: bigint) {
  while (v > 0x7fn) {
    out.push(Number((v & 0x7fn) | 0x80n));
    v >>= 7n;
  }
  out.push(Number(v));
}
function zigzag(v: bigint): bigint {
  return v >= 0n ? v << 1n : (-v << 1n) - 1n;
}
function lenField(out: number[], field: number, bytes: number[] | Uint8Array) {
  varint(out, BigInt((field << 3) | 2));
  varint(out, BigInt(bytes.length));
  for (const b of bytes) {
    out.push(b);
  }
}
function series(tag: string, tsNs: bigint[], values: number[]): number[] {
  const s: number[] = [];
  lenField(s, 1, Array.from(Buffer.from(tag, 'utf8')));
  const deltas: number[] = [];
  let prev = 0n;
  for (const t of tsNs) {
    varint(deltas, zigzag(t - prev));
    prev = t;
  }
  lenField(s, 2, deltas);
  const f = Buffer.alloc(values.length * 8);
  values.forEach((v, i) => f.writeDoubleLE(v, i * 8));
  lenField(s, 3, f);
  return s;
}
function writeRequest(batchId: number): Uint8Array {
  const out: number[] = [];
  varint(out, BigInt((1 << 3) | 0));
  varint(out, BigInt(batchId));
  for (const tag of TAGS) {
    const ts: bigint[] = [];
    const vs: number[] = [];
    for (let i = 0; i < MINUTES; i++) {
      ts.push(BigInt(T0 + i * 60_000) * 1_000_000n);
      vs.push(value(tag, i));
    }
    lenField(out, 3, series(tag, ts, vs));
  }
  return Uint8Array.from(out);
}

function settings(): DataSourceInstanceSettings<HistorianOptions> {
  return {
    id: 1,
    uid: 'it',
    type: 'historian-datasource',
    name: 'Historian',
    url: '/api/datasources/proxy/uid/it',
    jsonData: { url: HIST_URL },
    access: 'proxy',
    readOnly: false,
    meta: {} as never,
  } as DataSourceInstanceSettings<HistorianOptions>;
}

function panel(targets: HistorianQuery[], fromMs: number, toMs: number, maxDataPoints = 300): DataQueryRequest<HistorianQuery> {
  return {
    requestId: 'it',
    interval: '1m',
    intervalMs: 60_000,
    maxDataPoints,
    range: { from: dateTime(fromMs), to: dateTime(toMs), raw: { from: '', to: '' } },
    scopedVars: {},
    targets,
    timezone: 'utc',
    app: 'dashboard',
    startTime: 0,
  } as DataQueryRequest<HistorianQuery>;
}

describe.skipIf(!HIST_URL)('datasource against historiand', () => {
  let ds: HistorianDataSource;

  beforeAll(async () => {
    runtime.handler = async (url: string) => {
      if (!url.startsWith(PROXY)) {
        return { status: 502, data: `not through the proxy route: ${url}` };
      }
      const res = await http('GET', HIST_URL + url.slice(PROXY.length));
      let data: unknown = res.text;
      try {
        data = JSON.parse(res.text);
      } catch {
        /* not JSON: keep the text */
      }
      return { status: res.status, data };
    };
    const w = await http('POST', `${HIST_URL}/api/v1/write`, writeRequest(1), {
      'Content-Type': 'application/x-protobuf',
    });
    expect(w.status, `write failed: ${w.text}`).toBe(200);
    const put = await http('PUT', `${HIST_URL}/api/v1/tags/it/line1/temp`, JSON.stringify({ unit: '°C', description: 'line 1 temperature' }), {
      'Content-Type': 'application/json',
    });
    expect(put.status, `PUT tag failed: ${put.text}`).toBeLessThan(300);
    ds = new HistorianDataSource(settings());
  });

  it('testDatasource connects through the route', async () => {
    const r = await ds.testDatasource();
    expect(r.status, r.message).toBe('success');
  });

  it('template variables browse the namespace', async () => {
    expect((await ds.metricFindQuery('children(it/)')).map((v) => v.text)).toEqual(['line1', 'line2']);
    expect((await ds.metricFindQuery('it/line1/')).map((v) => v.text).sort()).toEqual(['it/line1/flow', 'it/line1/temp']);
    expect((await ds.metricFindQuery('it/*/temp')).map((v) => v.text).sort()).toEqual(['it/line1/temp', 'it/line2/temp']);
  });

  it('raw returns every sample in the range, with the unit from the tag', async () => {
    const res = await ds.query(panel([{ refId: 'A', tags: ['it/line1/temp'], mode: 'raw', boundary: 'inside' }], T0, T0 + HOUR));
    expect(res.data).toHaveLength(1);
    const f = res.data[0];
    expect(f.fields[0].type).toBe(FieldType.time);
    expect(f.length).toBe(60);
    expect(f.fields[0].values[0]).toBe(T0);
    expect(f.fields[1].values[5]).toBeCloseTo(20.5, 9);
    expect(f.fields[1].config.unit).toBe('celsius');
    expect(f.fields[1].config.description).toBe('line 1 temperature');
  });

  it('raw and plot fetch the samples at the edges by default (boundary outside)', async () => {
    const raw = await ds.query(panel([{ refId: 'A', tags: ['it/line1/temp'], mode: 'raw' }], T0 + 30_000, T0 + HOUR));
    const f = raw.data[0];
    /* 00:00 (before from), 00:01 .. 00:59 inside, 01:00 (at to) */
    expect(f.length).toBe(61);
    expect(f.fields[0].values[0]).toBe(T0);
    expect(f.fields[0].values[60]).toBe(T0 + HOUR);
    /* a window after the last sample still draws the last value across it */
    const after = T0 + MINUTES * 60_000 + HOUR;
    const plot = await ds.query(panel([{ refId: 'A', tags: ['it/line1/flow'], mode: 'plot' }], after, after + HOUR));
    expect(plot.data[0].length).toBe(1);
    expect(plot.data[0].fields[0].values[0]).toBe(T0 + (MINUTES - 1) * 60_000);
    expect(plot.data[0].fields[1].values[0]).toBeCloseTo(3.5, 9);
    const inside = await ds.query(panel([{ refId: 'A', tags: ['it/line1/flow'], mode: 'plot', boundary: 'inside' }], after, after + HOUR));
    expect(inside.data.length === 0 || inside.data[0].length === 0).toBe(true);
  });

  it('plot keeps to the panel width', async () => {
    const res = await ds.query(panel([{ refId: 'A', tags: ['it/line1/temp', 'it/line2/temp'], mode: 'plot' }], T0, T0 + 48 * HOUR, 100));
    expect(res.data.map((d) => d.name)).toEqual(['it/line1/temp', 'it/line2/temp']);
    for (const f of res.data) {
      expect(f.length).toBeGreaterThan(0);
      expect(f.length).toBeLessThanOrEqual(4 * 100 + 4);
      const v = f.fields[1].values.filter((x: number | null) => x !== null) as number[];
      expect(Math.min(...v)).toBeGreaterThanOrEqual(20);
    }
    const v1 = res.data[0].fields[1].values as number[];
    expect(Math.max(...v1)).toBeCloseTo(25.9, 9);
    expect(Math.min(...v1)).toBeCloseTo(20, 9);
  });

  it('interpolated gives one value per step', async () => {
    const res = await ds.query(panel([{ refId: 'A', tags: ['it/line1/flow'], mode: 'interpolated', step: '10m' }], T0, T0 + 2 * HOUR));
    const f = res.data[0];
    expect(f.length).toBeGreaterThanOrEqual(12);
    expect(f.length).toBeLessThanOrEqual(13);
    expect(f.fields[1].values[3]).toBeCloseTo(3.5, 9);
  });

  it('hourly aggregates in Europe/Berlin: min, max, count per hour', async () => {
    const res = await ds.query(
      panel(
        [{ refId: 'A', tags: ['it/line1/temp'], mode: 'aggregate', aggs: ['min', 'max', 'count'], bucket: 'hour', tz: 'Europe/Berlin' }],
        T0 + 2 * HOUR,
        T0 + 8 * HOUR
      )
    );
    const f = res.data[0];
    expect(f.fields.map((x: { name: string }) => x.name)).toEqual(['time', 'it/line1/temp min', 'it/line1/temp max', 'it/line1/temp count']);
    expect(f.length).toBe(6);
    expect(f.fields[0].values[0]).toBe(T0 + 2 * HOUR);
    for (let i = 0; i < f.length; i++) {
      expect(f.fields[1].values[i]).toBeCloseTo(20, 9);
      expect(f.fields[2].values[i]).toBeCloseTo(25.9, 9);
      expect(f.fields[3].values[i]).toBe(60);
    }
    expect(f.fields[1].config.unit).toBe('celsius');
    expect(f.fields[3].config.unit).toBe('none');
  });

  it('shift buckets (06:00, 14:00, 22:00 Berlin) cover a day in three rows', async () => {
    /* 05:00 UTC = 06:00 Berlin on 2026-01-05, for 24 h */
    const res = await ds.query(
      panel(
        [
          {
            refId: 'A',
            tags: ['it/line1/flow'],
            mode: 'aggregate',
            aggs: ['count', 'twa'],
            bucket: 'shift',
            tz: 'Europe/Berlin',
            shifts: '06:00,14:00,22:00',
          },
        ],
        T0 + 5 * HOUR,
        T0 + 29 * HOUR
      )
    );
    const f = res.data[0];
    expect(f.length).toBe(3);
    expect(f.fields[0].values).toEqual([T0 + 5 * HOUR, T0 + 13 * HOUR, T0 + 21 * HOUR]);
    expect(f.fields[1].values).toEqual([480, 480, 480]);
    expect(f.fields[2].values[0]).toBeCloseTo(3.5, 9);
  });

  it('a glob in the tag list matches several tags, each with its own frame', async () => {
    const res = await ds.query(panel([{ refId: 'A', tags: ['it/*/temp'], mode: 'plot' }], T0, T0 + HOUR));
    expect(res.data.map((d) => d.name).sort()).toEqual(['it/line1/temp', 'it/line2/temp']);
    const l1 = res.data.find((d) => d.name === 'it/line1/temp')!;
    expect(l1.fields[1].config.unit).toBe('celsius');
  });

  it("an unknown tag gives historiand's error text", async () => {
    await expect(ds.query(panel([{ refId: 'A', tags: ['it/nope'], mode: 'raw' }], T0, T0 + HOUR))).rejects.toThrow(/unknown tag/);
  });
});

describe.skipIf(HIST_URL !== '')('datasource against historiand', () => {
  it('skipped: HIST_URL not set (test.sh sets it when a historiand binary exists)', () => {
    expect(HIST_URL).toBe('');
  });
});
