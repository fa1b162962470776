// What every signing page shares: the key loader, the error and notice areas, and the
// confirmation dialog that shows what the bytes about to be signed say.
import { KeyFileError, loadKey } from './keys.js';
import { ApiError, postEnvelope } from './api.js';
import { DOMAIN, envelope } from './messages.js';
import { describe } from './summary.js';
import { t } from './i18n.js';

const $ = (id) => document.getElementById(id);

export function showError(message) {
  const el = $('error');
  el.textContent = message;
  el.hidden = !message;
  if (message) $('notice').hidden = true;
}

export function showNotice(message) {
  const el = $('notice');
  el.textContent = message;
  el.hidden = !message;
  if (message) $('error').hidden = true;
}

export function clearMessages() { showError(''); showNotice(''); }

// The message for any failure: ApiError and KeyFileError carry one; anything else is
// reported as it is.
export function messageOf(e) {
  if (e instanceof ApiError) return e.message;
  if (e instanceof KeyFileError) return t('key.js.bad_file');
  return String(e && e.message ? e.message : e);
}

// Wires the key file input; calls onLoaded(signer) once a key is loaded.
export function setupKeyLoader(onLoaded) {
  const input = $('keyfile');
  const status = $('key-status');
  input.addEventListener('change', async () => {
    clearMessages();
    const file = input.files && input.files[0];
    if (!file) return;
    status.textContent = t('key.js.loading');
    let signer;
    try {
      if (file.size > 4096) throw new KeyFileError('size');
      signer = await loadKey(await file.text());
    } catch (e) {
      status.textContent = '';
      if (e instanceof KeyFileError) showError(t('key.js.bad_file'));
      else if (e && (e.name === 'NotSupportedError' || e.name === 'DataError')) showError(t('key.js.no_webcrypto'));
      else showError(messageOf(e));
      input.value = '';
      return;
    }
    status.textContent = t('key.js.loaded', { pubkey: signer.publicKeyB64 });
    try {
      await onLoaded(signer);
    } catch (e) {
      showError(messageOf(e));
    }
  });
}

// Shows what `bytes` say (decoded from them) and waits for 确认签名 or 取消.
export function confirmSummary(summary) {
  const dialog = $('confirm');
  $('confirm-title').textContent = t('sign.js.title');
  $('confirm-intro').textContent = t('sign.js.intro');
  const dl = $('confirm-summary');
  dl.replaceChildren();
  for (const [label, value] of summary.rows) {
    const div = document.createElement('div');
    const dt = document.createElement('dt');
    const dd = document.createElement('dd');
    dt.textContent = label;
    dd.textContent = value;
    div.append(dt, dd);
    dl.append(div);
  }
  const sign = $('confirm-sign');
  const cancel = $('confirm-cancel');
  sign.textContent = t('sign.js.confirm');
  cancel.textContent = t('sign.js.cancel');
  sign.disabled = !!summary.unknown;
  return new Promise((resolve) => {
    const done = (ok) => {
      sign.removeEventListener('click', onSign);
      cancel.removeEventListener('click', onCancel);
      dialog.removeEventListener('cancel', onCancel);
      dialog.close();
      resolve(ok);
    };
    const onSign = () => done(true);
    const onCancel = (ev) => { if (ev) ev.preventDefault(); done(false); };
    sign.addEventListener('click', onSign);
    cancel.addEventListener('click', onCancel);
    dialog.addEventListener('cancel', onCancel);
    dialog.showModal();
    cancel.focus();
  });
}

// Shows the summary of `bytes` (a message of domain `kind`: 'holder', 'finance'), and on
// 确认签名 signs exactly those bytes and submits the envelope to `path`. Returns the
// ledger's answer (JSON with status, seq, reason, message), or null when cancelled.
export async function signAndSubmit(signer, kind, bytes, path) {
  const frozen = Uint8Array.from(bytes);
  const summary = describe(kind, frozen);
  if (!(await confirmSummary(summary))) {
    showNotice(t('sign.js.cancelled'));
    return null;
  }
  const signature = await signer.sign(DOMAIN[kind], frozen);
  const answer = await postEnvelope(path, envelope(frozen, signer.publicKey, signature));
  if (answer.status === 'REJECTED') showError(answer.message);
  else showNotice(answer.message);
  return answer;
}

// Saves a Blob as a file, without navigating away.
export function saveBlob(blob, name) {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 60000);
}
