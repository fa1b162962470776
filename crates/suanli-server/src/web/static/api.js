// Talking to suanlid's /api: signed envelopes as protobuf bytes; answers as JSON. Every
// failure becomes an ApiError whose message says, in the page's language, what to do.
import { DOMAIN, envelope, readRequest } from './messages.js';
import { lang, t } from './i18n.js';

export class ApiError extends Error {
  constructor(code, message) { super(message); this.code = code; }
}

function url(path) {
  return path + (path.includes('?') ? '&' : '?') + 'lang=' + encodeURIComponent(lang);
}

async function call(path, init) {
  let resp;
  try {
    resp = await fetch(url(path), init);
  } catch (e) {
    throw new ApiError('unreachable', t('errors.js.unreachable'));
  }
  return resp;
}

async function json(resp) {
  try {
    return await resp.json();
  } catch (e) {
    throw new ApiError('unreachable', t('errors.js.unreachable'));
  }
}

// POSTs envelope bytes; returns the JSON answer, or throws ApiError for a refusal.
export async function postEnvelope(path, env) {
  const resp = await call(path, { method: 'POST', headers: { 'Content-Type': 'application/x-protobuf' }, body: env });
  const body = await json(resp);
  if (!resp.ok || body.error) throw new ApiError(body.error || 'other', body.message || t('errors.js.other', { detail: resp.status }));
  return body;
}

// POSTs envelope bytes for a file; returns a Blob, or throws ApiError.
export async function postForFile(path, env) {
  const resp = await call(path, { method: 'POST', headers: { 'Content-Type': 'application/x-protobuf' }, body: env });
  if (!resp.ok) {
    const body = await json(resp);
    throw new ApiError(body.error || 'other', body.message || t('errors.js.other', { detail: resp.status }));
  }
  return await resp.blob();
}

export async function getJson(path) {
  const resp = await call(path, { method: 'GET' });
  const body = await json(resp);
  if (!resp.ok || body.error) throw new ApiError(body.error || 'other', body.message || t('errors.js.other', { detail: resp.status }));
  return body;
}

// A signed read, exactly as the CLI makes it: ReadRequest { issued_at_ms: now, 16 random
// nonce bytes, query } under suanli/v1/read, in an Envelope.
export async function signedRead(signer, query) {
  const nonce = crypto.getRandomValues(new Uint8Array(16));
  const payload = readRequest(Date.now(), nonce, query);
  const signature = await signer.sign(DOMAIN.read, payload);
  return envelope(payload, signer.publicKey, signature);
}
