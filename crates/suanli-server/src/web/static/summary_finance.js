// What a finance request says, decoded from the exact bytes about to be signed (see
// summary.js): the period to close, the payout (payee, kind, year, amount, bank
// reference), or the year to close. Registered for the 'finance' domain.
import { read, str, sub, i32 } from './pb.js';
import { register } from './summary.js';
import { t } from './i18n.js';
import { money } from './fmt.js';

const KINDS = { 1: 'finance.js.kind_renter', 2: 'finance.js.kind_supplier', 3: 'finance.js.kind_voucher' };

register('finance', (bytes) => {
  const m = read(bytes);
  const close = sub(m, 2), pay = sub(m, 3), year = sub(m, 4);
  const ops = [close, pay, year].filter((x) => x !== undefined);
  if (ops.length !== 1) throw new Error('not one operation');
  const rid = [t('sign.js.request_id'), str(m, 1)];
  if (close) {
    return {
      title: t('finance.js.sum_close'),
      rows: [[t('sign.js.kind'), t('finance.js.sum_close')], [t('finance.js.period'), str(close, 1)], rid],
    };
  }
  if (pay) {
    const kind = KINDS[i32(pay, 3)];
    if (!kind) throw new Error('unknown payable kind');
    const amount = str(pay, 5);
    return {
      title: t('finance.js.sum_payout'),
      rows: [
        [t('sign.js.kind'), t(amount.startsWith('-') ? 'finance.js.sum_clawback' : 'finance.js.sum_payout')],
        [t('finance.js.period'), str(pay, 1)],
        [t('finance.js.payee'), str(pay, 2)],
        [t('finance.js.payable_kind'), t(kind)],
        [t('finance.js.cap_year'), String(i32(pay, 4))],
        [t('finance.js.amount'), money(amount)],
        [t('finance.js.bank_ref'), str(pay, 6)],
        rid,
      ],
    };
  }
  return {
    title: t('finance.js.sum_close_year'),
    rows: [
      [t('sign.js.kind'), t('finance.js.sum_close_year')],
      [t('finance.js.cap_year'), String(i32(year, 1))],
      [t('finance.js.warning'), t('finance.js.close_year_warning', { year: String(i32(year, 1)) })],
      rid,
    ],
  };
});
