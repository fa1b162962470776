// "What you see is what you sign": the lines shown before 确认签名 are decoded here from the
// exact bytes about to be signed — never taken from the form that produced them — so a
// page that built other bytes than the person asked for shows what the bytes really say.
//
// describe(domain, bytes) -> { title, rows: [[label, value], ...] }. A decoder per domain
// tag; a page that signs another kind registers its own with register().
import { read, str, sub } from './pb.js';
import { t } from './i18n.js';
import { money } from './fmt.js';

const describers = new Map();

export function register(domainName, fn) { describers.set(domainName, fn); }

export function describe(domainName, bytes) {
  const fn = describers.get(domainName);
  if (!fn) return { title: t('sign.js.unknown'), rows: [], unknown: true };
  try {
    return fn(bytes);
  } catch (e) {
    return { title: t('sign.js.unknown'), rows: [[t('sign.js.domain'), domainName]], unknown: true };
  }
}

// HolderRequest (suanli/v1/holder).
register('holder', (bytes) => {
  const m = read(bytes);
  const head = [[t('sign.js.holder'), str(m, 2)]];
  const auth = sub(m, 3), wd = sub(m, 4);
  if (auth && !wd) {
    const limit = str(auth, 3);
    return {
      title: t('sign.js.authorize'),
      rows: [
        [t('sign.js.kind'), t('sign.js.authorize')],
        [t('sign.js.voucher'), str(auth, 1)],
        [t('sign.js.provider'), str(auth, 2)],
        [t('sign.js.limit'), limit ? money(limit) : t('sign.js.no_limit')],
        ...head,
        [t('sign.js.request_id'), str(m, 1)],
      ],
    };
  }
  if (wd && !auth) {
    return {
      title: t('sign.js.withdraw'),
      rows: [
        [t('sign.js.kind'), t('sign.js.withdraw')],
        [t('sign.js.voucher'), str(wd, 1)],
        [t('sign.js.provider'), str(wd, 2)],
        ...head,
        [t('sign.js.request_id'), str(m, 1)],
      ],
    };
  }
  throw new Error('not one operation');
});
