// report.js: the report view: aggregates per calendar bucket (hour, shift,
// day, week, month) in a time zone, as a table of the API's answer (times
// as the API writes them, with the zone's offset; values as it sends
// them), and the API's own CSV answer as a download.
import {get} from './api.js';

export const AGGS = [
  'mean', 'min', 'max', 'twa', 'count', 'first', 'last', 'sum', 'stddev', 'range', 'integral', 'delta',
  'duration_true'
];

// The query of a report: the parameters the table and the CSV share.
export function reportParams({tags, from, to, bucket, tz, agg}) {
  const q = new URLSearchParams({
    mode: 'aggregate',
    agg: agg.join(','),
    bucket,
    tz,
    from: String(from),
    to: String(to),
    time_format: 'rfc3339'
  });
  for (const t of tags) q.append('tag', t);
  return q;
}

export async function showReport(table, settings) {
  const head = table.tHead;
  const body = table.tBodies[0];
  if (!settings.tags.length) {
    head.replaceChildren();
    body.replaceChildren();
    return;
  }
  const rows = await (await get('api/v1/query', reportParams(settings))).json();
  const tr = document.createElement('tr');
  for (const [text, cls] of [['Time', 't'], ['Tag', 't'], ...settings.agg.map((a) => [a, ''])]) {
    const th = document.createElement('th');
    th.textContent = text;
    th.className = cls;
    tr.append(th);
  }
  head.replaceChildren(tr);
  const out = document.createDocumentFragment();
  for (const r of rows) {
    const row = document.createElement('tr');
    row.append(cell(r.time, 't'), cell(r.tag, 't'));
    for (const a of settings.agg) row.append(cell(r[a] == null ? '' : String(r[a]), ''));
    out.append(row);
  }
  body.replaceChildren(out);
}

function cell(text, cls) {
  const td = document.createElement('td');
  td.textContent = text;
  td.className = cls;
  return td;
}

// The same request as CSV (the API's answer, unchanged), saved as a file.
export async function downloadCsv(settings) {
  const q = reportParams(settings);
  q.set('format', 'csv');
  const text = await (await get('api/v1/query', q)).text();
  const url = URL.createObjectURL(new Blob([text], {type: 'text/csv'}));
  const a = document.createElement('a');
  a.href = url;
  a.download = `historian-report-${settings.bucket}.csv`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
