// Unit tests of HistorianDataSource with @grafana/runtime faked: the URLs it
// sends through the proxy route, variable interpolation, units from tag
// metadata on the frames, metricFindQuery, testDatasource, error text.
import { dateTime, DataQueryRequest, DataSourceInstanceSettings, FieldType } from '@grafana/data';
import { beforeEach, describe, expect, it, vi } from 'vitest';

vi.mock('@grafana/runtime', async () => (await import('../fake-runtime')).fakeRuntimeModule);

import { HistorianDataSource } from '../../src/datasource';
import { HistorianOptions, HistorianQuery } from '../../src/types';
import { runtime } from '../fake-runtime';

const FROM = 1_700_000_000_000;
const TO = FROM + 7_200_000;

const TAGS = [
  { name: 'p/a/l1/temp', id: 1, type: 'float64', unit: '°C', description: 'reactor' },
  { name: 'p/a/l1/flow', id: 2, type: 'float64', unit: 'm3/h' },
  { name: 'p/a/l2/temp', id: 3, type: 'float64', unit: '°C' },
];

function settings(): DataSourceInstanceSettings<HistorianOptions> {
  return {
    id: 1,
    uid: 'hist1',
    type: 'historian-datasource',
    name: 'Historian',
    url: '/api/datasources/proxy/uid/hist1',
    jsonData: { url: 'http://127.0.0.1:9460' },
    access: 'proxy',
    readOnly: false,
    meta: {} as never,
  } as DataSourceInstanceSettings<HistorianOptions>;
}

function request(targets: HistorianQuery[]): DataQueryRequest<HistorianQuery> {
  return {
    requestId: 'r1',
    interval: '1m',
    intervalMs: 60_000,
    maxDataPoints: 640,
    range: { from: dateTime(FROM), to: dateTime(TO), raw: { from: 'now-2h', to: 'now' } },
    scopedVars: {},
    targets,
    timezone: 'Europe/Berlin',
    app: 'dashboard',
    startTime: 0,
  } as DataQueryRequest<HistorianQuery>;
}

/* A fake historiand behind the proxy route. */
function fakeServer(url: string) {
  const u = new URL(url, 'http://grafana');
  const base = '/api/datasources/proxy/uid/hist1/historian';
  if (!u.pathname.startsWith(base)) {
    return { status: 502, data: 'not through the route' };
  }
  const path = u.pathname.slice(base.length);
  if (path === '/api/v1/tags') {
    const prefix = u.searchParams.get('prefix');
    const pattern = u.searchParams.get('pattern');
    let out = TAGS;
    if (prefix !== null) {
      out = TAGS.filter((t) => t.name.startsWith(prefix));
    } else if (pattern !== null) {
      const re = new RegExp('^' + pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*') + '$');
      out = TAGS.filter((t) => re.test(t.name));
    }
    return { status: 200, data: out };
  }
  if (path.startsWith('/api/v1/tags/')) {
    const name = decodeURIComponent(path.slice('/api/v1/tags/'.length));
    const t = TAGS.find((x) => x.name === name);
    return t ? { status: 200, data: t } : { status: 404, data: { error: `unknown tag '${name}'`, param: 'name' } };
  }
  if (path === '/api/v1/query') {
    const tags = u.searchParams.getAll('tag');
    if (u.searchParams.get('tz') === 'Mars/Olympus') {
      return { status: 400, data: { error: 'unknown time zone', param: 'tz' } };
    }
    const rows = tags.flatMap((tag, i) => [
      { time: FROM, tag, value: 10 + i },
      { time: FROM + 60_000, tag, value: 11 + i },
    ]);
    return { status: 200, data: rows };
  }
  return { status: 404, data: { error: 'not found' } };
}

beforeEach(() => {
  runtime.requests = [];
  runtime.vars = {};
  runtime.handler = fakeServer;
});

describe('HistorianDataSource', () => {
  it('queries through the proxy route with the panel width and returns frames with units', async () => {
    const ds = new HistorianDataSource(settings());
    const res = await ds.query(request([{ refId: 'A', tags: ['p/a/l1/temp', 'p/a/l1/flow'], mode: 'plot' }]));
    const q = runtime.requests.find((r) => r.includes('/api/v1/query'))!;
    expect(q.startsWith('/api/datasources/proxy/uid/hist1/historian/api/v1/query?')).toBe(true);
    const p = new URL(q, 'http://x').searchParams;
    expect(p.getAll('tag')).toEqual(['p/a/l1/temp', 'p/a/l1/flow']);
    expect(p.get('points')).toBe('640');
    expect(p.get('from')).toBe(String(FROM));
    expect(p.get('to')).toBe(String(TO));
    expect(res.data).toHaveLength(2);
    const [t, f] = res.data;
    expect(t.name).toBe('p/a/l1/temp');
    expect(t.fields[0].type).toBe(FieldType.time);
    expect(t.fields[1].values).toEqual([10, 11]);
    expect(t.fields[1].config.unit).toBe('celsius');
    expect(f.fields[1].config.unit).toBe('suffix: m3/h');
  });

  it('expands variables (single and multi-value) and skips hidden or empty queries', async () => {
    runtime.vars = { line: 'l2', lines: ['p/a/l1/temp', 'p/a/l2/temp'] };
    const ds = new HistorianDataSource(settings());
    const res = await ds.query(
      request([
        { refId: 'A', tags: ['p/a/$line/temp'], mode: 'interpolated' },
        { refId: 'B', tags: ['$lines'], mode: 'plot' },
        { refId: 'C', tags: ['p/a/l1/temp'], mode: 'plot', hide: true },
        { refId: 'D', tags: [], mode: 'plot' },
      ])
    );
    const queries = runtime.requests.filter((r) => r.includes('/api/v1/query'));
    expect(queries).toHaveLength(2);
    const a = new URL(queries[0], 'http://x').searchParams;
    expect(a.getAll('tag')).toEqual(['p/a/l2/temp']);
    expect(a.get('step')).toBe('1m');
    const b = new URL(queries[1], 'http://x').searchParams;
    expect(b.getAll('tag')).toEqual(['p/a/l1/temp', 'p/a/l2/temp']);
    expect(res.data.map((d) => `${d.refId}:${d.name}`)).toEqual(['A:p/a/l2/temp', 'B:p/a/l1/temp', 'B:p/a/l2/temp']);
  });

  it('calendar buckets default to the dashboard time zone', async () => {
    const ds = new HistorianDataSource(settings());
    await ds.query(
      request([{ refId: 'A', tags: ['p/a/l1/temp'], mode: 'aggregate', aggs: ['twa', 'max'], bucket: 'shift', shifts: '06:00,14:00,22:00' }])
    );
    const p = new URL(runtime.requests.find((r) => r.includes('/api/v1/query'))!, 'http://x').searchParams;
    expect(p.get('tz')).toBe('Europe/Berlin');
    expect(p.get('bucket')).toBe('shift');
    expect(p.get('agg')).toBe('twa,max');
  });

  it("reports historiand's 400 error text", async () => {
    const ds = new HistorianDataSource(settings());
    await expect(
      ds.query(request([{ refId: 'A', tags: ['p/a/l1/temp'], mode: 'aggregate', bucket: 'day', tz: 'Mars/Olympus' }]))
    ).rejects.toThrow('unknown time zone (parameter "tz")');
  });

  it('caches tag metadata', async () => {
    const ds = new HistorianDataSource(settings());
    const r = request([{ refId: 'A', tags: ['p/a/l1/temp'], mode: 'plot' }]);
    await ds.query(r);
    await ds.query(r);
    expect(runtime.requests.filter((x) => x.includes('/api/v1/tags/p/a/l1/temp'))).toHaveLength(1);
    expect(runtime.requests.filter((x) => x.includes('/api/v1/query'))).toHaveLength(2);
  });

  it('metricFindQuery: prefix, glob and children()', async () => {
    runtime.vars = { area: 'a' };
    const ds = new HistorianDataSource(settings());
    expect((await ds.metricFindQuery('p/$area/l1/')).map((v) => v.text)).toEqual(['p/a/l1/temp', 'p/a/l1/flow']);
    expect((await ds.metricFindQuery('p/*/temp')).map((v) => v.text)).toEqual(['p/a/l1/temp', 'p/a/l2/temp']);
    expect((await ds.metricFindQuery({ query: 'children(p/$area)' })).map((v) => v.text)).toEqual(['l1', 'l2']);
    const children = runtime.requests[runtime.requests.length - 1];
    expect(new URL(children, 'http://x').searchParams.get('limit')).toBe('100000');
    expect(new URL(children, 'http://x').searchParams.get('prefix')).toBe('p/a');
  });

  it('testDatasource says how many tags, or why it failed', async () => {
    const ds = new HistorianDataSource(settings());
    const ok = await ds.testDatasource();
    expect(ok.status).toBe('success');
    expect(ok.message).toContain('3 tags');
    runtime.handler = () => ({ status: 401, data: { error: 'missing or invalid token' } });
    const bad = await ds.testDatasource();
    expect(bad.status).toBe('error');
    expect(bad.message).toContain('missing or invalid token');
  });

  it('falls back to the proxy URL from the uid', () => {
    const s = settings();
    s.url = undefined;
    expect(new HistorianDataSource(s).baseUrl).toBe('/api/datasources/proxy/uid/hist1/historian');
  });
});
