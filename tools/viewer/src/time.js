// time.js: the view's range as the URL holds it ("-24h", "now", epoch ms,
// RFC 3339) turned into epoch ms, and back.

const UNIT = {
  ms: 1,
  s: 1e3,
  m: 6e4,
  h: 36e5,
  d: 864e5,
  w: 6048e5
};

// Epoch ms of a range end, now being `now`; NaN when unreadable.
export function resolveTime(text, now) {
  const s = String(text).trim();
  if (s === '' || s === 'now') return now;
  if (/^\d+$/.test(s)) return Number(s);
  const m = /^(?:now)?([+-])(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/.exec(s);
  if (m) return now + (m[1] === '-' ? -1 : 1) * Number(m[2]) * UNIT[m[3]];
  return Date.parse(s);
}

// "-7d" for a window of that length ending now (the largest whole unit).
export function relativeSpan(ms) {
  for (const u of ['w', 'd', 'h', 'm', 's']) {
    if (ms >= UNIT[u] && ms % UNIT[u] === 0) return `-${ms / UNIT[u]}${u}`;
  }
  return `-${Math.max(1, Math.round(ms))}ms`;
}

// The value of an <input type=datetime-local> for epoch ms (local time).
export function toLocalInput(ms) {
  const d = new Date(ms);
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${
      p(d.getMinutes())}:${p(d.getSeconds())}`;
}
