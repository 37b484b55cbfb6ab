// main.js: the viewer's state, kept in the URL's hash so that a link shows
// the same view: #view=trend&tag=A&tag=B&from=-24h&to=now&live=1
// &bucket=day&tz=Europe/Berlin&agg=mean,min,max. It wires the tree, the
// trend, the report and the range controls together.
import './app.css';

import {AGGS, downloadCsv, showReport} from './report.js';
import {relativeSpan, resolveTime, toLocalInput} from './time.js';
import {TagTree} from './tree.js';
import {COLOURS, Trend} from './trend.js';

const $ = (id) => document.getElementById(id);
const LIVE_MS = 5000;
const browserTz = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';

const state = {
  view: 'trend',
  tags: [],
  from: '-24h',
  to: 'now',
  live: false,
  bucket: 'hour',
  tz: browserTz,
  agg: ['mean', 'min', 'max']
};

function readHash() {
  const h = new URLSearchParams(location.hash.slice(1));
  state.view = h.get('view') === 'report' ? 'report' : 'trend';
  state.tags = h.getAll('tag');
  state.from = h.get('from') || '-24h';
  state.to = h.get('to') || 'now';
  state.live = h.get('live') === '1';
  state.bucket = h.get('bucket') || 'hour';
  state.tz = h.get('tz') || browserTz;
  const agg = (h.get('agg') || '').split(',').filter((a) => AGGS.includes(a));
  state.agg = agg.length ? agg : ['mean', 'min', 'max'];
}

function writeHash() {
  const h = new URLSearchParams({view: state.view});
  for (const t of state.tags) h.append('tag', t);
  h.set('from', state.from);
  h.set('to', state.to);
  if (state.live) h.set('live', '1');
  if (state.view === 'report') {
    h.set('bucket', state.bucket);
    h.set('tz', state.tz);
    h.set('agg', state.agg.join(','));
  }
  const text = '#' + h.toString();
  if (location.hash !== text) history.replaceState(null, '', text);
}

function range() {
  const now = Date.now();
  return [resolveTime(state.from, now), resolveTime(state.to, now)];
}

function setStatus(text) {
  $('status').textContent = text || '';
}
const showError = (e) => setStatus(e && e.message ? e.message : String(e));

const trend = new Trend($('chart'), {
  onZoom: (from, to) => setRange(String(from), String(to)),
  // What the browser test reads: when the first chart was drawn (ms since
  // the navigation started), how many draws, the uPlot instance.
  onDrawn: (chart) => {
    window.__viewer.chart = chart;
    if (!window.__viewer.firstPaint) {
      window.__viewer.firstPaint = performance.now();
      performance.mark('viewer-first-paint');
    }
    window.__viewer.draws++;
  },
});
window.__viewer = {
  firstPaint: 0,
  draws: 0
};

const tree = new TagTree($('tree'), $('search'), {
  onPick: (name) => {
    const i = state.tags.indexOf(name);
    if (i >= 0)
      state.tags.splice(i, 1);
    else
      state.tags.push(name);
    update();
  },
  isOn: (name) => state.tags.includes(name),
  onError: showError,
});

function setRange(from, to) {
  state.from = from;
  state.to = to;
  state.live = false;
  update();
}

function renderControls() {
  for (const b of document.querySelectorAll('.tab'))
    b.setAttribute('aria-pressed', String(b.dataset.view === state.view));
  $('trend-view').hidden = state.view !== 'trend';
  $('report-view').hidden = state.view !== 'report';
  const [from, to] = range();
  $('from').value = toLocalInput(from);
  $('to').value = toLocalInput(to);
  $('preset').value =
      state.to === 'now' && [...$('preset').options].some((o) => o.value === state.from) ? state.from : '';
  $('live').checked = state.live;
  $('bucket').value = state.bucket;
  $('tz').value = state.tz;
  for (const c of $('aggs').querySelectorAll('input')) c.checked = state.agg.includes(c.value);
  const pens = state.tags.map((t, i) => {
    const el = document.createElement('span');
    el.className = 'pen';
    el.title = t;
    const dot = document.createElement('b');
    dot.style.background = COLOURS[i % COLOURS.length];
    const x = document.createElement('button');
    x.textContent = '\u00d7';
    x.title = 'Remove';
    x.addEventListener('click', () => {
      state.tags.splice(state.tags.indexOf(t), 1);
      update();
    });
    el.append(dot, t, x);
    return el;
  });
  $('pens').replaceChildren(...pens);
  tree.mark();
}

// Draws what the state says, and puts it in the URL.
async function update() {
  writeHash();
  renderControls();
  setStatus('');
  const [from, to] = range();
  if (!(from < to)) return setStatus('the range is empty: From must be before To');
  try {
    if (state.view === 'trend')
      await trend.show(state.tags, from, to);
    else
      await showReport($('report'), {...state, from, to});
  } catch (e) {
    showError(e);
  }
}

function shift(fraction) {
  const [from, to] = range();
  const d = Math.round((to - from) * fraction);
  setRange(String(from + d), String(to + d));
}

function wire() {
  for (const b of document.querySelectorAll('.tab'))
    b.addEventListener('click', () => {
      state.view = b.dataset.view;
      update();
    });
  $('preset').addEventListener('change', () => {
    if ($('preset').value) {
      state.from = $('preset').value;
      state.to = 'now';
      update();
    }
  });
  for (const id of ['from', 'to']) {
    $(id).addEventListener('change', () => {
      const ms = new Date($(id).value).getTime();
      if (Number.isFinite(ms)) {
        const [f, t] = range();
        setRange(String(id === 'from' ? ms : f), String(id === 'to' ? ms : t));
      }
    });
  }
  $('pan-left').addEventListener('click', () => shift(-0.5));
  $('pan-right').addEventListener('click', () => shift(0.5));
  $('zoom-out').addEventListener('click', () => {
    const [from, to] = range();
    const d = Math.round((to - from) / 2);
    setRange(String(from - d), String(to + d));
  });
  $('live').addEventListener('change', () => {
    state.live = $('live').checked;
    if (state.live) {
      const [from, to] = range();
      state.from = relativeSpan(to - from);
      state.to = 'now';
    }
    update();
  });
  $('bucket').addEventListener('change', () => {
    state.bucket = $('bucket').value;
    update();
  });
  $('tz').addEventListener('change', () => {
    state.tz = $('tz').value;
    update();
  });
  $('run-report').addEventListener('click', update);
  $('csv').addEventListener('click', () => {
    const [from, to] = range();
    downloadCsv({...state, from, to}).catch(showError);
  });
  window.addEventListener('hashchange', () => {
    readHash();
    update();
  });
  let resizeTimer = 0;
  window.addEventListener('resize', () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      trend.resize();
      update();
    }, 200);
  });
  setInterval(() => {
    if (state.live && state.view === 'trend' && !document.hidden) update();
  }, LIVE_MS);
}

function fillChoices() {
  const zones = typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : [];
  const all = [...new Set(['UTC', browserTz, ...zones])];
  $('tz').replaceChildren(...all.map((z) => new Option(z, z)));
  $('aggs').replaceChildren(...AGGS.map((a) => {
    const l = document.createElement('label');
    const c = Object.assign(document.createElement('input'), {type: 'checkbox', value: a});
    c.addEventListener('change', () => {
      state.agg = AGGS.filter((x) => (x === a ? c.checked : state.agg.includes(x)));
      if (!state.agg.length) state.agg = ['mean'];
      update();
    });
    l.append(c, ' ' + a);
    return l;
  }));
}

readHash();
fillChoices();
wire();
update();
tree.showRoot();
