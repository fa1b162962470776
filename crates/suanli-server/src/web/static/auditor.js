// The auditor's page: fetch the latest checkpoint, look up a record with its inclusion
// proof, check a report file — every check here, in the browser.
import { getJson } from './api.js';
import { b64decode } from './keys.js';
import { checkpointFields, hex, leafHash, equal, reportFields, sha256, verifyInclusion, verifyNote } from './verify.js';
import { read, str, u64, i64 } from './pb.js';
import { money, time } from './fmt.js';
import { t } from './i18n.js';

const $ = (id) => document.getElementById(id);

function showError(message) {
  $('error').textContent = message;
  $('error').hidden = !message;
}

function ledgerKey() {
  try {
    const k = b64decode($('ledger-key').value.trim());
    if (k.length === 32) return k;
  } catch (e) { /* fall through */ }
  return null;
}

// Writes a verdict and a list of facts into a result area.
function render(area, ok, message, facts = []) {
  const box = $(area);
  box.replaceChildren();
  const p = document.createElement('p');
  p.className = ok ? 'verdict ok' : 'verdict bad';
  const badge = document.createElement('strong');
  badge.textContent = ok ? t('auditor.js.valid') : t('auditor.js.invalid');
  p.append(badge, ' ', message);
  box.append(p);
  if (facts.length) {
    const dl = document.createElement('dl');
    dl.className = 'facts';
    for (const [k, v] of facts) {
      const div = document.createElement('div');
      const dt = document.createElement('dt');
      const dd = document.createElement('dd');
      dt.textContent = k;
      dd.textContent = v;
      div.append(dt, dd);
      dl.append(div);
    }
    box.append(dl);
  }
  box.dataset.verdict = ok ? 'valid' : 'invalid';
}

function checking(area) {
  $(area).textContent = t('auditor.js.checking');
  delete $(area).dataset.verdict;
}

$('cp-fetch').addEventListener('click', async () => {
  showError('');
  const key = ledgerKey();
  if (!key) return showError(t('auditor.js.bad_pubkey'));
  checking('cp-result');
  try {
    const cp = await getJson('/api/audit/checkpoint');
    const fields = checkpointFields(await verifyNote(cp.note, key));
    if (!fields) return render('cp-result', false, t('auditor.js.cp_invalid'));
    render('cp-result', true, t('auditor.js.cp_valid', { size: fields.size }), [
      [t('auditor.js.origin'), fields.origin],
      [t('auditor.js.size'), String(fields.size)],
      [t('auditor.js.root'), fields.rootB64],
    ]);
  } catch (e) {
    $('cp-result').textContent = '';
    showError(e.message);
  }
});

// The fields of a signed record, decoded here from its bytes (signed.proto).
function recordFacts(kind, payload) {
  const m = read(payload);
  if (kind === 'corpus') {
    return [
      [t('auditor.js.field_record_id'), str(m, 1)],
      [t('auditor.js.field_provider'), str(m, 2)],
      [t('auditor.js.field_buyer'), str(m, 3)],
      [t('auditor.js.field_voucher'), str(m, 4)],
      [t('auditor.js.field_amount'), money(str(m, 5))],
      [t('auditor.js.field_span'), time(i64(m, 6))],
      [t('auditor.js.field_description'), str(m, 7)],
      [t('auditor.js.field_invoice'), str(m, 8)],
    ];
  }
  return [
    [t('auditor.js.field_record_id'), str(m, 1)],
    [t('auditor.js.field_provider'), str(m, 2)],
    [t('auditor.js.field_renter'), str(m, 3)],
    [t('auditor.js.field_contract'), str(m, 4)],
    [t('auditor.js.field_gpu'), `${str(m, 5)} × ${u64(m, 6)}`],
    [t('auditor.js.field_span'), `${time(i64(m, 7))} – ${time(i64(m, 8))}`],
    [t('auditor.js.field_hours'), str(m, 9)],
    [t('auditor.js.field_price'), str(m, 10)],
    [t('auditor.js.field_amount'), money(str(m, 11))],
    [t('auditor.js.field_voucher'), str(m, 12)],
    [t('auditor.js.field_invoice'), str(m, 13)],
  ].filter(([, v]) => v !== '');
}

// Whether `needle` occurs in `hay` (the signed payload inside the entry bytes).
function contains(hay, needle) {
  if (needle.length === 0) return false;
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

async function lookup() {
  showError('');
  const key = ledgerKey();
  if (!key) return showError(t('auditor.js.bad_pubkey'));
  const provider = $('lookup-provider').value.trim();
  const record = $('lookup-record').value.trim();
  const kind = $('lookup-kind').value;
  if (!provider || !record) return;
  checking('lookup-result');
  let r;
  try {
    r = await getJson(`/api/audit/record?provider=${encodeURIComponent(provider)}&record=${encodeURIComponent(record)}&kind=${kind}`);
  } catch (e) {
    $('lookup-result').textContent = '';
    return showError(e.message);
  }
  const entry = b64decode(r.entry);
  const payload = b64decode(r.payload);
  const cp = r.checkpoint ? checkpointFields(await verifyNote(r.checkpoint.note, key)) : null;
  if (!cp) return render('lookup-result', false, t('auditor.js.cp_invalid'));
  const leaf = await leafHash(entry);
  const path = r.proof.hashes.map(b64decode);
  const ok = cp.size === r.proof.tree_size && r.proof.index === r.seq &&
    await verifyInclusion(r.proof.index, r.proof.tree_size, leaf, path, cp.root);
  if (!ok) return render('lookup-result', false, t('auditor.js.proof_invalid'));
  if (!contains(entry, payload)) return render('lookup-result', false, t('auditor.js.entry_mismatch'));
  let facts;
  try {
    facts = recordFacts(kind, payload);
  } catch (e) {
    return render('lookup-result', false, t('auditor.js.entry_mismatch'));
  }
  const m = read(payload);
  if (str(m, 1) !== record || str(m, 2) !== provider) return render('lookup-result', false, t('auditor.js.entry_mismatch'));
  facts.push([t('auditor.js.leaf'), hex(leaf)]);
  let message = t('auditor.js.proof_valid', { seq: r.seq, size: cp.size });
  if (r.reversed_by !== null && r.reversed_by !== undefined) message += ' ' + t('auditor.js.reversed', { seq: r.reversed_by });
  render('lookup-result', true, message, facts);
}

$('lookup').addEventListener('submit', (ev) => { ev.preventDefault(); lookup(); });

$('report').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  showError('');
  const key = ledgerKey();
  if (!key) return showError(t('auditor.js.bad_pubkey'));
  const file = $('report-file').files[0];
  const sig = $('report-sig').files[0];
  if (!file || !sig) return showError(t('auditor.js.need_files'));
  checking('report-result');
  const note = await sig.text();
  const lines = await verifyNote(note, key);
  if (!lines) {
    const shape = note.includes('\n\n');
    return render('report-result', false, shape ? t('auditor.js.report_bad_sig') : t('auditor.js.report_bad_note'));
  }
  const fields = reportFields(lines);
  if (!fields) return render('report-result', false, t('auditor.js.report_bad_note'));
  const digest = hex(await sha256(new Uint8Array(await file.arrayBuffer())));
  if (digest !== fields.sha256) return render('report-result', false, t('auditor.js.report_bad_hash'));
  render('report-result', true, t('auditor.js.report_valid', { year: fields.year, format: fields.format.toUpperCase(), size: fields.size }), [
    ['SHA-256', digest],
    [t('auditor.js.origin'), fields.origin],
    [t('auditor.js.root'), fields.root],
  ]);
});

// A link from another page (a draw's "inclusion proof") names the record: look it up.
if ($('lookup-provider').value && $('lookup-record').value) lookup();
