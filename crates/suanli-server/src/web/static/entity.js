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

document.getElementById('download-csv').addEventListener('click', async () => {
  clearMessages();
  try {
    const blob = await postForFile('/api/statement.csv', await signedRead(signer, query()));
    const year = Number(yearSelect.value);
    saveBlob(blob, year ? `statement-${year}.csv` : 'statement.csv');
  } catch (e) {
    showError(messageOf(e));
  }
});

setupKeyLoader(async (s) => {
  signer = s;
  form.hidden = false;
  await show();
});
