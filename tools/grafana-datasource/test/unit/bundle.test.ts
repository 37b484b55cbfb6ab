// Loads dist/module.js the way Grafana does, as an AMD module: a define()
// that hands it the shared libraries, then checks the "plugin" export.
// Needs a build first (test.sh runs build.sh before the tests).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grafanaData from '@grafana/data';
import * as React from 'react';
import { describe, expect, it } from 'vitest';

const dist = join(__dirname, '../../dist');
const built = existsSync(join(dist, 'module.js'));

describe.skipIf(!built)('dist/module.js', () => {
  it('is an anonymous AMD module whose factory returns { plugin }', () => {
    const code = readFileSync(join(dist, 'module.js'), 'utf8');
    let deps: string[] = [];
    let factory: ((...a: unknown[]) => { plugin?: unknown }) | undefined;
    const define = (d: string[], f: typeof factory) => {
      deps = d;
      factory = f;
    };
    new Function('define', code)(define);
    expect(deps).toContain('@grafana/data');
    expect(deps).toContain('react');
    for (const d of deps) {
      expect(['@grafana/data', '@grafana/ui', '@grafana/runtime', 'react', 'rxjs']).toContain(d);
    }
    const provided: Record<string, unknown> = {
      '@grafana/data': grafanaData,
      '@grafana/runtime': { getBackendSrv: () => undefined, getTemplateSrv: () => undefined },
      '@grafana/ui': new Proxy({}, { get: (_t, name) => (name === '__esModule' ? false : () => null) }),
      react: React,
    };
    const exported = factory!(...deps.map((d) => provided[d]));
    const plugin = exported.plugin as grafanaData.DataSourcePlugin<never>;
    expect(plugin).toBeInstanceOf(grafanaData.DataSourcePlugin);
    expect(typeof plugin.components.QueryEditor).toBe('function');
    expect(typeof plugin.components.ConfigEditor).toBe('function');
  });

  it('ships plugin.json with the proxy route and the logo', () => {
    const pj = JSON.parse(readFileSync(join(dist, 'plugin.json'), 'utf8'));
    const pkg = JSON.parse(readFileSync(join(__dirname, '../../package.json'), 'utf8'));
    expect(pj.type).toBe('datasource');
    expect(pj.id).toBe('historian-datasource');
    expect(pj.info.version).toBe(pkg.version);
    expect(pj.routes[0].path).toBe('historian');
    expect(pj.routes[0].url).toBe('{{ .JsonData.url }}');
    expect(pj.routes[0].headers[0]).toEqual({ name: 'Authorization', content: 'Bearer {{ .SecureJsonData.token }}' });
    expect(existsSync(join(dist, pj.info.logos.small))).toBe(true);
  });
});
