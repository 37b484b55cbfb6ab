// api.js: calls to historiand's API, relative to the page (so a proxy
// prefix works). A 401 asks for a read token once for all the requests
// waiting on it; the token is kept in sessionStorage (this tab only, no
// cookie) and sent as Authorization: Bearer.

const KEY = 'historian.token';
let token = sessionStorage.getItem(KEY) || '';
let asking = null;

function askToken(why) {
  if (asking) return asking;
  const dlg = document.getElementById('login');
  const input = document.getElementById('token');
  document.getElementById('login-why').textContent = why;
  input.value = '';
  asking = new Promise((resolve, reject) => {
    const done = () => {
      dlg.removeEventListener('close', done);
      asking = null;
      const t = input.value.trim();
      if (dlg.returnValue === 'ok' && t)
        resolve(t);
      else
        reject(new Error('a read token is needed to see data'));
    };
    dlg.addEventListener('close', done);
  });
  dlg.returnValue = '';
  dlg.showModal();
  return asking;
}

async function errorText(res) {
  const text = await res.text();
  try {
    return `${res.status}: ${JSON.parse(text).error}`;
  } catch {
    return `${res.status}: ${text.slice(0, 200)}`;
  }
}

// GET path?params; answers the Response (status 2xx) or throws the error.
export async function get(path, params) {
  const url = params ? `${path}?${params}` : path;
  for (let tries = 0; tries < 5; tries++) {
    const headers = token ? {Authorization: `Bearer ${token}`} : {};
    const res = await fetch(url, {headers, credentials: 'omit'});
    if (res.status === 401) {
      const why = token ? 'The server did not accept that token; enter a read token.' :
                          'This server needs a token with the read scope.';
      const sent = token;
      const t = await askToken(why);
      if (t !== sent) {
        token = t;
        sessionStorage.setItem(KEY, t);
      }
      continue;
    }
    if (!res.ok) throw new Error(await errorText(res));
    return res;
  }
  throw new Error('the server refused every token given');
}

export async function getJson(path, params) {
  return (await get(path, params)).json();
}

export function tagPath(name) {
  return 'api/v1/tags/' + name.split('/').map(encodeURIComponent).join('/');
}

// Tag metadata (type, unit), asked once per tag.
const metaCache = new Map();
export function tagMeta(name) {
  if (!metaCache.has(name)) {
    const p = getJson(tagPath(name)).catch((e) => {
      metaCache.delete(name);
      throw e;
    });
    metaCache.set(name, p);
  }
  return metaCache.get(name);
}
