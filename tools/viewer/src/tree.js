// tree.js: the tag browser: the namespace one level at a time
// (GET api/v1/tags?level=1&prefix=...), folders opened on click, and a
// search over the tag list (a segment holding the text: **/*TEXT*/**, or a prefix when
// the text holds a '/').
import {getJson} from './api.js';

const LIMIT = 1000;

export class TagTree {
  constructor(root, search, {onPick, isOn, onError}) {
    this.root = root;
    this.onPick = onPick;
    this.isOn = isOn;
    this.onError = onError;
    let timer = 0;
    search.addEventListener('input', () => {
      clearTimeout(timer);
      timer = setTimeout(() => this.search(search.value.trim()), 250);
    });
  }

  async showRoot() {
    this.root.replaceChildren();
    await this.fill(this.root, '');
  }

  async fill(ul, prefix) {
    const q = new URLSearchParams({level: '1', limit: String(LIMIT)});
    if (prefix) q.set('prefix', prefix);
    try {
      const items = await getJson('api/v1/tags', q);
      for (const it of items) ul.append(this.item(it.name, it.tag, it.children));
      if (items.length === LIMIT) ul.append(note('(first 1000 shown; use the search)'));
    } catch (e) {
      this.onError(e);
    }
  }

  item(name, isTag, hasChildren, unit) {
    const li = document.createElement('li');
    const label = name.slice(name.lastIndexOf('/') + 1);
    if (hasChildren) {
      const f = document.createElement('span');
      f.className = 'folder';
      f.textContent = label;
      f.dataset.folder = name;
      let sub = null;
      f.addEventListener('click', () => {
        if (sub) {
          sub.hidden = !sub.hidden;
        } else {
          sub = document.createElement('ul');
          li.append(sub);
          this.fill(sub, name + '/');
        }
        f.classList.toggle('open', !sub.hidden);
      });
      li.append(f);
    }
    if (isTag) {
      const t = document.createElement('span');
      t.className = 'tag' + (this.isOn(name) ? ' on' : '');
      t.textContent = hasChildren ? '(' + label + ')' : label;
      t.title = name;
      t.dataset.tag = name;
      if (unit)
        t.append(Object.assign(document.createElement('span'), {className: 'unit', textContent: unit}));
      t.addEventListener('click', () => this.onPick(name));
      li.append(t);
    }
    return li;
  }

  async search(text) {
    if (!text) return this.showRoot();
    const q = new URLSearchParams({limit: '200'});
    if (text.includes('/'))
      q.set('prefix', text);
    else
      q.set('pattern', `**/*${text}*/**`);
    try {
      const tags = await getJson('api/v1/tags', q);
      this.root.replaceChildren();
      for (const t of tags) {
        const li = this.item(t.name, true, false, t.unit);
        li.querySelector('.tag').firstChild.textContent = t.name;
        this.root.append(li);
      }
      if (!tags.length) this.root.append(note('no tag matches'));
    } catch (e) {
      this.onError(e);
    }
  }

  // Marks the picked tags after the pens changed.
  mark() {
    for (const el of this.root.querySelectorAll('.tag')) el.classList.toggle('on', this.isOn(el.dataset.tag));
  }
}

function note(text) {
  const li = document.createElement('li');
  li.className = 'hint';
  li.textContent = text;
  return li;
}
