// build.mjs: bundles src/ into dist/ as the plugin folder Grafana loads.
//
// Grafana loads a plugin's module.js through SystemJS with its AMD extra and
// hands it Grafana's own copies of the shared libraries (@grafana/data,
// @grafana/ui, @grafana/runtime, react, rxjs...). So those stay external and
// module.js is an anonymous AMD module:
//     define(["@grafana/data", ...], function (a, ...) { ...; return exports; })
// esbuild has no AMD output; it writes CommonJS, and we wrap that in define()
// with a require() that answers from the AMD dependencies.
import { build } from 'esbuild';
import { mkdirSync, readFileSync, rmSync, writeFileSync, copyFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(fileURLToPath(import.meta.url));
const dist = join(root, 'dist');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const EXTERNAL = ['@grafana/data', '@grafana/ui', '@grafana/runtime', '@grafana/schema', 'react', 'react-dom', 'rxjs', 'rxjs/operators'];

rmSync(dist, { recursive: true, force: true });
mkdirSync(join(dist, 'img'), { recursive: true });

const result = await build({
  entryPoints: [join(root, 'src/module.ts')],
  bundle: true,
  write: false,
  format: 'cjs',
  platform: 'browser',
  target: 'es2020',
  external: EXTERNAL,
  jsx: 'transform',
  jsxFactory: 'React.createElement',
  jsxFragment: 'React.Fragment',
  minify: process.env.MINIFY !== '0',
  sourcemap: false,
  metafile: true,
  legalComments: 'none',
  logLevel: 'warning',
});

const deps = new Set();
for (const out of Object.values(result.metafile.outputs)) {
  for (const imp of out.imports) {
    if (imp.external) {
      deps.add(imp.path);
    }
  }
}
const depList = [...deps].sort();
const args = depList.map((_, i) => `__d${i}`);
const table = depList.map((d, i) => `${JSON.stringify(d)}: __d${i}`).join(', ');
const code = result.outputFiles[0].text;
const amd =
  `/* Historian datasource for Grafana ${pkg.version} (AMD module; built by build.mjs) */\n` +
  `define(${JSON.stringify(depList)}, function (${args.join(', ')}) {\n` +
  `var __deps = {${table}};\n` +
  `var require = function (name) {\n` +
  `  if (Object.prototype.hasOwnProperty.call(__deps, name)) { return __deps[name]; }\n` +
  `  throw new Error("historian-datasource: module not provided by Grafana: " + name);\n` +
  `};\n` +
  `var module = { exports: {} }, exports = module.exports;\n` +
  code +
  `\nreturn module.exports;\n});\n`;
writeFileSync(join(dist, 'module.js'), amd);

const today = new Date().toISOString().slice(0, 10);
const pluginJson = readFileSync(join(root, 'src/plugin.json'), 'utf8')
  .replace('%VERSION%', pkg.version)
  .replace('%TODAY%', today);
writeFileSync(join(dist, 'plugin.json'), pluginJson);
copyFileSync(join(root, 'src/img/logo.svg'), join(dist, 'img/logo.svg'));
for (const f of ['README.md', 'CHANGELOG.md', 'LICENSE']) {
  if (existsSync(join(root, f))) {
    copyFileSync(join(root, f), join(dist, f));
  }
}
console.log(`dist/module.js ${amd.length} bytes, AMD deps: ${depList.join(' ')}`);
