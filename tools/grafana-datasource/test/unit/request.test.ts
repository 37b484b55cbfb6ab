// Unit tests of request.ts: query string building, units, rows -> frames,
// the variable query syntax. No Grafana server, no network.
import { FieldType } from '@grafana/data';
import { describe, expect, it } from 'vitest';

import {
  buildQueryParams,
  childSegments,
  errorText,
  formatDuration,
  parseVariableQuery,
  resolveTimeZone,
  rowsToFrames,
  toGrafanaUnit,
} from '../../src/request';
import { HistorianQuery, TagInfo } from '../../src/types';

const FROM = 1_700_000_000_000;
const TO = FROM + 3_600_000;

function q(patch: Partial<HistorianQuery>): HistorianQuery {
  return { refId: 'A', tags: ['p/a/l1/temp'], mode: 'plot', ...patch };
}

describe('formatDuration', () => {
  it('uses the largest exact unit', () => {
    expect(formatDuration(60_000)).toBe('1m');
    expect(formatDuration(90_000)).toBe('90s');
    expect(formatDuration(3_600_000)).toBe('1h');
    expect(formatDuration(86_400_000 * 2)).toBe('2d');
    expect(formatDuration(1500)).toBe('1500ms');
    expect(formatDuration(0)).toBe('1ms');
  });
});

describe('buildQueryParams', () => {
  it('plot takes points from the panel width', () => {
    const p = buildQueryParams(q({}), { fromMs: FROM, toMs: TO, maxDataPoints: 873 });
    expect(p.getAll('tag')).toEqual(['p/a/l1/temp']);
    expect(p.get('from')).toBe(String(FROM));
    expect(p.get('to')).toBe(String(TO));
    expect(p.get('mode')).toBe('plot');
    expect(p.get('points')).toBe('873');
    expect(p.has('step')).toBe(false);
    expect(p.get('boundary')).toBe('outside');
  });

  it('boundary: outside by default for plot and raw, as chosen, never for the other modes', () => {
    const ctx = { fromMs: FROM, toMs: TO, intervalMs: 60_000 };
    expect(buildQueryParams(q({ mode: 'raw' }), ctx).get('boundary')).toBe('outside');
    expect(buildQueryParams(q({ mode: 'raw', boundary: 'inside' }), ctx).get('boundary')).toBe('inside');
    expect(buildQueryParams(q({ boundary: 'inside' }), ctx).get('boundary')).toBe('inside');
    expect(buildQueryParams(q({ mode: 'interpolated', boundary: 'outside' }), ctx).has('boundary')).toBe(false);
    expect(buildQueryParams(q({ mode: 'aggregate', boundary: 'outside' }), ctx).has('boundary')).toBe(false);
  });

  it('plot points given in the query win over the panel width', () => {
    const p = buildQueryParams(q({ points: 200 }), { fromMs: FROM, toMs: TO, maxDataPoints: 873 });
    expect(p.get('points')).toBe('200');
  });

  it('several tags repeat the tag parameter, in order, without duplicates', () => {
    const p = buildQueryParams(q({ tags: ['b', 'a', 'b'] }), { fromMs: FROM, toMs: TO });
    expect(p.getAll('tag')).toEqual(['b', 'a']);
    expect(p.toString()).toContain('tag=b&tag=a');
  });

  it('interpolated uses the panel interval when no step is given', () => {
    const p = buildQueryParams(q({ mode: 'interpolated' }), { fromMs: FROM, toMs: TO, intervalMs: 30_000 });
    expect(p.get('step')).toBe('30s');
    const p2 = buildQueryParams(q({ mode: 'interpolated', step: '5m' }), { fromMs: FROM, toMs: TO, intervalMs: 30_000 });
    expect(p2.get('step')).toBe('5m');
  });

  it('aggregate with a fixed step sends agg and step, no bucket', () => {
    const p = buildQueryParams(q({ mode: 'aggregate', aggs: ['twa', 'min', 'max'], bucket: 'fixed', fill: 'null' }), {
      fromMs: FROM,
      toMs: TO,
      intervalMs: 60_000,
    });
    expect(p.get('agg')).toBe('twa,min,max');
    expect(p.get('step')).toBe('1m');
    expect(p.has('bucket')).toBe(false);
    expect(p.get('fill')).toBe('null');
  });

  it('calendar shift buckets send bucket, tz and shift starts', () => {
    const p = buildQueryParams(
      q({ mode: 'aggregate', aggs: ['twa'], bucket: 'shift', tz: 'Europe/Berlin', shifts: '06:00, 14:00, 22:00' }),
      { fromMs: FROM, toMs: TO, timezone: 'utc' }
    );
    expect(p.get('bucket')).toBe('shift');
    expect(p.get('tz')).toBe('Europe/Berlin');
    expect(p.get('shifts')).toBe('06:00,14:00,22:00');
    expect(p.has('step')).toBe(false);
  });

  it('calendar buckets fall back to the dashboard time zone', () => {
    const p = buildQueryParams(q({ mode: 'aggregate', bucket: 'day' }), {
      fromMs: FROM,
      toMs: TO,
      timezone: 'America/Chicago',
    });
    expect(p.get('tz')).toBe('America/Chicago');
    expect(p.get('agg')).toBe('twa');
    expect(resolveTimeZone('', 'utc')).toBe('UTC');
    expect(resolveTimeZone(undefined, 'browser')).toBe(Intl.DateTimeFormat().resolvedOptions().timeZone);
  });

  it("shift buckets without shift starts leave them to historiand's default", () => {
    const p = buildQueryParams(q({ mode: 'aggregate', bucket: 'shift', shifts: ' ' }), { fromMs: FROM, toMs: TO });
    expect(p.get('bucket')).toBe('shift');
    expect(p.has('shifts')).toBe(false);
  });

  it('globs go out as pattern=, names as tag=', () => {
    const p = buildQueryParams(q({ tags: ['s1/a1/l1/**', 'x/y', 's1/*/l1/c1/temp'] }), { fromMs: FROM, toMs: TO });
    expect(p.getAll('pattern')).toEqual(['s1/a1/l1/**', 's1/*/l1/c1/temp']);
    expect(p.getAll('tag')).toEqual(['x/y']);
  });

  it('refuses queries without tags and unknown modes', () => {
    expect(() => buildQueryParams(q({ tags: [] }), { fromMs: FROM, toMs: TO })).toThrow(/no tag/);
    expect(() => buildQueryParams(q({ tags: ['  '] }), { fromMs: FROM, toMs: TO })).toThrow(/no tag/);
    expect(() =>
      buildQueryParams(q({ mode: 'bogus' as HistorianQuery['mode'] }), { fromMs: FROM, toMs: TO })
    ).toThrow(/unknown mode/);
  });

  it('interpolates template variables in tags, step, tz and shifts', () => {
    const vars: Record<string, string> = { $line: 'l2', $step: '15m', $zone: 'Asia/Tokyo', $shifts: '07:00,19:00' };
    const interpolate = (s: string) => s.replace(/\$\w+/g, (m) => vars[m] ?? m);
    const p = buildQueryParams(
      q({ tags: ['p/a/$line/temp'], mode: 'aggregate', bucket: 'shift', tz: '$zone', shifts: '$shifts', aggs: ['max'] }),
      { fromMs: FROM, toMs: TO, interpolate }
    );
    expect(p.getAll('tag')).toEqual(['p/a/l2/temp']);
    expect(p.get('tz')).toBe('Asia/Tokyo');
    expect(p.get('shifts')).toBe('07:00,19:00');
    const p2 = buildQueryParams(q({ mode: 'interpolated', step: '$step' }), { fromMs: FROM, toMs: TO, interpolate });
    expect(p2.get('step')).toBe('15m');
  });

  it('a multi-value variable expands to several tags', () => {
    const interpolateTags = (s: string) => (s === '$tags' ? ['x/1', 'x/2'] : [s]);
    const p = buildQueryParams(q({ tags: ['$tags', 'x/3'] }), { fromMs: FROM, toMs: TO, interpolateTags });
    expect(p.getAll('tag')).toEqual(['x/1', 'x/2', 'x/3']);
  });

  it('raw sends a limit only when set', () => {
    expect(buildQueryParams(q({ mode: 'raw' }), { fromMs: FROM, toMs: TO }).has('limit')).toBe(false);
    expect(buildQueryParams(q({ mode: 'raw', limit: 500 }), { fromMs: FROM, toMs: TO }).get('limit')).toBe('500');
  });
});

describe('toGrafanaUnit', () => {
  it('maps known units and falls back to a suffix', () => {
    expect(toGrafanaUnit('°C')).toBe('celsius');
    expect(toGrafanaUnit('bar')).toBe('pressurebar');
    expect(toGrafanaUnit('%')).toBe('percent');
    expect(toGrafanaUnit('kW')).toBe('kwatt');
    expect(toGrafanaUnit('m3/h')).toBe('suffix: m3/h');
    expect(toGrafanaUnit('')).toBeUndefined();
    expect(toGrafanaUnit(undefined)).toBeUndefined();
  });
});

describe('rowsToFrames', () => {
  const info = new Map<string, TagInfo>([
    ['p/a/l1/temp', { name: 'p/a/l1/temp', unit: '°C', description: 'reactor temperature' }],
    ['p/a/l1/flow', { name: 'p/a/l1/flow', unit: 'm3/h' }],
  ]);

  it('one frame per tag, time + value, sorted, with the unit', () => {
    const rows = [
      { time: FROM + 2000, tag: 'p/a/l1/temp', value: 21.5 },
      { time: FROM, tag: 'p/a/l1/temp', value: 20 },
      { time: FROM, tag: 'p/a/l1/flow', value: 3 },
      { time: FROM + 1000, tag: 'p/a/l1/temp', value: null },
    ];
    const frames = rowsToFrames(rows, q({ tags: ['p/a/l1/temp', 'p/a/l1/flow'] }), info, ['p/a/l1/temp', 'p/a/l1/flow']);
    expect(frames).toHaveLength(2);
    const [t, f] = frames;
    expect(t.name).toBe('p/a/l1/temp');
    expect(t.refId).toBe('A');
    expect(t.length).toBe(3);
    expect(t.fields[0].type).toBe(FieldType.time);
    expect(t.fields[0].values).toEqual([FROM, FROM + 1000, FROM + 2000]);
    expect(t.fields[1].type).toBe(FieldType.number);
    expect(t.fields[1].values).toEqual([20, null, 21.5]);
    expect(t.fields[1].config.unit).toBe('celsius');
    expect(t.fields[1].config.description).toBe('reactor temperature');
    expect(t.fields[1].config.displayNameFromDS).toBe('p/a/l1/temp');
    expect(t.fields[1].labels).toEqual({ tag: 'p/a/l1/temp' });
    expect(f.fields[1].config.unit).toBe('suffix: m3/h');
    expect(f.fields[1].values).toEqual([3]);
  });

  it('aggregate rows give one field per aggregate, in query order', () => {
    const rows = [
      { time: FROM, tag: 'p/a/l1/temp', max: 25, twa: 22.25, count: 3600 },
      { time: FROM + 3_600_000, tag: 'p/a/l1/temp', max: null, twa: null, count: 0 },
    ];
    const frames = rowsToFrames(rows, q({ mode: 'aggregate', aggs: ['twa', 'max', 'count'] }), info);
    expect(frames).toHaveLength(1);
    const names = frames[0].fields.map((x) => x.name);
    expect(names).toEqual(['time', 'p/a/l1/temp twa', 'p/a/l1/temp max', 'p/a/l1/temp count']);
    expect(frames[0].fields[1].values).toEqual([22.25, null]);
    expect(frames[0].fields[1].config.unit).toBe('celsius');
    expect(frames[0].fields[3].config.unit).toBe('none');
  });

  it('a tag with no rows still gets an empty frame; bools become 0/1; bad times are dropped', () => {
    const rows = [
      { time: String(FROM), tag: 'p/a/l1/run', value: true },
      { time: FROM + 1, tag: 'p/a/l1/run', value: false },
      { time: 'garbage', tag: 'p/a/l1/run', value: true },
    ];
    const frames = rowsToFrames(rows, q({ tags: ['p/a/l1/run', 'p/a/l1/none'] }), new Map(), ['p/a/l1/run', 'p/a/l1/none']);
    expect(frames.map((f) => f.name)).toEqual(['p/a/l1/run', 'p/a/l1/none']);
    expect(frames[0].fields[1].values).toEqual([1, 0]);
    expect(frames[0].fields[0].values).toEqual([FROM, FROM + 1]);
    expect(frames[1].length).toBe(0);
  });

  it('refuses a body that is not an array', () => {
    expect(() => rowsToFrames({ error: 'x' } as never, q({}))).toThrow(/JSON array/);
  });
});

describe('variables and errors', () => {
  it('parses the variable query syntax', () => {
    expect(parseVariableQuery('children(p/a/)')).toEqual({ kind: 'children', prefix: 'p/a/' });
    expect(parseVariableQuery(' p/*/l1/temp ')).toEqual({ kind: 'pattern', pattern: 'p/*/l1/temp' });
    expect(parseVariableQuery('p/a/')).toEqual({ kind: 'prefix', prefix: 'p/a/' });
    expect(parseVariableQuery('')).toEqual({ kind: 'prefix', prefix: '' });
  });

  it('lists child segments below a prefix', () => {
    const names = ['p/a/l1/x', 'p/a/l2/y', 'p/a/l1/z', 'p/b/l9/q', 'p/ab/l7'];
    expect(childSegments(names, 'p/a')).toEqual(['l1', 'l2']);
    expect(childSegments(names, 'p/a/')).toEqual(['l1', 'l2']);
    expect(childSegments(names, '')).toEqual(['p']);
  });

  it('turns historiand error bodies into text', () => {
    expect(errorText({ error: 'unknown time zone', param: 'tz' })).toBe('unknown time zone (parameter "tz")');
    expect(errorText({ error: 'bad' })).toBe('bad');
    expect(errorText(undefined, 502)).toBe('historiand answered HTTP 502');
  });
});
