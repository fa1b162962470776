// The page's messages (the catalogue's `js` keys, in the page's language), from the
// body's data-msgs attribute. t('key', {name: value}) fills {name} placeholders.
const msgs = JSON.parse(document.body.dataset.msgs || '{}');

export const lang = document.body.dataset.lang || 'zh';

export function t(key, vars = {}) {
  let s = msgs[key] ?? key;
  for (const [k, v] of Object.entries(vars)) s = s.split('{' + k + '}').join(String(v));
  return s;
}
