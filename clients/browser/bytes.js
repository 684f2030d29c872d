// Byte helpers on WebCrypto: nothing here throws on hostile input except where documented.

export const subtle = () => globalThis.crypto.subtle;
export const utf8 = new TextEncoder();

export const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

/** Hex (either case) to bytes, or null. */
export function fromHex(s) {
  if (typeof s !== 'string' || s.length % 2 !== 0 || /[^0-9a-fA-F]/.test(s)) return null;
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.substr(i * 2, 2), 16);
  return out;
}

/** Whether s is exactly `bytes` bytes of hex (either case). */
export const isHex = (s, bytes) => typeof s === 'string' && s.length === bytes * 2 && /^[0-9a-fA-F]*$/.test(s);

/** Standard base64 with padding (whitespace ignored, as .NET's Convert does), or null; empty is null. */
export function fromBase64(s) {
  if (typeof s !== 'string' || s.length === 0 || s.length > 16 * 1024 * 1024) return null;
  const t = s.replace(/[ \t\r\n]/g, '');
  if (t.length === 0 || t.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(t)) return null;
  try {
    const bin = atob(t);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.length > 0 ? out : null;
  } catch {
    return null;
  }
}

/** base64url without padding (JWK), or null. */
export function fromBase64Url(s) {
  if (typeof s !== 'string' || !/^[A-Za-z0-9_-]*$/.test(s)) return null;
  const b = s.replace(/-/g, '+').replace(/_/g, '/');
  return fromBase64(b + '='.repeat((4 - (b.length % 4)) % 4));
}

export function toBase64(bytes) {
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}

export function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

export const equal = (a, b) => !!a && !!b && a.length === b.length && a.every((x, i) => x === b[i]);
export const sha256 = async (bytes) => new Uint8Array(await subtle().digest('SHA-256', bytes));
export const sha384 = async (bytes) => new Uint8Array(await subtle().digest('SHA-384', bytes));
export const u16le = (b, at) => b[at] | (b[at + 1] << 8);
export const u32le = (b, at) => (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0;

/** A DER ECDSA signature (SEQUENCE { r INTEGER, s INTEGER }) as r‖s of `size` bytes each, or null. */
export function derToP1363(der, size) {
  try {
    let at = 0;
    const len = () => {
      let n = der[at++];
      if (n < 0x80) return n;
      const k = n & 0x7f;
      if (k === 0 || k > 2) throw new Error('length');
      n = 0;
      for (let i = 0; i < k; i++) n = (n << 8) | der[at++];
      return n;
    };
    if (der[at++] !== 0x30) return null;
    const total = len();
    if (at + total !== der.length) return null;
    const out = new Uint8Array(size * 2);
    for (let part = 0; part < 2; part++) {
      if (der[at++] !== 0x02) return null;
      const n = len();
      if (n === 0 || at + n > der.length) return null;
      let v = der.subarray(at, at + n);
      at += n;
      while (v.length > 1 && v[0] === 0) v = v.subarray(1);
      if (v.length > size) return null;
      out.set(v, part * size + size - v.length);
    }
    return at === der.length ? out : null;
  } catch {
    return null;
  }
}
