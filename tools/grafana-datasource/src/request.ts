/*
 * request.ts: the pure half of the datasource, kept free of @grafana/runtime
 * so unit tests run in plain Node.
 *
 *   buildQueryParams  HistorianQuery + time range + panel size -> the query
 *                     string of GET /api/v1/query
 *   rowsToFrames      the flat JSON rows historiand returns -> one DataFrame
 *                     per tag (time field + one number field per value or
 *                     aggregate), with the tag's engineering unit on the
 *                     fields' config
 *   toGrafanaUnit     engineering unit text ("°C", "m3/h") -> a Grafana unit id
 *   parseVariableQuery / the metricFindQuery syntax
 */
import { createDataFrame, DataFrame, Field, FieldType } from '@grafana/data';

import { HistorianQuery, QueryRow, TagInfo } from './types';

/* What buildQueryParams needs from a DataQueryRequest. */
export interface RequestContext {
  fromMs: number;
  toMs: number;
  /* the panel's suggested interval (DataQueryRequest.intervalMs) */
  intervalMs?: number;
  /* the panel's width in points (DataQueryRequest.maxDataPoints) */
  maxDataPoints?: number;
  /* the dashboard's time zone: 'browser', 'utc' or an IANA name */
  timezone?: string;
  /* replaces template variables in a string (getTemplateSrv().replace) */
  interpolate?: (text: string) => string;
  /* expands a multi-value variable to its values (tags only) */
  interpolateTags?: (text: string) => string[];
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/* A duration in ms written in the largest unit that divides it exactly:
 * 60000 -> "1m", 90000 -> "90s", 1500 -> "1500ms". historiand accepts
 * ms, s, m, h, d suffixes. */
export function formatDuration(ms: number): string {
  const n = Math.max(1, Math.round(ms));
  if (n % DAY === 0) {
    return `${n / DAY}d`;
  }
  if (n % HOUR === 0) {
    return `${n / HOUR}h`;
  }
  if (n % MINUTE === 0) {
    return `${n / MINUTE}m`;
  }
  if (n % 1000 === 0) {
    return `${n / 1000}s`;
  }
  return `${n}ms`;
}

/* The IANA zone to send for calendar buckets. */
export function resolveTimeZone(queryTz: string | undefined, dashboardTz: string | undefined): string {
  const tz = (queryTz ?? '').trim();
  if (tz !== '') {
    return tz;
  }
  if (!dashboardTz || dashboardTz === 'browser') {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  }
  if (dashboardTz === 'utc') {
    return 'UTC';
  }
  return dashboardTz;
}

export function isGlob(name: string): boolean {
  return /[*?]/.test(name);
}

/* The tags a query names after template variables are expanded; a
 * multi-value variable ($tags = {a,b}) gives several tags. Empty names and
 * duplicates are dropped, order kept. */
export function expandTags(query: HistorianQuery, ctx: RequestContext): string[] {
  const out: string[] = [];
  for (const raw of query.tags ?? []) {
    let names: string[];
    if (ctx.interpolateTags) {
      names = ctx.interpolateTags(raw);
    } else if (ctx.interpolate) {
      names = [ctx.interpolate(raw)];
    } else {
      names = [raw];
    }
    for (const name of names) {
      const t = name.trim();
      if (t !== '' && !out.includes(t)) {
        out.push(t);
      }
    }
  }
  return out;
}

/* The query string of GET /api/v1/query for one HistorianQuery.
 * Throws an Error with a readable message when the query cannot be sent. */
export function buildQueryParams(query: HistorianQuery, ctx: RequestContext): URLSearchParams {
  const interp = ctx.interpolate ?? ((s: string) => s);
  const tags = expandTags(query, ctx);
  if (tags.length === 0) {
    throw new Error('no tag selected');
  }
  const p = new URLSearchParams();
  /* a name with * or ? is a glob: historiand's pattern= ('*' inside one
   * segment, '**' any depth) */
  for (const t of tags) {
    p.append(isGlob(t) ? 'pattern' : 'tag', t);
  }
  p.set('from', String(Math.floor(ctx.fromMs)));
  p.set('to', String(Math.ceil(ctx.toMs)));
  const mode = query.mode ?? 'plot';
  p.set('mode', mode);

  const step = interp(query.step ?? '').trim();
  const autoStep = () => formatDuration(ctx.intervalMs && ctx.intervalMs > 0 ? ctx.intervalMs : MINUTE);

  switch (mode) {
    case 'plot': {
      const points = query.points && query.points > 0 ? query.points : ctx.maxDataPoints;
      p.set('points', String(Math.max(1, Math.round(points && points > 0 ? points : 1000))));
      p.set('boundary', query.boundary ?? 'outside');
      break;
    }
    case 'raw':
      if (query.limit && query.limit > 0) {
        p.set('limit', String(Math.round(query.limit)));
      }
      p.set('boundary', query.boundary ?? 'outside');
      break;
    case 'interpolated':
      p.set('step', step !== '' ? step : autoStep());
      break;
    case 'aggregate': {
      const aggs = (query.aggs ?? []).map((a) => interp(a).trim()).filter((a) => a !== '');
      p.set('agg', (aggs.length > 0 ? aggs : ['twa']).join(','));
      const bucket = query.bucket ?? 'fixed';
      if (bucket === 'fixed') {
        p.set('step', step !== '' ? step : autoStep());
      } else {
        p.set('bucket', bucket);
        p.set('tz', resolveTimeZone(interp(query.tz ?? ''), ctx.timezone));
        if (bucket === 'shift') {
          /* empty: historiand's default shifts, 06:00,14:00,22:00 */
          const shifts = interp(query.shifts ?? '').replace(/\s+/g, '');
          if (shifts !== '') {
            p.set('shifts', shifts);
          }
        }
      }
      if (query.fill) {
        p.set('fill', query.fill);
      }
      break;
    }
    default:
      throw new Error(`unknown mode "${mode}"`);
  }
  if (mode === 'interpolated' && query.fill) {
    p.set('fill', query.fill);
  }
  return p;
}

/* Engineering units as plants write them -> Grafana unit ids. Anything not
 * listed is shown as a suffix ("suffix: m3/h"), which Grafana supports for
 * any text. */
const UNIT_MAP: Record<string, string> = {
  '°c': 'celsius',
  degc: 'celsius',
  c: 'celsius',
  '°f': 'fahrenheit',
  degf: 'fahrenheit',
  k: 'kelvin',
  '%': 'percent',
  pct: 'percent',
  bar: 'pressurebar',
  mbar: 'pressurembar',
  pa: 'pressurepa',
  hpa: 'pressurehpa',
  kpa: 'pressurekpa',
  psi: 'pressurepsi',
  w: 'watt',
  kw: 'kwatt',
  mw: 'megwatt',
  wh: 'watth',
  kwh: 'kwatth',
  mwh: 'mwatth',
  v: 'volt',
  kv: 'kvolt',
  a: 'amp',
  ma: 'mamp',
  hz: 'hertz',
  rpm: 'rotrpm',
  'm3/s': 'flowcms',
  'l/min': 'flowlpm',
  'l/h': 'litreh',
  m3: 'm3',
  l: 'litre',
  kg: 'masskg',
  t: 'masst',
  g: 'massg',
  m: 'lengthm',
  mm: 'lengthmm',
  km: 'lengthkm',
  s: 's',
  ms: 'ms',
  h: 'h',
  'm/s': 'velocityms',
  'km/h': 'velocitykmh',
  ppm: 'ppm',
  lux: 'lux',
};

export function toGrafanaUnit(unit: string | undefined): string | undefined {
  const u = (unit ?? '').trim();
  if (u === '') {
    return undefined;
  }
  return UNIT_MAP[u.toLowerCase()] ?? `suffix: ${u}`;
}

/* Aggregates whose unit is not the tag's own unit. */
function unitForColumn(column: string, tagUnit: string | undefined): string | undefined {
  switch (column) {
    case 'count':
    case 'changes':
        return 'none';
    case 'duration_true':
      return 's';
    case 'pct_good':
        return 'percent';
    case 'time_min':
    case 'time_max':
        return 'dateTimeAsIso'; /* epoch ms, written as a date */
    case 'integral':
      /* value * seconds: a flow in m3/h integrates to something the tag's
       * unit does not name; leave it unit-less rather than lie. */
      return undefined;
    default:
        return column.startsWith('time_in_state:') ? 's' : toGrafanaUnit(tagUnit);
  }
}

function toMs(t: unknown): number | null {
  if (typeof t === 'number' && Number.isFinite(t)) {
    return t;
  }
  if (typeof t === 'string' && t !== '') {
    const n = Number(t);
    if (Number.isFinite(n)) {
      return n;
    }
    const d = Date.parse(t);
    return Number.isNaN(d) ? null : d;
  }
  return null;
}

function toNumber(v: unknown): number | null {
  if (typeof v === 'number') {
    return Number.isFinite(v) ? v : null;
  }
  if (typeof v === 'boolean') {
    return v ? 1 : 0;
  }
  if (typeof v === 'string' && v !== '') {
    const n = Number(v);
    return Number.isFinite(n) ? n : null;
  }
  return null;
}

/* Row fields that are not value columns. */
const META_FIELDS = new Set(['time', 'tag', 'time_end', 'end', 'quality']);

/* The value columns of a query's response, in the order the query asked:
 * aggregate mode -> the aggregate names; else "value". Columns the server
 * sends that the query did not name are appended (newer servers). */
function valueColumns(query: HistorianQuery, rows: QueryRow[]): string[] {
  const cols: string[] = [];
  if (query.mode === 'aggregate') {
    for (const a of query.aggs && query.aggs.length > 0 ? query.aggs : ['twa']) {
      if (!cols.includes(a)) {
        cols.push(a);
      }
    }
  } else {
    cols.push('value');
  }
  for (const r of rows.slice(0, 16)) {
    for (const k of Object.keys(r)) {
      if (!META_FIELDS.has(k) && !cols.includes(k)) {
        cols.push(k);
      }
    }
  }
  return cols;
}

/* Flat rows -> one frame per tag, tags in the order the query listed them
 * (then any the server added). Rows need not be sorted; each frame is. */
export function rowsToFrames(
  rows: QueryRow[],
  query: HistorianQuery,
  tagInfo: Map<string, TagInfo> = new Map(),
  order: string[] = []
): DataFrame[] {
  if (!Array.isArray(rows)) {
    throw new Error('historiand answered with something other than a JSON array of rows');
  }
  const byTag = new Map<string, QueryRow[]>();
  for (const t of order) {
    byTag.set(t, []);
  }
  for (const r of rows) {
    if (r === null || typeof r !== 'object') {
      continue;
    }
    const tag = String(r.tag ?? '');
    let list = byTag.get(tag);
    if (!list) {
      list = [];
      byTag.set(tag, list);
    }
    list.push(r);
  }
  const cols = valueColumns(query, rows);
  const single = cols.length === 1;
  const frames: DataFrame[] = [];
  for (const [tag, list] of byTag) {
    const sorted = list
      .map((r) => ({ r, t: toMs(r.time) }))
      .filter((x): x is { r: QueryRow; t: number } => x.t !== null)
      .sort((a, b) => a.t - b.t);
    const info = tagInfo.get(tag);
    const fields: Array<Partial<Field> & { name: string }> = [
      { name: 'time', type: FieldType.time, values: sorted.map((x) => x.t), config: {} },
    ];
    for (const c of cols) {
      const unit = unitForColumn(c, info?.unit);
      const display = single ? tag : `${tag} ${c}`;
      fields.push({
        name: display,
        type: FieldType.number,
        values: sorted.map((x) => toNumber(x.r[c])),
        labels: { tag },
        config: {
          displayNameFromDS: display,
          ...(unit ? { unit } : {}),
          ...(info?.description ? { description: info.description } : {}),
        },
      });
    }
    const frame = createDataFrame({ name: tag, refId: query.refId, fields });
    frames.push(frame);
  }
  return frames;
}

/* metricFindQuery syntax (the "Query" of a template variable):
 *   children(site/area/)   the distinct next path segments below a prefix
 *   site/area/*            tags matching a glob (server-side ?pattern=)
 *   site/area/             tags whose name starts with the text (?prefix=)
 *   (empty)                every tag */
export type VariableQuery =
  | { kind: 'children'; prefix: string }
  | { kind: 'pattern'; pattern: string }
  | { kind: 'prefix'; prefix: string };

export function parseVariableQuery(text: string): VariableQuery {
  const q = text.trim();
  const m = /^children\((.*)\)$/.exec(q);
  if (m) {
    return { kind: 'children', prefix: m[1].trim() };
  }
  if (/[*?]/.test(q)) {
    return { kind: 'pattern', pattern: q };
  }
  return { kind: 'prefix', prefix: q };
}

/* The distinct next segments below prefix: for prefix "p/a" or "p/a/" and
 * tags p/a/l1/x, p/a/l2/y -> ["l1", "l2"]. */
export function childSegments(names: string[], prefix: string): string[] {
  const base = prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`;
  const seen = new Set<string>();
  for (const n of names) {
    if (!n.startsWith(base)) {
      continue;
    }
    const rest = n.slice(base.length);
    const seg = rest.split('/')[0];
    if (seg !== '') {
      seen.add(seg);
    }
  }
  return Array.from(seen).sort();
}

/* The error text of a historiand 400 body {"error": "...", "param": "..."}. */
export function errorText(body: unknown, status?: number): string {
  if (body && typeof body === 'object') {
    const b = body as { error?: unknown; param?: unknown };
    if (typeof b.error === 'string') {
      return typeof b.param === 'string' && b.param !== '' ? `${b.error} (parameter "${b.param}")` : b.error;
    }
  }
  if (typeof body === 'string' && body !== '') {
    return body;
  }
  return status ? `historiand answered HTTP ${status}` : 'historiand request failed';
}
