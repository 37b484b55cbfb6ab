/*
 * datasource.ts: the Historian datasource (frontend only).
 *
 * Every request goes through Grafana's datasource proxy:
 *   browser -> /api/datasources/proxy/uid/<uid>/historian/<path>
 *   Grafana -> <jsonData.url>/<path> + "Authorization: Bearer <token>"
 * The route "historian" is declared in plugin.json; the Grafana server fills
 * in the URL from jsonData and the header from secureJsonData, so the read
 * token never reaches the browser. A frontend-only plugin has no other way
 * to use secureJsonData.
 *
 * query(): one GET /api/v1/query per panel query (request.ts builds it),
 * the rows become one frame per tag; tag metadata (unit, description) comes
 * from GET /api/v1/tags and is cached for a few minutes.
 */
import {
  DataFrame,
  DataQueryRequest,
  DataQueryResponse,
  DataSourceApi,
  DataSourceInstanceSettings,
  MetricFindValue,
  ScopedVars,
  TestDataSourceResponse,
} from '@grafana/data';
import { getBackendSrv, getTemplateSrv } from '@grafana/runtime';

import { buildQueryParams, childSegments, errorText, parseVariableQuery, rowsToFrames } from './request';
import { DEFAULT_QUERY, HistorianOptions, HistorianQuery, QueryRow, TagInfo } from './types';

/* Name of the proxy route in plugin.json. */
export const ROUTE = 'historian';

const TAG_CACHE_MS = 5 * 60_000;

interface FetchResult {
  status: number;
  data: unknown;
}

export class HistorianDataSource extends DataSourceApi<HistorianQuery, HistorianOptions> {
  readonly baseUrl: string;
  private tagCache = new Map<string, { info: TagInfo | null; at: number }>();

  constructor(instanceSettings: DataSourceInstanceSettings<HistorianOptions>) {
    super(instanceSettings);
    const proxy = instanceSettings.url || `/api/datasources/proxy/uid/${instanceSettings.uid}`;
    this.baseUrl = `${proxy.replace(/\/+$/, '')}/${ROUTE}`;
  }

  getDefaultQuery(): Partial<HistorianQuery> {
    return DEFAULT_QUERY;
  }

  filterQuery(query: HistorianQuery): boolean {
    return !query.hide && Array.isArray(query.tags) && query.tags.length > 0;
  }

  /* GET baseUrl+path through getBackendSrv().fetch; resolves with the last
   * response, rejects with an Error carrying historiand's error text. */
  private async get(path: string, params: URLSearchParams): Promise<unknown> {
    const qs = params.toString();
    const url = `${this.baseUrl}${path}${qs ? `?${qs}` : ''}`;
    const res = await new Promise<FetchResult>((resolve, reject) => {
      let last: FetchResult | undefined;
      getBackendSrv()
        .fetch<unknown>({ url, method: 'GET', showErrorAlert: false })
        .subscribe({
          next: (r) => {
            last = { status: r.status, data: r.data };
          },
          error: (err: { status?: number; data?: unknown; message?: string }) => {
            reject(new Error(err?.data !== undefined ? errorText(err.data, err.status) : err?.message ?? String(err)));
          },
          complete: () => (last ? resolve(last) : reject(new Error('empty response'))),
        });
    });
    if (res.status >= 400) {
      throw new Error(errorText(res.data, res.status));
    }
    return res.data;
  }

  /* Tags matching a prefix, or a glob when the text holds * or ? (historiand:
   * '*' within a segment, '**' across segments). At most `limit` tags
   * (historiand's default is 1000). */
  async searchTags(text: string, limit?: number): Promise<TagInfo[]> {
    const p = new URLSearchParams();
    if (/[*?]/.test(text)) {
      p.set('pattern', text);
    } else {
      p.set('prefix', text);
    }
    if (limit && limit > 0) {
      p.set('limit', String(limit));
    }
    const data = await this.get('/api/v1/tags', p);
    if (!Array.isArray(data)) {
      throw new Error('historiand /api/v1/tags did not answer with a JSON array');
    }
    return data.filter((t): t is TagInfo => t && typeof t.name === 'string');
  }

  /* Metadata of the named tags (cached); a tag that is unknown or cannot be
   * looked up gets none, which only costs its unit. */
  async tagInfo(names: string[]): Promise<Map<string, TagInfo>> {
    const now = Date.now();
    const out = new Map<string, TagInfo>();
    const missing: string[] = [];
    for (const n of names) {
      const c = this.tagCache.get(n);
      if (c && now - c.at < TAG_CACHE_MS) {
        if (c.info) {
          out.set(n, c.info);
        }
      } else {
        missing.push(n);
      }
    }
    await Promise.all(
      missing.map(async (n) => {
        let info: TagInfo | null = null;
        try {
          /* GET /api/v1/tags/{name}: the name's '/' stay path separators */
          const path = `/api/v1/tags/${n.split('/').map(encodeURIComponent).join('/')}`;
          const data = (await this.get(path, new URLSearchParams())) as TagInfo;
          info = data && typeof data.name === 'string' ? data : null;
        } catch {
          info = null;
        }
        this.tagCache.set(n, { info, at: now });
        if (info) {
          out.set(n, info);
        }
      })
    );
    return out;
  }

  private interpolators(scopedVars: ScopedVars) {
    const srv = getTemplateSrv();
    return {
      interpolate: (s: string) => srv.replace(s, scopedVars),
      /* a multi-value variable comes back as {a,b} in glob format */
      interpolateTags: (s: string) => {
        const v = srv.replace(s, scopedVars, 'glob');
        const m = /^\{(.*)\}$/.exec(v);
        return m ? m[1].split(',') : [v];
      },
    };
  }

  async runQuery(query: HistorianQuery, request: DataQueryRequest<HistorianQuery>): Promise<DataFrame[]> {
    const q = { ...DEFAULT_QUERY, ...query } as HistorianQuery;
    const params = buildQueryParams(q, {
      fromMs: request.range.from.valueOf(),
      toMs: request.range.to.valueOf(),
      intervalMs: request.intervalMs,
      maxDataPoints: request.maxDataPoints,
      timezone: request.timezone,
      ...this.interpolators(request.scopedVars ?? {}),
    });
    /* explicit tags get a frame even when empty; glob matches come from rows */
    const tags = params.getAll('tag');
    const rows = (await this.get('/api/v1/query', params)) as QueryRow[];
    const names = new Set(tags);
    if (Array.isArray(rows)) {
      for (const r of rows) {
        if (r && typeof r.tag === 'string') {
          names.add(r.tag);
        }
      }
    }
    const info = await this.tagInfo(Array.from(names));
    return rowsToFrames(rows, q, info, tags);
  }

  async query(request: DataQueryRequest<HistorianQuery>): Promise<DataQueryResponse> {
    const targets = request.targets.filter((t) => this.filterQuery(t));
    const results = await Promise.all(targets.map((t) => this.runQuery(t, request)));
    return { data: results.flat() };
  }

  /* Template variables: see parseVariableQuery for the syntax. */
  async metricFindQuery(query: string | { query?: string }, options?: { scopedVars?: ScopedVars }): Promise<MetricFindValue[]> {
    const raw = typeof query === 'string' ? query : query?.query ?? '';
    const text = getTemplateSrv().replace(raw, options?.scopedVars ?? {});
    const vq = parseVariableQuery(text);
    if (vq.kind === 'children') {
      /* every tag below the prefix (historiand's maximum), not the default
       * first 1000, or levels past them would be missing */
      const tags = await this.searchTags(vq.prefix, 100_000);
      return childSegments(
        tags.map((t) => t.name),
        vq.prefix
      ).map((s) => ({ text: s, value: s }));
    }
    const tags = await this.searchTags(vq.kind === 'pattern' ? vq.pattern : vq.prefix, 10_000);
    return tags.map((t) => ({ text: t.name, value: t.name }));
  }

  async testDatasource(): Promise<TestDataSourceResponse> {
    try {
      const tags = await this.searchTags('', 1000);
      const count = tags.length >= 1000 ? 'at least 1000' : String(tags.length);
      return { status: 'success', message: `Connected to historiand: ${count} tags.` };
    } catch (e) {
      return { status: 'error', message: `Cannot reach historiand through the Grafana proxy: ${(e as Error).message}` };
    }
  }
}
