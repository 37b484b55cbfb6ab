/*
 * types.ts: the query model and settings of the Historian datasource.
 *
 * A HistorianQuery is what a panel stores in its dashboard JSON; it maps 1:1
 * onto the query string of historiand's GET /api/v1/query (see
 * buildQueryParams in request.ts). Settings: the historiand URL lives in
 * jsonData (the proxy route in plugin.json reads it), the read token in
 * secureJsonData (never sent to the browser; the Grafana server adds it as
 * an Authorization header when it proxies the request).
 */
import { DataQuery, DataSourceJsonData } from '@grafana/data';

export type HistorianMode = 'plot' | 'raw' | 'aggregate' | 'interpolated';

/* Bucket kinds of aggregate mode: 'fixed' = a step (auto or given). */
export type HistorianBucket = 'fixed' | 'hour' | 'day' | 'week' | 'month' | 'shift';

export type HistorianFill = 'none' | 'null' | 'previous' | 'linear';
/* plot and raw: 'outside' (the default) also fetches the last sample before
 * the panel's range and the first after it, so a value that last changed
 * before the range still draws across it; 'inside' only the range. */
export type HistorianBoundary = 'inside' | 'outside';

export const AGGREGATES = [
    'twa',
    'mean',
    'min',
    'max',
    'first',
    'last',
    'count',
    'sum',
    'stddev',
    'range',
    'integral',
    'delta',
    'duration_true',
    /* summaries (docs/api.md, "Aggregates"); time_in_state:N and
     * percentile:N take an argument and are typed in as custom values */
    'pct_good',
    'time_min',
    'time_max',
    'changes',
    'p50',
    'p90',
    'p95',
    'p99',
] as const;

export interface HistorianQuery extends DataQuery {
  /* Tag names (unified-namespace paths); may hold template variables. */
  tags: string[];
  mode: HistorianMode;
  /* aggregate: the aggregates, in column order. */
  aggs?: string[];
  /* interpolated / aggregate with bucket 'fixed': a duration such as "1m";
   * empty = auto from the panel's interval. */
  step?: string;
  /* plot: points across the panel; 0/empty = the panel width (maxDataPoints). */
  points?: number;
  /* raw: at most this many samples per tag (0 = the server's default). */
  limit?: number;
  bucket?: HistorianBucket;
  /* IANA time zone for calendar buckets; empty = the dashboard's zone. */
  tz?: string;
  /* shift starts, local time, comma separated: "06:00,14:00,22:00". */
  shifts?: string;
  fill?: HistorianFill;
  boundary?: HistorianBoundary;
}

export const DEFAULT_QUERY: Partial<HistorianQuery> = {
  tags: [],
  mode: 'plot',
  aggs: ['twa'],
  bucket: 'fixed',
  fill: 'null',
};

export interface HistorianOptions extends DataSourceJsonData {
  /* historiand base URL as the Grafana server sees it: http://host:9460 */
  url?: string;
}

export interface HistorianSecureOptions {
  /* read token; sent as "Authorization: Bearer <token>" by the proxy route. */
  token?: string;
}

/* One element of GET /api/v1/tags. */
export interface TagInfo {
  name: string;
  id?: number;
  type?: string;
  unit?: string;
  description?: string;
  deadband?: number;
  created?: number | string;
}

/* One row of GET /api/v1/query (JSON): time in epoch ms, the tag, and either
 * "value" or one field per aggregate. Other fields (quality, time_end) are
 * carried through when numeric. */
export type QueryRow = { time: number | string; tag: string } & Record<string, unknown>;
