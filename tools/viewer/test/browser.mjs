// browser.mjs: the trend viewer driven in Debian's Chromium (headless,
// through playwright-core, which brings no browser of its own) against a
// real historiand that test.sh started with TLS and a tokens file.
//   node test/browser.mjs --test URL READ_TOKEN ADMIN_TOKEN SHOT.png
//       feeds a year of data (feed.mjs), then checks the page: the token
//       prompt, the tag tree, the chart's pixels, zoom and pan requests,
//       boundary=outside, live mode, the report table and its CSV against
//       the API's own answers, and the first paint of a 1-year, 1000-pixel
//       trend; saves a screenshot. Prints "viewer: OK (...)" or
//       "viewer: FAIL <step>: <why>".
//   node test/browser.mjs --demo URL SHOT.png [TAG...]
//       a screenshot of the last 24 hours of TAGs (scripts/demo.sh).
// Every wait is bounded; the whole run is stopped after 240 s.
import { chromium } from 'playwright-core';
import { readFileSync } from 'node:fs';
import { request } from './http.mjs';
import { feed, TAGS, Y0, Y1, DAY, BAD_FROM, BAD_TO } from './feed.mjs';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const WAIT = 15000;
// The pens' colours, as tools/viewer/src/trend.js draws them.
const PEN = [
  [0x24, 0x63, 0xeb],
  [0x16, 0xa3, 0x4a],
  [0xea, 0x58, 0x0c],
];

let step = 'start';
const notes = [];
function check(ok, what) {
  if (!ok) throw new Error(what);
}

async function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 30000,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
}

// Pixels of the chart's canvas near rgb between the times t0 and t1 (all
// of the plot when they are left out); red: the Bad marks' pixels instead.
async function countPixels(page, rgb, t0, t1, red = false) {
  return page.evaluate(
    ({ rgb, t0, t1, red }) => {
      const u = window.__viewer.chart;
      const { left, top, width, height } = u.bbox;
      const x0 = Math.max(left, Math.ceil(t0 == null ? left : u.valToPos(t0, 'x', true)));
      const x1 = Math.min(left + width, Math.floor(t1 == null ? left + width : u.valToPos(t1, 'x', true)));
      if (x1 <= x0) return 0;
      const img = u.ctx.getImageData(x0, top, x1 - x0, height).data;
      let n = 0;
      for (let i = 0; i < img.length; i += 4) {
        const [r, g, b] = [img[i], img[i + 1], img[i + 2]];
        if (red ? r > 200 && g < 170 && b < 170 && r - g > 60 : Math.abs(r - rgb[0]) + Math.abs(g - rgb[1]) + Math.abs(b - rgb[2]) < 60) n++;
      }
      return n;
    },
    { rgb, t0, t1, red },
  );
}

async function draws(page) {
  return page.evaluate(() => (window.__viewer ? window.__viewer.draws : 0));
}
async function waitDrawn(page, after) {
  await page.waitForFunction((n) => window.__viewer && window.__viewer.draws > n, after, { timeout: WAIT });
}

// The next plot request the page sends after fn() (its URL's parameters).
async function nextPlot(page, fn) {
  const req = page.waitForRequest((r) => r.url().includes('/api/v1/query') && new URL(r.url()).searchParams.get('mode') === 'plot', { timeout: WAIT });
  await fn();
  const r = await req;
  return { params: new URL(r.url()).searchParams, headers: r.headers() };
}

async function api(base, token, params) {
  const res = await request('GET', `${base}/api/v1/query?${params}`, undefined, { Authorization: `Bearer ${token}` });
  check(res.status === 200, `API ${params}: ${res.status} ${res.text}`);
  return res.text;
}

function reportQuery(tags, bucket, tz, agg) {
  const q = new URLSearchParams({ mode: 'aggregate', agg: agg.join(','), bucket, tz, from: String(Y0), to: String(Y1), time_format: 'rfc3339' });
  for (const t of tags) q.append('tag', t);
  return q;
}

async function tableRows(page) {
  return page.$$eval('#report tbody tr', (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
}

// The table equals the API's JSON answer to the same request, row by row.
async function checkReport(page, base, token, tags, bucket, tz, agg) {
  const want = JSON.parse(await api(base, token, reportQuery(tags, bucket, tz, agg))).map((r) => [
    r.time,
    r.tag,
    ...agg.map((a) => (r[a] == null ? '' : String(r[a]))),
  ]);
  check(want.length > 0, `the API answered no ${bucket} rows`);
  await page
    .waitForFunction((n) => document.querySelectorAll('#report tbody tr').length === n, want.length, { timeout: WAIT })
    .catch(async () => {
      const shown = await page.evaluate(() => [document.querySelectorAll('#report tbody tr').length, document.getElementById('status').textContent]);
      throw new Error(`the table shows ${shown[0]} rows (status: '${shown[1]}'), the API ${want.length}`);
    });
  const got = await tableRows(page);
  for (let i = 0; i < want.length; i++) {
    check(JSON.stringify(got[i]) === JSON.stringify(want[i]), `report row ${i}: page ${JSON.stringify(got[i])}, API ${JSON.stringify(want[i])}`);
  }
  return want.length;
}

async function setHash(page, hash) {
  await page.evaluate((h) => {
    location.hash = h;
  }, hash);
}

async function expandTree(page) {
  for (let round = 0; round < 10; round++) {
    const closed = await page.$$('#tree .folder:not(.open)');
    if (!closed.length) break;
    for (const f of closed) await f.click();
    await page.waitForTimeout(300);
  }
  return page.$$eval('#tree .tag', (els) => els.map((e) => e.dataset.tag).sort());
}

async function runTest(base, readToken, adminToken, shot) {
  step = 'static files without a token';
  const index = await request('GET', `${base}/`);
  check(index.status === 200 && /text\/html/.test(index.headers['content-type']), `GET / answered ${index.status}`);
  check(index.headers.etag && index.headers['cache-control'] === 'no-cache', 'GET / lacks ETag or Cache-Control');
  const js = /viewer\/(app-[A-Z0-9]+\.js)/.exec(index.text);
  check(js, 'index.html names no script');
  const script = await request('GET', `${base}/viewer/${js[1]}`);
  check(script.status === 200 && /javascript/.test(script.headers['content-type']), `the script answered ${script.status}`);
  check((await request('GET', `${base}/viewer/${js[1]}`, undefined, { 'If-None-Match': script.headers.etag })).status === 304, 'no 304 for a matching ETag');
  check((await request('GET', `${base}/api/v1/tags`)).status === 401, 'the API answered without a token');

  step = 'feed';
  const fed = await feed(base, adminToken);
  notes.push(`${fed} samples fed`);

  const browser = await launch();
  try {
    const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1300, height: 800 }, timezoneId: 'Asia/Tokyo', acceptDownloads: true });
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const apiCalls = [];
    page.on('request', (r) => {
      if (r.url().includes('/api/v1/')) apiCalls.push(r);
    });

    step = 'token prompt';
    await page.goto(`${base}/`, { timeout: WAIT });
    await page.waitForSelector('#login[open]', { timeout: WAIT });
    await page.fill('#token', readToken);
    await page.click('#login-ok');
    await page.waitForSelector('#tree .folder', { timeout: WAIT });
    check((await page.evaluate(() => sessionStorage.getItem('historian.token'))) === readToken, 'the token is not in sessionStorage');
    check((await context.cookies()).length === 0, 'the page set a cookie');
    check((await page.$eval('#tz', (e) => e.value)) === 'Asia/Tokyo', 'the time zone chooser does not default to the browser zone');

    step = 'tag tree';
    const listed = await expandTree(page);
    const names = Object.values(TAGS).map((t) => t.name).sort();
    check(JSON.stringify(listed) === JSON.stringify(names), `tree lists ${listed.join(', ')}`);
    step = 'search';
    await page.fill('#search', 'tank');
    await page.waitForFunction(() => document.querySelectorAll('#tree .tag').length === 2, null, { timeout: WAIT });
    await page.fill('#search', '');
    await page.waitForSelector('#tree .folder', { timeout: WAIT });
    await expandTree(page);

    step = 'chart draws';
    await setHash(page, `#view=trend&from=${Y0}&to=${Y1}`);
    let n = await draws(page);
    const first = await nextPlot(page, () => page.click(`#tree .tag[data-tag="${TAGS.temp.name}"]`));
    await waitDrawn(page, n);
    check(first.headers.authorization === `Bearer ${readToken}`, 'the plot request carries no bearer token');
    check(first.params.get('boundary') === 'outside' && first.params.get('from') === String(Y0), `plot request ${first.params}`);
    const width = await page.$eval('#chart', (e) => e.clientWidth);
    check(first.params.get('points') === String(width), `points=${first.params.get('points')}, chart ${width} px`);
    const line = await countPixels(page, PEN[0]);
    check(line > 500, `only ${line} pixels of the pen's colour`);
    const inBad = await countPixels(page, PEN[0], BAD_FROM + 2 * DAY, BAD_TO - 2 * DAY);
    check(inBad === 0, `${inBad} pen pixels over the Bad samples`);
    const marks = await countPixels(page, null, BAD_FROM + DAY, BAD_TO - DAY, true);
    check(marks > 20, `no red mark over the Bad samples (${marks})`);
    const legend = await page.$eval('.u-legend', (e) => e.textContent);
    // uPlot draws the axes on the canvas: their labels are in its options
    const axes = await page.evaluate(() => window.__viewer.chart.axes.map((a) => a.label).join(' '));
    check(legend.includes('[degC]') && axes.includes('degC'), `the unit is missing from legend or axis (${axes})`);
    notes.push(`${line} pen pixels, none over the Bad run`);

    step = 'multi-pen';
    n = await draws(page);
    await page.click(`#tree .tag[data-tag="${TAGS.batch.name}"]`);
    await waitDrawn(page, n);
    n = await draws(page);
    const multi = await nextPlot(page, () => page.click(`#tree .tag[data-tag="${TAGS.running.name}"]`));
    await waitDrawn(page, n);
    check(multi.params.getAll('tag').length === 3, `plot request for ${multi.params.getAll('tag')}`);
    for (let i = 1; i < 3; i++) {
      const px = await countPixels(page, PEN[i]);
      check(px > 100, `pen ${i + 1}: ${px} pixels`);
    }
    const stepped = await page.evaluate(() => window.__viewer.chart.series.slice(1).map((s) => s.label));
    check(stepped.length === 3 && stepped[1].includes('[count]'), `series ${stepped}`);
    await page.screenshot({ path: shot });

    step = 'zoom';
    const box = await page.evaluate(() => {
      const u = window.__viewer.chart;
      const r = u.over.getBoundingClientRect();
      const w = u.bbox.width / devicePixelRatio;
      return { x: r.left, y: r.top + r.height / 2, a: w * 0.25, b: w * 0.5, from: u.posToVal(w * 0.25, 'x'), to: u.posToVal(w * 0.5, 'x'), w };
    });
    box.msPerPx = (Y1 - Y0) / box.w;
    n = await draws(page);
    const zoom = await nextPlot(page, async () => {
      await page.mouse.move(box.x + box.a, box.y);
      await page.mouse.down();
      await page.mouse.move(box.x + (box.a + box.b) / 2, box.y, { steps: 4 });
      await page.mouse.move(box.x + box.b, box.y, { steps: 4 });
      await page.mouse.up();
    });
    await waitDrawn(page, n);
    const zf = Number(zoom.params.get('from'));
    const zt = Number(zoom.params.get('to'));
    check(Math.abs(zf - box.from) <= 2 * box.msPerPx && Math.abs(zt - box.to) <= 2 * box.msPerPx, `zoom asked ${zf}..${zt}, dragged ${box.from}..${box.to}`);
    check(zoom.params.getAll('tag').length === 3, 'the zoom lost pens');
    check(page.url().includes(`from=${zf}`) && page.url().includes(`to=${zt}`), `the URL does not hold the zoom: ${page.url()}`);

    step = 'pan';
    const pan = await nextPlot(page, () => page.click('#pan-right'));
    const half = Math.round((zt - zf) * 0.5);
    check(Number(pan.params.get('from')) === zf + half && Number(pan.params.get('to')) === zt + half, `pan asked ${pan.params.get('from')}..${pan.params.get('to')}`);
    notes.push(`zoom to ${((zt - zf) / DAY).toFixed(1)} days and pan re-queried`);

    step = 'boundary=outside';
    n = await draws(page);
    await setHash(page, `#view=trend&tag=${encodeURIComponent(TAGS.setpoint.name)}&from=${Y0 + 10 * DAY}&to=${Y0 + 20 * DAY}`);
    await waitDrawn(page, n);
    const across = await countPixels(page, PEN[0]);
    check(across > width / 2, `the setpoint set before the window draws ${across} pixels`);

    step = 'live';
    const live = [];
    const onReq = (r) => {
      if (r.url().includes('mode=plot')) live.push({ at: Date.now(), to: Number(new URL(r.url()).searchParams.get('to')) });
    };
    page.on('request', onReq);
    await setHash(page, `#view=trend&tag=${encodeURIComponent(TAGS.temp.name)}&from=-1h&to=now&live=1`);
    await page.waitForFunction(() => true, null, { timeout: 1000 });
    const liveStart = Date.now();
    while (live.length < 3 && Date.now() - liveStart < 14000) await page.waitForTimeout(250);
    page.off('request', onReq);
    check(live.length >= 3, `live mode sent ${live.length} requests in 14 s`);
    check(live[2].to - live[1].to >= 4000 && live[2].to - live[1].to <= 8000, `the live window moved by ${live[2].to - live[1].to} ms`);
    notes.push(`live: re-queried every ${((live[2].at - live[1].at) / 1000).toFixed(1)} s`);

    step = 'report';
    const rtags = [TAGS.temp.name, TAGS.level.name];
    const agg = ['mean', 'min', 'max', 'count'];
    await setHash(page, `#view=report&tag=${encodeURIComponent(rtags[0])}&tag=${encodeURIComponent(rtags[1])}&from=${Y0}&to=${Y1}&bucket=month&tz=Europe%2FBerlin&agg=${agg.join(',')}`);
    const months = await checkReport(page, base, readToken, rtags, 'month', 'Europe/Berlin', agg);
    await page.selectOption('#tz', 'America/New_York');
    // New York's offsets (-05:00 or -04:00) replace Berlin's in the table
    await page
      .waitForFunction(() => /-0[45]:00$/.test(document.querySelector('#report tbody td').textContent), null, { timeout: WAIT })
      .catch(async () => {
        throw new Error(`after choosing America/New_York the first time is ${await page.$eval('#report tbody td', (e) => e.textContent)}`);
      });
    await page.selectOption('#bucket', 'week');
    const weeks = await checkReport(page, base, readToken, rtags, 'week', 'America/New_York', agg);
    check(page.url().includes('bucket=week') && page.url().includes('tz=America%2FNew_York'), `the URL lacks the report settings: ${page.url()}`);
    notes.push(`report: ${months} month and ${weeks} week rows equal the API's`);

    step = 'CSV download';
    const dl = page.waitForEvent('download', { timeout: WAIT });
    await page.click('#csv');
    const file = await (await dl).path();
    const csvQuery = reportQuery(rtags, 'week', 'America/New_York', agg);
    csvQuery.set('format', 'csv');
    const wantCsv = await api(base, readToken, csvQuery);
    check(readFileSync(file, 'utf8') === wantCsv, 'the downloaded CSV differs from the API answer');

    step = 'page errors';
    check(errors.length === 0, `page errors: ${errors.join('; ')}`);
    check(apiCalls.every((r) => r.headers().authorization === `Bearer ${readToken}` || r.url().includes('/api/v1/tags')), 'an API call went without the token');
    await context.close();

    step = 'first paint';
    notes.push(await firstPaint(browser, base, readToken, width));
  } finally {
    await browser.close();
  }
}

// A fresh context (nothing cached), the token already in sessionStorage,
// the chart 1000 pixels wide over the year; the time from the navigation's
// start to the chart's first draw (performance.now() in the page).
async function firstPaint(browser, base, token, width) {
  const ctx = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1300 + 1000 - width, height: 800 } });
  await ctx.addInitScript((t) => sessionStorage.setItem('historian.token', t), token);
  const page = await ctx.newPage();
  const plot = page.waitForRequest((r) => r.url().includes('mode=plot'), { timeout: WAIT });
  await page.goto(`${base}/#view=trend&tag=${encodeURIComponent(TAGS.temp.name)}&from=${Y0}&to=${Y1}`, { timeout: WAIT });
  await page.waitForFunction(() => window.__viewer && window.__viewer.firstPaint > 0, null, { timeout: WAIT });
  const points = new URL((await plot).url()).searchParams.get('points');
  const ms = await page.evaluate(() => window.__viewer.firstPaint);
  const drawn = await page.evaluate(() => window.__viewer.chart.data[0].length);
  await ctx.close();
  check(points === '1000', `the first-paint chart asked points=${points}`);
  check(ms < 1000, `first paint took ${ms.toFixed(0)} ms (over 1 s)`);
  return `first paint ${ms.toFixed(0)} ms (1 year, points=1000, ${drawn} samples)`;
}

async function runDemo(base, shot, tags) {
  const browser = await launch();
  try {
    const page = await browser.newPage({ ignoreHTTPSErrors: true, viewport: { width: 1300, height: 700 } });
    const hash = new URLSearchParams({ view: 'trend' });
    for (const t of tags) hash.append('tag', t);
    hash.set('from', '-24h');
    hash.set('to', 'now');
    await page.goto(`${base}/#${hash}`, { timeout: WAIT });
    if (tags.length) await page.waitForFunction(() => window.__viewer && window.__viewer.draws > 0, null, { timeout: WAIT });
    await page.waitForTimeout(500);
    await page.screenshot({ path: shot });
  } finally {
    await browser.close();
  }
}

const [mode, ...args] = process.argv.slice(2);
const guard = setTimeout(() => {
  console.log(`viewer: FAIL ${step}: the test ran past 240 s`);
  process.exit(1);
}, 240000);
try {
  if (mode === '--demo') {
    step = 'demo';
    await runDemo(args[0], args[1], args.slice(2));
    console.log(`viewer: screenshot ${args[1]}`);
  } else if (mode === '--test') {
    await runTest(args[0], args[1], args[2], args[3]);
    console.log(`viewer: OK (${notes.join('; ')}; screenshot ${args[3]})`);
  } else {
    throw new Error('usage: browser.mjs --test URL READ ADMIN SHOT | --demo URL SHOT [TAG...]');
  }
  clearTimeout(guard);
} catch (e) {
  console.log(`viewer: FAIL ${step}: ${e.message}`);
  process.exit(1);
}
