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

async function show() {
  clearMessages();
  try {
    const answer = await postEnvelope('/api/view/entity', await signedRead(signer, query()));
    view.innerHTML = answer.html;
  } catch (e) {
    view.replaceChildren();
    showError(messageOf(e));
  }
}

form.addEventListener('submit', (ev) => { ev.preventDefault(); show(); });

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
