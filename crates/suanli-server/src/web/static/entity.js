// The company statement: records, subsidy lines with their reasons, caps used, settlement
// and payments — a signed EntityStatement read; the CSV is the same file `suanli statement`
// writes.
import { postEnvelope, postForFile, signedRead } from './api.js';
import { clearMessages, messageOf, saveBlob, setupKeyLoader, showError } from './ui.js';

const view = document.getElementById('view');
const form = document.getElementById('statement-form');
const yearSelect = document.getElementById('year');
let signer = null;

const query = () => ({ statement: { id: '', year: Number(yearSelect.value) } });

// page: which page of the records (1 is the newest); every page is a fresh signed read.
async function show(page = 1, perPage = 0) {
  clearMessages();
  try {
    const params = new URLSearchParams({ page: String(page) });
    if (perPage > 0) params.set('per_page', String(perPage));
    const answer = await postEnvelope('/api/view/entity?' + params, await signedRead(signer, query()));
    view.innerHTML = answer.html;
  } catch (e) {
    view.replaceChildren();
    showError(messageOf(e));
  }
}

form.addEventListener('submit', (ev) => { ev.preventDefault(); show(); });

// The pager under the records: newer and older pages.
view.addEventListener('click', async (ev) => {
  const button = ev.target.closest('button[data-page]');
  if (!button || button.disabled) return;
  await show(Number(button.dataset.page), Number(button.dataset.perPage));
  const heading = document.getElementById('records-title');
  if (heading) heading.scrollIntoView();
});

// The statement file, as `suanli statement` writes it: format 0 is CSV, 2 is XLSX
// (ReportFormat in ledger.proto).
async function download(format, ext) {
  clearMessages();
  try {
    const q = query();
    q.statement.format = format;
    const blob = await postForFile('/api/statement.' + ext, await signedRead(signer, q));
    const year = Number(yearSelect.value);
    saveBlob(blob, year ? `statement-${year}.${ext}` : `statement.${ext}`);
  } catch (e) {
    showError(messageOf(e));
  }
}

document.getElementById('download-csv').addEventListener('click', () => download(0, 'csv'));
document.getElementById('download-xlsx').addEventListener('click', () => download(2, 'xlsx'));

setupKeyLoader(async (s) => {
  signer = s;
  form.hidden = false;
  await show();
});
