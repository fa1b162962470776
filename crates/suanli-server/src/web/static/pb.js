// A small protobuf (proto3 wire format) writer and reader: just what the console signs and
// checks. Fields are written in field-number order, default values left out, as every
// protobuf library does by default (signed.proto's rule for signers). 64-bit integers are
// BigInt. The reader is strict: a malformed or truncated message throws.

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder('utf-8', { fatal: true });

export class Writer {
  constructor() { this.bytes = []; }
  varint(v) {
    let n = BigInt.asUintN(64, BigInt(v));
    while (n >= 0x80n) { this.bytes.push(Number(n & 0x7fn) | 0x80); n >>= 7n; }
    this.bytes.push(Number(n));
    return this;
  }
  tag(field, wire) { return this.varint((field << 3) | wire); }
  raw(b) { for (const x of b) this.bytes.push(x); return this; }
  // Length-delimited bytes; left out when empty.
  bytesField(field, b) {
    if (!b || b.length === 0) return this;
    return this.tag(field, 2).varint(b.length).raw(b);
  }
  string(field, s) { return s ? this.bytesField(field, utf8.encode(s)) : this; }
  // Integers (int32, int64, uint64, enums); left out when 0.
  int(field, v) {
    if (v === undefined || v === null || BigInt(v) === 0n) return this;
    return this.tag(field, 0).varint(v);
  }
  // An optional integer: written whenever it is given, 0 included.
  optionalInt(field, v) {
    if (v === undefined || v === null) return this;
    return this.tag(field, 0).varint(v);
  }
  bool(field, v) { return v ? this.tag(field, 0).varint(1) : this; }
  // An embedded message (a oneof member is written even when empty).
  message(field, w) {
    const b = w instanceof Writer ? w.finish() : w;
    return this.tag(field, 2).varint(b.length).raw(b);
  }
  finish() { return new Uint8Array(this.bytes); }
}

// Decodes one message into a Map of field number -> array of values: BigInt for varints,
// Uint8Array for length-delimited fields (strings, bytes, messages).
export function read(bytes) {
  const out = new Map();
  let i = 0;
  const varint = () => {
    let v = 0n, shift = 0n;
    for (;;) {
      if (i >= bytes.length) throw new Error('truncated varint');
      const b = bytes[i++];
      v |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) break;
      shift += 7n;
      if (shift > 63n) throw new Error('varint too long');
    }
    return v;
  };
  while (i < bytes.length) {
    const key = varint();
    const field = Number(key >> 3n), wire = Number(key & 7n);
    if (field === 0) throw new Error('field number 0');
    let value;
    if (wire === 0) value = varint();
    else if (wire === 2) {
      const len = Number(varint());
      if (i + len > bytes.length) throw new Error('truncated field');
      value = bytes.slice(i, i + len);
      i += len;
    } else if (wire === 1 || wire === 5) {
      const len = wire === 1 ? 8 : 4;
      if (i + len > bytes.length) throw new Error('truncated field');
      value = bytes.slice(i, i + len);
      i += len;
    } else throw new Error('unsupported wire type ' + wire);
    if (!out.has(field)) out.set(field, []);
    out.get(field).push(value);
  }
  return out;
}

// Field accessors over read()'s map (the last value wins, as in protobuf).
export const last = (m, f) => { const v = m.get(f); return v ? v[v.length - 1] : undefined; };
export const str = (m, f) => { const v = last(m, f); return v === undefined ? '' : fromUtf8.decode(v); };
export const bytes = (m, f) => last(m, f) ?? new Uint8Array();
export const u64 = (m, f) => last(m, f) ?? 0n;
export const i64 = (m, f) => BigInt.asIntN(64, last(m, f) ?? 0n);
export const i32 = (m, f) => Number(BigInt.asIntN(32, last(m, f) ?? 0n));
export const sub = (m, f) => { const v = last(m, f); return v === undefined ? undefined : read(v); };
