// trend.js: the multi-pen trend: one plot (M4) request for all the pens,
// points = the chart's width in pixels, boundary=outside (a value that
// changed before the window draws across it), a scale per unit, step lines
// for int64 and bool tags, Bad-quality samples as gaps with a red mark
// along the bottom; a drag across the chart zooms (onZoom).
import 'uplot/dist/uPlot.min.css';

import uPlot from 'uplot';

import {get, tagMeta} from './api.js';

export const COLOURS =
    ['#2463eb', '#16a34a', '#ea580c', '#9333ea', '#0891b2', '#ca8a04', '#db2777', '#4b5563'];
const BAD = 0x80000000;
const BAD_FILL = 'rgba(220, 38, 38, 0.55)';

export class Trend {
  constructor(el, {onZoom, onDrawn}) {
    this.el = el;
    this.onZoom = onZoom;
    this.onDrawn = onDrawn;
    this.chart = null;
    this.key = '';
    this.range = [0, 1];
    this.bad = [];
    this.seq = 0;
  }

  width() {
    return Math.max(200, Math.floor(this.el.clientWidth));
  }

  // Queries and draws tags over [from, to) (epoch ms).
  async show(tags, from, to) {
    const seq = ++this.seq;
    if (!tags.length) {
      this.destroy();
      this.el.textContent = 'Pick tags in the tree on the left.';
      return;
    }
    const q = new URLSearchParams({
      mode: 'plot',
      points: String(this.width()),
      from: String(from),
      to: String(to),
      boundary: 'outside',
      shape: 'columns',
      time_format: 'ms'
    });
    for (const t of tags) q.append('tag', t);
    const [cols, metas] = await Promise.all([
      get('api/v1/query', q).then((r) => r.json()),
      Promise.all(tags.map((t) => tagMeta(t).catch(() => ({name: t, type: 'float64', unit: ''})))),
    ]);
    if (seq !== this.seq) return;  // a newer request went out meanwhile
    this.range = [from, to];
    const byTag = new Map(cols.map((c) => [c.tag, c]));
    const tables = [];
    const modes = [];
    this.bad = [];
    tags.forEach((t, i) => {
      const c = byTag.get(t) || {time: [], value: [], quality: []};
      tables.push(this.table(c, i, to));
      modes.push([null, 2]);  // a Bad gap takes the alignment holes next to it
    });
    const data = tables.length === 1 ? tables[0] : uPlot.join(tables, modes);
    const key = tags.join('\n') + '|' + metas.map((m) => m.unit + m.type).join('|');
    if (this.chart && key === this.key) {
      this.chart.setData(data);
    } else {
      this.destroy();
      this.el.textContent = '';
      this.key = key;
      this.chart = new uPlot(this.options(tags, metas), data, this.el);
    }
  }

  // [times, values] of one pen; Bad samples become null (a gap) and their
  // spans, up to the pen's next sample, are kept for the red marks.
  table(c, pen, to) {
    const n = c.time.length;
    const ys = new Array(n);
    for (let i = 0; i < n; i++) {
      const bad = c.quality[i] >= BAD;
      ys[i] = bad ? null : c.value[i];
      if (bad) this.bad.push([pen, c.time[i], i + 1 < n ? c.time[i + 1] : to]);
    }
    return [c.time, ys];
  }

  options(tags, metas) {
    const units = [...new Set(metas.map((m) => m.unit || ''))];
    const axes = [{}];
    const scales = {x: {time: true, range: () => this.range}};
    units.forEach((u, k) => {
      scales['u' + k] = {auto: true};
      axes.push({
        scale: 'u' + k,
        side: k % 2 ? 1 : 3,
        label: u || undefined,
        show: k < 2,
        grid: {show: k === 0},
        size: 60
      });
    });
    const series = [{}];
    metas.forEach((m, i) => {
      const stepped = m.type === 'int64' || m.type === 'bool';
      series.push({
        label: m.unit ? `${tags[i]} [${m.unit}]` : tags[i],
        scale: 'u' + units.indexOf(m.unit || ''),
        stroke: COLOURS[i % COLOURS.length],
        width: 1.5,
        spanGaps: false,
        points: {show: false},
        paths: stepped ? uPlot.paths.stepped({align: 1}) : undefined,
      });
    });
    return {
      width: this.width(),
      height: 420,
      ms: 1,
      scales,
      axes,
      series,
      cursor: {drag: {x: true, y: false, setScale: false}},
      hooks: {
        setSelect: [(u) => this.selected(u)],
        draw: [
          (u) => {
            this.drawBad(u);
            if (this.onDrawn) this.onDrawn(u);
          },
        ],
      },
    };
  }

  selected(u) {
    const {left, width} = u.select;
    if (width < 3) return;
    const from = Math.round(u.posToVal(left, 'x'));
    const to = Math.round(u.posToVal(left + width, 'x'));
    u.setSelect({left: 0, width: 0, top: 0, height: 0}, false);
    if (to > from) this.onZoom(from, to);
  }

  // The red marks of Bad data: a strip along the bottom, one row per pen.
  drawBad(u) {
    if (!this.bad.length) return;
    const {ctx} = u;
    const {left, top, width, height} = u.bbox;
    const h = 5 * uPlot.pxRatio;
    ctx.save();
    ctx.fillStyle = BAD_FILL;
    for (const [pen, t0, t1] of this.bad) {
      const x0 = Math.max(left, u.valToPos(t0, 'x', true));
      const x1 = Math.min(left + width, u.valToPos(t1, 'x', true));
      if (x1 < left || x0 > left + width) continue;
      ctx.fillRect(x0, top + height - h * (pen + 1), Math.max(1, x1 - x0), h - 1);
    }
    ctx.restore();
  }

  resize() {
    if (this.chart) this.chart.setSize({width: this.width(), height: 420});
  }

  destroy() {
    if (this.chart) this.chart.destroy();
    this.chart = null;
    this.key = '';
  }
}
