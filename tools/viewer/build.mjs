// build.mjs: bundles src/ into dist/ (minified): app-HASH.js and
// app-HASH.css (uPlot included; the hash in the name lets historiand cache
// them for a year) and index.html naming them. `node build.mjs OUTDIR`
// builds elsewhere (build.sh --check compares that with dist/).
import * as esbuild from 'esbuild';
import {mkdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {basename, join} from 'node:path';

const out = process.argv[2] || 'dist';
rmSync(out, {recursive: true, force: true});
mkdirSync(out, {recursive: true});
const result = await esbuild.build({
  entryPoints: ['src/main.js'],
  bundle: true,
  minify: true,
  format: 'iife',
  target: ['es2020'],
  entryNames: 'app-[hash]',
  outdir: out,
  metafile: true,
  legalComments: 'eof',
  logLevel: 'warning',
});
const files = Object.keys(result.metafile.outputs).map((f) => basename(f));
const js = files.find((f) => f.endsWith('.js'));
const css = files.find((f) => f.endsWith('.css'));
const html = readFileSync('src/index.html', 'utf8').replace('%APP_JS%', js).replace('%APP_CSS%', css);
writeFileSync(join(out, 'index.html'), html);
console.log(`viewer: built ${out}/ (${[js, css, 'index.html'].join(', ')})`);
