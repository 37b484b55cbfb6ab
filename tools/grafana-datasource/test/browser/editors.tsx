/*
 * editors.tsx: the page the browser test (editors.mjs) opens: the plugin's
 * query editor and config editor, rendered with the real @grafana/ui and
 * React in Chromium, the way a Grafana panel editor and datasource settings
 * page hold them (the component keeps no state of its own: each onChange
 * gives the new query, which is rendered again).
 *
 * What the test reads back, on window:
 *   __query       the latest query the editor produced (onChange);
 *   __runs        how many times it asked to run the query (onRunQuery);
 *   __params      the GET /api/v1/query string buildQueryParams() makes of
 *                 __query for a fixed panel (the request Grafana would send);
 *   __options     the latest datasource settings the config editor produced;
 *   __tagSearches the texts the tag picker searched for.
 * The tag picker's datasource is a stand-in with a fixed namespace: the
 * editor only calls searchTags() on it.
 */
import * as React from 'react';
import { createRoot } from 'react-dom/client';

import { ConfigEditor } from '../../src/ConfigEditor';
import { QueryEditor } from '../../src/QueryEditor';
import { buildQueryParams } from '../../src/request';
import { HistorianOptions, HistorianQuery, TagInfo } from '../../src/types';

declare global {
  interface Window {
    __query: HistorianQuery;
    __runs: number;
    __params: () => string;
    __options: unknown;
    __tagSearches: string[];
  }
}

const NAMESPACE: TagInfo[] = [
  { name: 'plant/area1/line1/temp', type: 'float64', unit: '°C', description: 'line 1 temperature' },
  { name: 'plant/area1/line1/flow', type: 'float64', unit: 'm3/h', description: 'line 1 flow' },
  { name: 'plant/area1/line2/state', type: 'int64', unit: '', description: 'machine state' },
] as TagInfo[];

const fakeDatasource = {
  searchTags: async (text: string) => {
    window.__tagSearches.push(text);
    return NAMESPACE.filter((t) => t.name.startsWith(text) || t.name.includes(text));
  },
};

/* A panel of 2026-01-05 00:00..06:00 UTC, 600 px, 1 min interval. */
const PANEL = { fromMs: Date.UTC(2026, 0, 5), toMs: Date.UTC(2026, 0, 5, 6), maxDataPoints: 600, intervalMs: 60_000, timezone: 'utc' };

function QueryHost() {
  const [query, setQuery] = React.useState<HistorianQuery>({ refId: 'A', tags: [], mode: 'plot' } as HistorianQuery);
  window.__query = query;
  const onChange = (q: HistorianQuery) => {
    window.__query = q;
    setQuery(q);
  };
  return (
    <QueryEditor
      query={query}
      onChange={onChange}
      onRunQuery={() => (window.__runs += 1)}
      datasource={fakeDatasource as never}
    />
  );
}

function ConfigHost() {
  const [options, setOptions] = React.useState({
    id: 1,
    uid: 'h',
    name: 'Historian',
    type: 'historian-datasource',
    jsonData: {} as HistorianOptions,
    secureJsonFields: {},
    secureJsonData: {},
  } as never);
  return (
    <ConfigEditor
      options={options}
      onOptionsChange={(o) => {
        window.__options = o;
        setOptions(o as never);
      }}
    />
  );
}

window.__runs = 0;
window.__tagSearches = [];
window.__params = () => buildQueryParams(window.__query, PANEL).toString();
createRoot(document.getElementById('query')!).render(<QueryHost />);
createRoot(document.getElementById('config')!).render(<ConfigHost />);
