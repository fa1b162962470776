// The finance bureau's page: the program dashboard (a signed read, charts drawn by the
// server), settlement periods (close, list, record a payout), the annual report (the same
// bytes as `suanli report annual`, with its .sig) and the year close. Every action is a
// FinanceRequest signed here with the finance key after the confirm dialog shows what the
// bytes say (summary_finance.js).
import './summary_finance.js';
import { postEnvelope, signedRead } from './api.js';
import { financeClosePeriod, financeCloseYear, financePayout, requestId } from './messages.js';
import { clearMessages, messageOf, saveBlob, setupKeyLoader, showError, showNotice, signAndSubmit } from './ui.js';
import { t } from './i18n.js';

const $ = (id) => document.getElementById(id);
let signer = null;

async function showDashboard() {
  const view = $('dashboard-view');
  try {
    const year = Number($('dash-year').value);
    const answer = await postEnvelope('/api/finance/dashboard', await signedRead(signer, { report: { year, format: 0 } }));
    view.innerHTML = answer.html;
  } catch (e) {
    view.replaceChildren();
    showError(messageOf(e));
  }
}

async function showPeriods() {
  const view = $('periods-view');
  try {
    const answer = await postEnvelope('/api/finance/periods', await signedRead(signer, { periods: {} }));
    view.innerHTML = answer.html;
    for (const b of view.querySelectorAll('button[data-payee]')) {
      b.addEventListener('click', () => fillPayout(b.dataset));
    }
  } catch (e) {
    view.replaceChildren();
    showError(messageOf(e));
  }
}

// A line's "record a payment" button fills the payout form; the clerk adds the bank reference.
function fillPayout(d) {
  $('pay-period').value = d.period;
  $('pay-payee').value = d.payee;
  $('pay-kind').value = d.kind;
  $('pay-year').value = d.year;
  $('pay-amount').value = d.amount;
  $('pay-bank-ref').value = '';
  $('pay-bank-ref').focus();
}

async function submit(bytes) {
  clearMessages();
  try {
    const answer = await signAndSubmit(signer, 'finance', bytes, '/api/submit/finance');
    if (answer && answer.status !== 'REJECTED') {
      await showPeriods();
      await showDashboard();
      if (answer.status === 'ACCEPTED' || answer.status === 'DUPLICATE') showNotice(answer.message);
    }
    return answer;
  } catch (e) {
    showError(messageOf(e));
    return null;
  }
}

$('close-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const name = $('close-name').value.trim();
  if (!name) { showError(t('finance.js.need_period')); return; }
  await submit(financeClosePeriod(requestId(), name));
});

$('pay-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const p = {
    period: $('pay-period').value.trim(),
    payeeId: $('pay-payee').value.trim(),
    kind: $('pay-kind').value,
    year: Number($('pay-year').value),
    amount: $('pay-amount').value.trim(),
    bankRef: $('pay-bank-ref').value.trim(),
  };
  if (!p.period || !p.payeeId || !p.amount || !p.bankRef || !p.year) { showError(t('finance.js.need_all')); return; }
  if (!/^-?\d+(\.\d{1,2})?$/.test(p.amount)) { showError(t('finance.js.bad_amount')); return; }
  await submit(financePayout(requestId(), p));
});

$('year-close-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const year = Number($('close-year').value);
  if (!year) { showError(t('finance.js.need_year')); return; }
  await submit(financeCloseYear(requestId(), year));
});

$('report-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  clearMessages();
  const year = Number($('report-year').value);
  const format = Number($('report-format').value);
  try {
    const answer = await postEnvelope('/api/finance/report', await signedRead(signer, { report: { year, format } }));
    const bytes = Uint8Array.from(atob(answer.file), (c) => c.charCodeAt(0));
    saveBlob(new Blob([bytes], { type: answer.mime }), answer.name);
    saveBlob(new Blob([answer.sig], { type: 'text/plain' }), answer.name + '.sig');
    showNotice(t('finance.js.report_saved', { name: answer.name, seq: String(answer.as_of_size) }));
  } catch (e) {
    showError(messageOf(e));
  }
});

$('dash-form').addEventListener('submit', async (ev) => { ev.preventDefault(); clearMessages(); await showDashboard(); });
$('periods-refresh').addEventListener('click', async () => { clearMessages(); await showPeriods(); });

setupKeyLoader(async (s) => {
  signer = s;
  for (const id of ['dash-form', 'periods', 'report', 'year-close']) $(id).hidden = false;
  await showDashboard();
  await showPeriods();
});
