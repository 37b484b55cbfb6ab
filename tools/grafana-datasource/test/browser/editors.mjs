// editors.mjs: renders the plugin's query and config editors with the real
// @grafana/ui in Debian's Chromium (headless, driven by playwright-core,
// which downloads no browser) and checks what a user's clicks and typing
// produce: the query objects, the request they become (buildQueryParams),
// and the datasource settings.
//
//   node test/browser/editors.mjs [ARTIFACT_DIR]
//
// The page is test/browser/editors.tsx bundled by esbuild into a temporary
// folder and opened as a file: no server, no network. Screenshots of the
// editors are kept in ARTIFACT_DIR (default: a temporary folder, printed).
// Prints one line per check and a closing line "editors: OK (N checks)" or
// "editors: FAIL ..." (exit 1). Without Chromium: "SKIP: ..." and exit 0.
import { build } from 'esbuild';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
if (!existsSync(CHROMIUM)) {
  console.log(`SKIP: no Chromium at ${CHROMIUM} (apt-get install chromium)`);
  process.exit(0);
}
const { chromium } = await import('playwright-core');

const work = mkdtempSync(join(tmpdir(), 'hist-gf-editors-'));
const artifacts = process.argv[2] ?? work;
mkdirSync(artifacts, { recursive: true });
await build({
  entryPoints: [join(here, 'editors.tsx')],
  bundle: true,
  outfile: join(work, 'editors.js'),
  format: 'iife',
  platform: 'browser',
  target: 'es2020',
  jsx: 'transform',
  jsxFactory: 'React.createElement',
  jsxFragment: 'React.Fragment',
  define: { 'process.env.NODE_ENV': '"production"', global: 'window' },
  loader: { '.css': 'empty', '.svg': 'dataurl', '.png': 'dataurl', '.woff': 'empty', '.woff2': 'empty' },
  minify: true,
  logLevel: 'error',
});
writeFileSync(
  join(work, 'index.html'),
  '<!doctype html><html><head><meta charset="utf-8"><title>editors</title></head>' +
    '<style>*,*::before,*::after{box-sizing:border-box}</style>' + /* as Grafana's global styles */
    '<body style="background:#111217;color:#ccc;width:1100px">' +
    '<h3>Query editor</h3><div id="query"></div><h3>Config editor</h3><div id="config"></div>' +
    '<script src="editors.js"></script></body></html>'
);

/* Picks an option of the select in the editor field labelled label, the way
 * a keyboard user does: focus its input, type, Enter. */
async function chooseIn(page, label, text) {
  const field = page
    .locator('#query div')
    .filter({ has: page.locator('label', { hasText: new RegExp(`^${label}$`) }) })
    .filter({ has: page.locator('input') })
    .last();
  const input = field.locator('input').last();
  await input.focus();
  await page.keyboard.type(text);
  await page.getByRole('option', { name: text, exact: true }).first().waitFor({ timeout: 5_000 });
  await page.keyboard.press('Enter');
}

let checks = 0;
const failures = [];
function check(ok, what, detail = '') {
  checks++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}${ok || !detail ? '' : `: ${detail}`}`);
  if (!ok) {
    failures.push(what);
  }
}

const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
const timer = setTimeout(() => {
  console.log('editors: FAIL (timed out after 120 s)');
  process.exit(1);
}, 120_000);
try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto('file://' + join(work, 'index.html'));
  await page.waitForSelector('#query input', { timeout: 15_000 });
  const query = () => page.evaluate(() => window.__query);
  const paramsOf = async () => Object.fromEntries(new URLSearchParams(await page.evaluate(() => window.__params())));

  /* 1. tags: type a prefix, the picker searches and offers the tags below it */
  const tagInput = page.locator('#query input').first();
  await tagInput.click();
  await tagInput.fill('plant/area1/line1/');
  const option = page.getByText('plant/area1/line1/flow', { exact: true });
  await option.waitFor({ timeout: 10_000 });
  await option.click();
  let q = await query();
  check(JSON.stringify(q.tags) === '["plant/area1/line1/flow"]', 'the tag picker sets tags', JSON.stringify(q.tags));
  const searches = await page.evaluate(() => window.__tagSearches);
  check(searches.includes('plant/area1/line1/'), 'the picker searched the typed prefix', JSON.stringify(searches));
  /* a glob typed as a custom value is kept as typed */
  await tagInput.click();
  await tagInput.fill('plant/*/line2/*');
  await page.keyboard.press('Enter');
  q = await query();
  check(JSON.stringify(q.tags) === '["plant/area1/line1/flow","plant/*/line2/*"]', 'a glob is kept as a custom value', JSON.stringify(q.tags));
  let p = await paramsOf();
  const sent = new URLSearchParams(await page.evaluate(() => window.__params()));
  check(
    sent.getAll('tag').join() === 'plant/area1/line1/flow' && sent.getAll('pattern').join() === 'plant/*/line2/*',
    'tag= for a name, pattern= for a glob',
    sent.toString()
  );
  check(p.mode === 'plot' && p.points === '600' && p.boundary === 'outside', 'plot: the panel width, edges outside', JSON.stringify(p));

  /* 2. plot, edges inside */
  await page.getByRole('radio', { name: 'Inside', exact: true }).click();
  p = await paramsOf();
  check(p.boundary === 'inside', 'Edges: Inside sends boundary=inside', JSON.stringify(p));
  await page.screenshot({ path: join(artifacts, 'editor-plot.png'), fullPage: true });

  /* 3. aggregate: aggregates, a shift bucket in a zone, fill */
  await page.getByRole('radio', { name: 'Aggregate', exact: true }).click();
  await page.waitForSelector('text=Aggregates', { timeout: 5_000 });
  q = await query();
  check(q.mode === 'aggregate', 'Mode: Aggregate', q.mode);
  await chooseIn(page, 'Aggregates', 'max');
  q = await query();
  check(JSON.stringify(q.aggs) === '["twa","max"]', 'Aggregates: twa then max, in order', JSON.stringify(q.aggs));
  /* Bucket: Shift */
  await chooseIn(page, 'Bucket', 'Shift');
  q = await query();
  check(q.bucket === 'shift', 'Bucket: Shift', q.bucket);
  await chooseIn(page, 'Fill', 'previous');
  q = await query();
  check(q.fill === 'previous', 'Fill: previous', q.fill);
  const tz = page.getByPlaceholder('dashboard');
  await tz.fill('Europe/Berlin');
  await tz.blur();
  const shifts = page.getByPlaceholder('06:00,14:00,22:00');
  await shifts.fill('06:00, 18:00');
  await shifts.blur();
  p = await paramsOf();
  check(
    p.agg === 'twa,max' && p.bucket === 'shift' && p.tz === 'Europe/Berlin' && p.shifts === '06:00,18:00' && p.fill === 'previous' && !('boundary' in p) && !('step' in p),
    'the aggregate request: agg, bucket=shift, tz, shifts (spaces dropped), fill, no boundary',
    JSON.stringify(p)
  );
  check((await page.evaluate(() => window.__runs)) >= 5, 'each change asks to run the query');
  await page.screenshot({ path: join(artifacts, 'editor-aggregate.png'), fullPage: true });

  /* 4. config: URL and the read token */
  const url = page.getByPlaceholder('http://localhost:9460');
  await url.fill('http://historian-host:9460');
  const token = page.locator('#config').getByPlaceholder('token');
  await token.fill('s3cret');
  const o = await page.evaluate(() => window.__options);
  check(o && o.url === 'http://historian-host:9460' && o.jsonData.url === 'http://historian-host:9460', 'config: the URL in url and jsonData.url', JSON.stringify(o));
  check(o && o.secureJsonData && o.secureJsonData.token === 's3cret' && !JSON.stringify(o.jsonData).includes('s3cret'), 'config: the token only in secureJsonData', JSON.stringify(o));
  await page.screenshot({ path: join(artifacts, 'editor-config.png'), fullPage: true });
  check(errors.length === 0, 'no errors on the page', errors.join(' | '));
} catch (e) {
  failures.push(String(e));
  console.log(`FAIL ${e}`);
} finally {
  clearTimeout(timer);
  await browser.close();
}
console.log(`screenshots: ${artifacts}/editor-*.png`);
if (failures.length) {
  console.log(`editors: FAIL (${failures.length} of ${checks} checks: ${failures.join('; ')})`);
  process.exit(1);
}
console.log(`editors: OK (${checks} checks, @grafana/ui in ${CHROMIUM})`);
