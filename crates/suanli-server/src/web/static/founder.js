// The voucher holder's page: load the key, read my vouchers (a signed ListVouchers read),
// authorize a provider, change a limit, withdraw — each a HolderRequest signed here.
import { postEnvelope, signedRead } from './api.js';
import { holderAuthorize, holderWithdraw, requestId } from './messages.js';
import { clearMessages, messageOf, setupKeyLoader, showError, signAndSubmit } from './ui.js';

const view = document.getElementById('view');
let signer = null;

async function refresh() {
  const env = await signedRead(signer, { holder: { holderId: '' } });
  const answer = await postEnvelope('/api/view/founder', env);
  view.innerHTML = answer.html;
}

function holderId() {
  const el = view.querySelector('[data-holder]');
  return el ? el.dataset.holder : '';
}

async function act(bytes) {
  try {
    const answer = await signAndSubmit(signer, 'holder', bytes, '/api/submit/holder');
    if (answer) await refresh();
  } catch (e) {
    showError(messageOf(e));
  }
}

view.addEventListener('submit', (ev) => {
  const form = ev.target;
  ev.preventDefault();
  clearMessages();
  const voucher = form.dataset.voucher;
  if (form.classList.contains('authorize')) {
    const provider = form.elements.provider.value.trim();
    const limit = form.elements.limit.value.trim();
    act(holderAuthorize(requestId(), holderId(), voucher, provider, limit));
  } else if (form.classList.contains('change-limit')) {
    const limit = form.elements.limit.value.trim();
    act(holderAuthorize(requestId(), holderId(), voucher, form.dataset.provider, limit));
  }
});

view.addEventListener('click', (ev) => {
  const button = ev.target.closest('button.withdraw');
  if (!button) return;
  clearMessages();
  act(holderWithdraw(requestId(), holderId(), button.dataset.voucher, button.dataset.provider));
});

document.getElementById('refresh').addEventListener('click', async () => {
  clearMessages();
  try {
    await refresh();
  } catch (e) {
    showError(messageOf(e));
  }
});

setupKeyLoader(async (s) => {
  signer = s;
  view.replaceChildren();
  document.getElementById('refresh').hidden = false;
  await refresh();
});
