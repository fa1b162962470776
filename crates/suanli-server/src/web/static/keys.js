// The person's key: read from their key file (the CLI's format, crates/suanli-core/src/
// keyfile.rs: a line `suanli-ed25519-secret-key-v1`, then the base64 of the 32-byte Ed25519
// seed) into a WebCrypto key that cannot be exported. The seed is wiped from memory once
// imported; the page keeps only the CryptoKey and the public key. Nothing is stored.

const HEADER = 'suanli-ed25519-secret-key-v1';
// The PKCS #8 wrapping of an Ed25519 seed (RFC 8410): this prefix, then the 32 bytes.
const PKCS8_PREFIX = [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];

export class KeyFileError extends Error {}

export function b64decode(s) {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4 !== 0) throw new KeyFileError('base64');
  const bin = atob(s);
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

export function b64encode(bytes) {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

function b64urlDecode(s) {
  const std = s.replace(/-/g, '+').replace(/_/g, '/');
  return b64decode(std + '='.repeat((4 - (std.length % 4)) % 4));
}

// Parses a key file's text: the 32-byte seed, or KeyFileError.
export function parseKeyFile(text) {
  const lines = text.split(/\r?\n/);
  if ((lines[0] || '').trim() !== HEADER) throw new KeyFileError('header');
  const body = (lines[1] || '').trim();
  if (lines.slice(2).some((l) => l.trim() !== '')) throw new KeyFileError('body');
  const seed = b64decode(body);
  if (seed.length !== 32) throw new KeyFileError('length');
  return seed;
}

// A signer: { publicKey (32 bytes), publicKeyB64, sign(domainTag, bytes) -> 64 bytes }.
export async function loadKey(text) {
  const seed = parseKeyFile(text);
  const pkcs8 = new Uint8Array(PKCS8_PREFIX.length + 32);
  pkcs8.set(PKCS8_PREFIX);
  pkcs8.set(seed, PKCS8_PREFIX.length);
  seed.fill(0);
  let jwk;
  try {
    // Imported once as extractable only to learn the public key (WebCrypto derives it);
    // the key the page keeps is imported again, not extractable.
    const tmp = await crypto.subtle.importKey('pkcs8', pkcs8, { name: 'Ed25519' }, true, ['sign']);
    jwk = await crypto.subtle.exportKey('jwk', tmp);
  } finally {
    pkcs8.fill(0);
  }
  const key = await crypto.subtle.importKey('jwk', jwk, { name: 'Ed25519' }, false, ['sign']);
  jwk.d = '';
  const publicKey = b64urlDecode(jwk.x);
  const enc = new TextEncoder();
  return {
    publicKey,
    publicKeyB64: b64encode(publicKey),
    async sign(domain, bytes) {
      const tag = enc.encode(domain);
      const msg = new Uint8Array(tag.length + bytes.length);
      msg.set(tag);
      msg.set(bytes, tag.length);
      return new Uint8Array(await crypto.subtle.sign({ name: 'Ed25519' }, key, msg));
    },
  };
}
