// Checks done by the browser itself, with its own SHA-256 and Ed25519 (WebCrypto), so a
// reader need not trust the server: C2SP signed notes (checkpoints, report signatures),
// RFC 9162 inclusion proofs, and report files against their signature.
import { b64decode } from './keys.js';

const enc = new TextEncoder();

export async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
}

const concat = (...parts) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let i = 0;
  for (const p of parts) { out.set(p, i); i += p.length; }
  return out;
};

export const equal = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
export const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

// RFC 6962 leaf hash: SHA-256(0x00 || entry).
export const leafHash = (entry) => sha256(concat(Uint8Array.of(0), entry));
const nodeHash = (l, r) => sha256(concat(Uint8Array.of(1), l, r));

// RFC 9162 §2.1.3.2: does `path` lead from the leaf hash at `index` to `root` in a tree
// of `size` leaves?
export async function verifyInclusion(index, size, leaf, path, root) {
  if (index >= size) return false;
  let fn = index, sn = size - 1, r = leaf;
  for (const p of path) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = await nodeHash(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
      }
    } else {
      r = await nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && equal(r, root);
}

// A signed note (https://c2sp.org/signed-note): its text and signature lines. Returns
// { text, sigs: [{name, keyId, sig}] } or null when malformed.
export function parseNote(note) {
  const at = note.indexOf('\n\n');
  if (at < 0 || !note.endsWith('\n')) return null;
  const text = note.slice(0, at + 1);
  const sigs = [];
  for (const line of note.slice(at + 2).split('\n')) {
    if (line === '') continue;
    const m = /^\u2014 (\S+) ([A-Za-z0-9+/=]+)$/.exec(line);
    if (!m) return null;
    let raw;
    try { raw = b64decode(m[2]); } catch (e) { return null; }
    if (raw.length !== 68) continue; // not an Ed25519 signature: not ours
    sigs.push({ name: m[1], keyId: raw.slice(0, 4), sig: raw.slice(4) });
  }
  return sigs.length ? { text, sigs } : null;
}

// The key id of an Ed25519 key in a note: SHA-256(name || "\n" || 0x01 || key)[0..4].
async function keyId(name, publicKey) {
  return (await sha256(concat(enc.encode(name + '\n'), Uint8Array.of(1), publicKey))).slice(0, 4);
}

// Whether `note` carries a valid signature by `publicKey` (32 bytes) under any name.
// Returns the note's text lines when it does, null otherwise.
export async function verifyNote(note, publicKey) {
  const parsed = parseNote(note);
  if (!parsed) return null;
  let key;
  try {
    key = await crypto.subtle.importKey('raw', publicKey, { name: 'Ed25519' }, false, ['verify']);
  } catch (e) {
    return null;
  }
  for (const s of parsed.sigs) {
    if (!equal(await keyId(s.name, publicKey), s.keyId)) continue;
    if (await crypto.subtle.verify({ name: 'Ed25519' }, key, s.sig, enc.encode(parsed.text))) {
      return parsed.text.slice(0, -1).split('\n');
    }
  }
  return null;
}

// A checkpoint's lines: origin, size, base64 root (then optional extension lines).
export function checkpointFields(lines) {
  if (!lines || lines.length < 3 || !/^\d+$/.test(lines[1])) return null;
  let root;
  try { root = b64decode(lines[2]); } catch (e) { return null; }
  if (root.length !== 32) return null;
  return { origin: lines[0], size: Number(lines[1]), root, rootB64: lines[2] };
}

// A report's signature note (crates/suanli-server/src/reports.rs):
//   suanli/v1/report / sha256 HEX / annual YEAR FORMAT / origin / size / base64 root.
export function reportFields(lines) {
  if (!lines || lines.length < 6 || lines[0] !== 'suanli/v1/report') return null;
  const h = /^sha256 ([0-9a-f]{64})$/.exec(lines[1]);
  const a = /^annual (\d{4}) (csv|json|xlsx)$/.exec(lines[2]);
  if (!h || !a || !/^\d+$/.test(lines[4])) return null;
  return { sha256: h[1], year: a[1], format: a[2], origin: lines[3], size: Number(lines[4]), root: lines[5] };
}
