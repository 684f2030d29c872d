// TeeAspire verifier for browsers (and node ≥ 20): an ES module on WebCrypto, with pkijs/asn1js
// for X.509, CRLs and ASN.1. The same checks, by the same names, as the .NET library
// (Attestation.Verifier, README "Checks"), run over the same corpus (tests/vectors):
//
//   platform from evidence only — the HCL report parsed and bound (REPORTDATA = SHA-256(runtime
//   data), HCLAkPub = the TPM quote's AK, user-data = key-set digest ‖ 32 zero bytes), its TD
//   report = a TD quote that verifies by DCAP to the given Intel root (CRLs, QE identity,
//   collateral signed by Intel's TCB signing chain, TCB status), or an SEV-SNP report signed by
//   the VCEK of that chip → ASK → ARK; the TD policy (MRTD, RTMR0–3, MRSEAM, TDATTRIBUTES, XFAM,
//   debug); PCRs only as the quote covers them; the key set bound in extraData
//   (SHA-256(nonce ‖ digest)); an insecure platform only by the caller's explicit option.
//
// Nothing the server merely says (platform, tee_verified, JSON PCR claims, digests) is read.
// Never throws on hostile input: every defect is a failed check with its reason.

import { subtle, hex, fromHex, isHex, fromBase64, fromBase64Url, toBase64, concat, equal, sha256, sha384, u32le, utf8, derToP1363 } from './bytes.js';
import { parseStrictJson, JsonNumber, JsonFormatError, printable, isObject, member, has, text } from './json.js';
import { parsePemCertificates } from './x509.js';
import { verifyTdQuote, verifySnp, verifyImds, tdMeasurements, readCollateral } from './hardware.js';
import { readAppPolicy, verifyApp } from './app.js';

export { parseStrictJson } from './json.js';
export { createSealedClient, AttestationError, BODY_SEALING } from './sealed.js';

const pass = (name, reason) => ({ name, passed: true, reason });
const fail = (name, reason) => ({ name, passed: false, reason });

export const KEY_SET_HEADER = 'tee-aspire/key-set/v1\n';
export const ANSWER_NONCE_HEADER = 'x-answer-nonce';
export const TD_FIELDS = ['mrtd', 'rtmr0', 'rtmr1', 'rtmr2', 'rtmr3', 'mrseam', 'td_attributes', 'xfam'];
const tdFieldSize = (name) => (name === 'td_attributes' || name === 'xfam' ? 8 : 48);
const isToken = (s) => typeof s === 'string' && /^[A-Za-z0-9._-]{1,64}$/.test(s);

// ───────────────────────────── TPM quote ─────────────────────────────

/** Parses a TPMS_ATTEST of type quote (big-endian TPM structure); throws Error(reason). */
export function parseTpmAttest(message) {
  const view = new DataView(message.buffer, message.byteOffset, message.byteLength);
  let at = 0;
  const need = (n, what) => { if (n < 0 || at + n > message.length) throw new Error(`${what}: needs ${n} bytes, ${message.length - at} left`); };
  const u8 = (w) => { need(1, w); return view.getUint8(at++); };
  const u16 = (w) => { need(2, w); const v = view.getUint16(at); at += 2; return v; };
  const u32 = (w) => { need(4, w); const v = view.getUint32(at); at += 4; return v; };
  const bytes = (n, w) => { need(n, w); const v = message.slice(at, at + n); at += n; return v; };
  const sized = (w) => bytes(u16(`${w} size`), w);
  if (u32('magic') !== 0xff544347) throw new Error('not a TPM-generated structure (magic)');
  if (u16('type') !== 0x8018) throw new Error('not a quote (type)');
  sized('qualifiedSigner');
  const extraData = sized('extraData');
  bytes(17, 'clockInfo');
  bytes(8, 'firmwareVersion');
  const count = u32('pcrSelect count');
  if (count > 16) throw new Error('too many PCR banks');
  const selections = [];
  for (let i = 0; i < count; i++) {
    const hash = u16('pcrSelect hash');
    const bitmap = bytes(u8('sizeofSelect'), 'pcrSelect');
    const pcrs = [];
    for (let b = 0; b < bitmap.length * 8; b++) if (bitmap[b >> 3] & (1 << (b & 7))) pcrs.push(b);
    selections.push({ hash, pcrs });
  }
  const pcrDigest = sized('pcrDigest');
  if (at !== message.length) throw new Error('trailing bytes after the quote');
  return { extraData, selections, pcrDigest };
}

/** Imports an SPKI for verification only when it is canonical DER (one key, one encoding), as .NET does. */
async function canonicalKey(spki, importAlg) {
  try {
    const key = await subtle().importKey('spki', spki, importAlg, true, ['verify']);
    return equal(new Uint8Array(await subtle().exportKey('spki', key)), spki) ? key : null;
  } catch {
    return null;
  }
}

/** A signature over `message` (SHA-256) by an RSA (PKCS#1 v1.5 or PSS) or ECDSA P-256 (r‖s or DER) key. */
export async function verifyTpmSignature(message, signature, spki) {
  const attempts = [
    [{ name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, { name: 'RSASSA-PKCS1-v1_5' }],
    [{ name: 'RSA-PSS', hash: 'SHA-256' }, { name: 'RSA-PSS', saltLength: 32 }],
  ];
  for (const [importAlg, verifyAlg] of attempts) {
    const key = await canonicalKey(spki, importAlg);
    if (!key) continue;
    try { if (await subtle().verify(verifyAlg, key, signature, message)) return true; } catch { /* not this padding */ }
  }
  const ec = await canonicalKey(spki, { name: 'ECDSA', namedCurve: 'P-256' });
  if (!ec) return false;
  for (const sig of [signature, derToP1363(signature, 32)]) {
    if (!sig || sig.length !== 64) continue;
    try { if (await subtle().verify({ name: 'ECDSA', hash: 'SHA-256' }, ec, sig, message)) return true; } catch { /* next form */ }
  }
  return false;
}

/** Whether a PCR key is canonical: decimal 0–23, no sign, space or leading zero ("7", never "07"). */
export function pcrIndex(key) {
  if (typeof key !== 'string' || !/^(?:[0-9]|1[0-9]|2[0-3])$/.test(key)) return -1;
  return Number(key);
}

/**
 * Checks a TPM quote; PCR values are read only as the quote covers them.
 * @param {{message: Uint8Array, signature: Uint8Array, akSpki: Uint8Array, pcrs: Array<[string, string|null]>, expectedExtraData: Uint8Array}} q
 * @returns {Promise<{checks: object[], quoted: Map<number, Uint8Array>|null}>}
 */
export async function verifyTpmQuote({ message, signature, akSpki, pcrs, expectedExtraData }) {
  const checks = [];
  let attest;
  try {
    attest = parseTpmAttest(message);
    checks.push(pass('tpm_quote.structure', 'TPMS_ATTEST of type quote, made by a TPM'));
  } catch (e) {
    checks.push(fail('tpm_quote.structure', e.message));
    return { checks, quoted: null };
  }
  checks.push(await verifyTpmSignature(message, signature, akSpki)
    ? pass('tpm_quote.signature', 'signed by the attestation key')
    : fail('tpm_quote.signature', 'the signature does not verify with the attestation key'));
  const { values, why } = readSelected(attest, pcrs);
  let quoted = null;
  checks.push(values ? pass('tpm_quote.pcr_values', `one value for each PCR the quote selects (${[...values.keys()].join(',')}), no other`)
    : fail('tpm_quote.pcr_values', why));
  if (values) {
    const ordered = [];
    for (const s of attest.selections) for (const i of s.pcrs) ordered.push(values.get(i));
    const same = equal(await sha256(concat(...ordered)), attest.pcrDigest);
    checks.push(same ? pass('tpm_quote.pcr_digest', 'the PCR values hash to the quoted pcrDigest')
      : fail('tpm_quote.pcr_digest', 'the PCR values do not hash to the quoted pcrDigest'));
    if (same) quoted = values;
  } else {
    checks.push(fail('tpm_quote.pcr_digest', 'no PCR values to check against the quoted digest'));
  }
  checks.push(equal(attest.extraData, expectedExtraData)
    ? pass('tpm_quote.extra_data', 'extraData = SHA-256(our nonce ‖ key-set digest)')
    : fail('tpm_quote.extra_data', 'extraData does not match: another nonce or another key set'));
  return { checks, quoted };
}

function readSelected(attest, pcrs) {
  const selected = new Set();
  for (const s of attest.selections) {
    if (s.pcrs.length === 0) continue;
    if (s.hash !== 0x000b) return { why: `the quote selects PCRs of hash algorithm 0x${s.hash.toString(16).padStart(4, '0')}; only the sha256 bank is read` };
    for (const i of s.pcrs) selected.add(i);
  }
  const values = new Map();
  for (const [key, value] of pcrs) {
    const index = pcrIndex(key);
    if (index < 0) return { why: `PCR key '${key.length <= 8 && /^[!-~]*$/.test(key) ? key : '…'}' is not a canonical index 0–23 ("7", never "07")` };
    if (values.has(index)) return { why: `PCR ${index} is given twice` };
    if (!selected.has(index)) return { why: `PCR ${index} is given but the quote does not select it (not covered by the signature)` };
    if (!isHex(value, 32)) return { why: `PCR ${index}'s value is not 64 hex digits` };
    values.set(index, fromHex(value));
  }
  for (const index of selected) if (!values.has(index)) return { why: `the quote selects PCR ${index} but the report gives no value for it` };
  return { values: new Map([...values.entries()].sort((a, b) => a[0] - b[0])) };
}

// ───────────────────────────── Key set ─────────────────────────────

/**
 * The key set (PROTOCOL.md "Key set"): canonical bytes and digest recomputed from purpose, alg and
 * public key only; throws Error(reason) for a malformed set.
 * @returns {Promise<{keys: Array<{purpose, alg, publicKey: Uint8Array, fingerprint: string}>, canonical: Uint8Array, digest: Uint8Array}>}
 */
export async function readKeySet(json) {
  if (!isObject(json) || !Array.isArray(member(json, 'keys'))) throw new Error('key_set must be an object with a keys array');
  const version = member(json, 'version');
  if (!(version instanceof JsonNumber) || !/^-?[0-9]+$/.test(version.raw) || Number(version.raw) !== 1) throw new Error('key_set.version must be 1');
  const lines = new Map();
  for (const key of member(json, 'keys')) {
    if (!isObject(key)) throw new Error('a key-set entry is not an object');
    const field = (name) => { const v = text(key, name); if (v === null) throw new Error(`a key-set entry lacks ${name}`); return v; };
    const purpose = field('purpose');
    const alg = field('alg');
    const publicKey = fromBase64(field('public_key'));
    if (!publicKey) throw new Error('a key-set public_key is not base64');
    if (!isToken(purpose) || !isToken(alg) || publicKey.length > 4096) throw new Error('a key-set entry has a malformed purpose, algorithm or public key');
    const line = `${purpose} ${alg} ${toBase64(publicKey)}\n`;
    if (!lines.has(line)) lines.set(line, { purpose, alg, publicKey, fingerprint: hex(await sha256(publicKey)) });
  }
  const sorted = [...lines.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const canonical = utf8.encode(KEY_SET_HEADER + sorted.join(''));
  return { keys: sorted.map((l) => lines.get(l)), canonical, digest: await sha256(canonical) };
}

/** The answer-signing ES256 key with this fingerprint in a key set, or null. */
export const findSigningKey = (keySet, fingerprint) =>
  keySet?.keys.find((k) => k.purpose === 'answer-signing' && k.alg === 'ES256' && k.fingerprint === fingerprint) ?? null;

// ───────────────────────────── Policy ─────────────────────────────

/** A policy that cannot be used; reported as the check `policy.format`. */
export class PolicyFormatError extends Error {}

/**
 * Loads a policy file (PROTOCOL.md "Policy file") exactly as `--policy` does: unknown fields,
 * duplicate names, non-canonical PCR keys, wrong sizes and `allow_insecure_platform` fail.
 * @param {string|object} source the file's text (preferred: duplicates are detected) or a parsed object
 */
export function loadPolicy(source) {
  let root;
  try {
    root = typeof source === 'string' ? parseStrictJson(source, { maxDepth: 16 }).value : parseStrictJson(JSON.stringify(source ?? null), { maxDepth: 16 }).value;
  } catch (e) {
    throw new PolicyFormatError(`the policy is not JSON: ${e.message}`);
  }
  const members = (o, what) => {
    if (!isObject(o)) throw new PolicyFormatError(`${what} must be a JSON object`);
    return Object.entries(o);
  };
  const fields = new Map(members(root, 'the policy'));
  if (fields.has('allow_insecure_platform'))
    throw new PolicyFormatError('allow_insecure_platform cannot be set in a policy file: an insecure platform is accepted only by the explicit option {allowInsecurePlatform: true} (--allow-insecure-platform on the command line)');
  for (const name of fields.keys())
    if (!['platform', 'td', 'tcb', 'pcrs', 'signing_key_fingerprint', 'app', 'answer'].includes(name)) throw new PolicyFormatError(`unknown policy field '${printable(name)}'`);
  const policy = { platform: null, td: new Map(), allowDebug: false, tcbAccept: ['UpToDate'], pcrs: new Map(), signingKeyFingerprint: null, app: null, answerModels: [] };
  const platform = fields.get('platform');
  if (platform !== undefined && platform !== null) {
    if (platform !== 'azure-tdx' && platform !== 'azure-snp') throw new PolicyFormatError('platform must be "azure-tdx" or "azure-snp"');
    policy.platform = platform;
  }
  if (fields.has('td')) {
    for (const [name, value] of members(fields.get('td'), 'td')) {
      if (name === 'allow_debug') {
        if (typeof value !== 'boolean') throw new PolicyFormatError('td.allow_debug must be true or false');
        policy.allowDebug = value;
        continue;
      }
      if (!TD_FIELDS.includes(name)) throw new PolicyFormatError(`unknown td field '${printable(name)}'`);
      const bytes = tdFieldSize(name);
      if (!Array.isArray(value) || value.length === 0 || value.length > 256) throw new PolicyFormatError(`td.${name} must be a non-empty list of accepted values`);
      policy.td.set(name, value.map((v) => {
        if (!isHex(v, bytes)) throw new PolicyFormatError(`td.${name} values must be ${bytes * 2} hex digits`);
        return v.toLowerCase();
      }));
    }
  }
  if (fields.has('tcb')) {
    for (const [name, value] of members(fields.get('tcb'), 'tcb')) {
      if (name !== 'accept') throw new PolicyFormatError(`unknown tcb field '${printable(name)}'`);
      if (!Array.isArray(value) || value.length === 0 || value.length > 16) throw new PolicyFormatError('tcb.accept must be a non-empty list of TCB statuses');
      policy.tcbAccept = value.map((v) => {
        if (!isToken(v)) throw new PolicyFormatError('tcb.accept values must be TCB status names such as "UpToDate"');
        return v;
      });
    }
  }
  if (fields.has('pcrs')) {
    for (const [name, value] of members(fields.get('pcrs'), 'pcrs')) {
      const index = pcrIndex(name);
      if (index < 0) throw new PolicyFormatError(`PCR key '${printable(name)}' is not a canonical decimal index 0–23 ("7", never "07")`);
      if (!isHex(value, 32)) throw new PolicyFormatError(`pcrs.${index} must be 64 hex digits (a sha256 PCR value)`);
      policy.pcrs.set(index, value.toLowerCase());
    }
    policy.pcrs = new Map([...policy.pcrs.entries()].sort((a, b) => a[0] - b[0]));
  }
  const pin = fields.get('signing_key_fingerprint');
  if (pin !== undefined && pin !== null) {
    if (!isHex(pin, 32)) throw new PolicyFormatError('signing_key_fingerprint must be 64 hex digits');
    policy.signingKeyFingerprint = pin.toLowerCase();
  }
  const app = fields.get('app');
  if (app !== undefined && app !== null) policy.app = readAppPolicy(app, (m) => new PolicyFormatError(m));
  const answer = fields.get('answer');
  if (answer !== undefined && answer !== null) {
    for (const [name, value] of members(answer, 'answer')) {
      if (name !== 'models') throw new PolicyFormatError(`unknown answer field '${printable(name)}'`);
      if (!Array.isArray(value) || value.length === 0 || value.length > 256) throw new PolicyFormatError('answer.models must be a non-empty list of <model>@sha256:<64 lowercase hex>');
      for (const v of value) {
        if (!isModelRef(v)) throw new PolicyFormatError('answer.models values must be <model>@sha256:<64 lowercase hex>');
        if (policy.answerModels.includes(v)) throw new PolicyFormatError(`answer.models lists ${v} twice`);
        policy.answerModels.push(v);
      }
    }
  }
  return policy;
}

/** `<ollama model>@sha256:<64 lowercase hex>`, as ModelRef.TryParse in .NET. */
const isModelRef = (v) => typeof v === 'string' && /^[A-Za-z0-9][A-Za-z0-9._/:-]{0,199}@sha256:[0-9a-f]{64}$/.test(v);

// ───────────────────────────── HCL report ─────────────────────────────

/** The Azure HCL report (vTPM NV 0x01400001), parsed as the .NET HclReport.Parse does; throws Error(reason). */
export function parseHclReport(data) {
  const REQUEST = 1216;
  if (data.length < REQUEST + 20) throw new Error('HCL report: too short');
  if (!(data[0] === 0x48 && data[1] === 0x43 && data[2] === 0x4c && data[3] === 0x41)) throw new Error('HCL report: no HCLA signature');
  const type = u32le(data, REQUEST + 8);
  const hashType = u32le(data, REQUEST + 12);
  const size = u32le(data, REQUEST + 16);
  if (hashType !== 1) throw new Error(`HCL report: hash type ${hashType} is not SHA-256`);
  if (size > data.length - (REQUEST + 20)) throw new Error('HCL report: runtime data runs past the end');
  let hardware;
  let reportData;
  if (type === 4) {
    hardware = data.slice(32, 32 + 1024);
    reportData = data.slice(32 + 128, 32 + 192);
  } else if (type === 2) {
    hardware = data.slice(32, 32 + 1184);
    reportData = data.slice(32 + 0x50, 32 + 0x90);
  } else {
    throw new Error(`HCL report: unknown report type ${type}`);
  }
  return { type: type === 4 ? 'Tdx' : 'Snp', hardware, reportData, runtimeData: data.slice(REQUEST + 20, REQUEST + 20 + size) };
}

/** The runtime data's JSON (duplicates allowed, as System.Text.Json reads it: the last one wins). */
function runtimeJson(hcl) {
  return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(hcl.runtimeData));
}

/** HCLAkPub (RSA JWK in the runtime data) as SubjectPublicKeyInfo DER; throws Error(reason). */
async function hclAkSpki(hcl) {
  const keys = runtimeJson(hcl)?.keys;
  if (!Array.isArray(keys)) throw new Error('runtime data has no keys');
  for (const key of keys) {
    if (key?.kid !== 'HCLAkPub') continue;
    const n = fromBase64Url(key.n);
    const e = fromBase64Url(key.e);
    if (!n || !e) throw new Error('HCLAkPub is not an RSA key');
    const imported = await subtle().importKey('jwk', { kty: 'RSA', n: key.n, e: key.e, alg: 'RS256', ext: true }, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, true, ['verify']);
    return new Uint8Array(await subtle().exportKey('spki', imported));
  }
  throw new Error('HCL report: runtime data has no HCLAkPub');
}

/** user-data (64 bytes of hex in the runtime data), or an empty array. */
function hclUserData(hcl) {
  const u = runtimeJson(hcl)?.['user-data'];
  if (typeof u !== 'string') return new Uint8Array(0);
  const bytes = fromHex(u);
  if (!bytes) throw new Error('user-data is not hex');
  return bytes;
}

// ───────────────────────────── Report ─────────────────────────────

/** A PEM certificate (string) or a parsed one. */
function anchor(pem) {
  if (!pem) return null;
  if (typeof pem !== 'string') return pem;
  return parsePemCertificates(pem)?.[0] ?? null;
}

const OPTION_NAMES = new Set(['policy', 'allowInsecurePlatform', 'intelRoot', 'amdArk', 'imdsRoots', 'collateral', 'now',
  'baseUrl', 'apiKey', 'prompt', 'messages', 'model', 'fetch']);

/**
 * Verifies a report the service returned for `nonce`.
 * @param {string|Uint8Array|object} report the report as received: its text (preferred — a member
 *   named twice is then refused) or a parsed object
 * @param {Uint8Array} nonce the 16–64 random bytes sent as `?nonce=`
 * @param {{policy?: string|object, allowInsecurePlatform?: boolean, intelRoot?: string, amdArk?: string,
 *   collateral?: string|object, imdsRoots?: string[], now?: Date}} options `policy` is a policy file (text or object; it
 *   can never enable an insecure platform); `allowInsecurePlatform` is the caller's explicit
 *   switch for a software TPM; `intelRoot` / `amdArk` are PEM trust anchors; `collateral` a DCAP
 *   collateral bundle; `imdsRoots` PEM roots for the IMDS attested document; `now` the time certificates, CRLs and collateral must be valid at.
 * @returns {Promise<{passed: boolean, checks: object[], platform: string, insecure: boolean,
 *   keySet: object|null, quotedPcrs: Map<number, Uint8Array>, td: object|null, tcb: object|null}>}
 */
export async function verifyReport(report, nonce, options = {}) {
  const checks = [];
  const done = (extra = {}) => ({ passed: checks.length > 0 && checks.every((c) => c.passed), checks, platform: 'none', insecure: false, keySet: null, quotedPcrs: new Map(), td: null, tcb: null, ...extra });
  let policy;
  const unknown = Object.keys(options ?? {}).filter((k) => !OPTION_NAMES.has(k));
  if (unknown.length) {
    // An old-style call verifyReport(report, nonce, {pcrs: …}) must not have its expectations ignored.
    checks.push(fail('policy.format', `unknown option(s) ${unknown.map(printable).join(', ')}: expectations go in options.policy (a policy file), trust anchors and allowInsecurePlatform beside it`));
    return done();
  }
  try {
    policy = options.policy === undefined || options.policy === null ? loadPolicy({}) : loadPolicy(options.policy);
  } catch (e) {
    checks.push(fail('policy.format', e instanceof PolicyFormatError ? e.message : 'the policy cannot be read'));
    return done();
  }
  try {
    return await new Run(report, nonce, policy, options, checks).execute(done);
  } catch (e) {
    checks.push(fail('verifier.internal_error', `the verifier failed on this input (${e?.name ?? 'error'}: ${e?.message ?? e}); refused`));
    return done();
  }
}

class Run {
  constructor(report, nonce, policy, options, checks) {
    Object.assign(this, { report, nonce: nonce instanceof Uint8Array ? nonce : new Uint8Array(0), policy, options, checks });
    this.keySet = null;
    this.ak = null;
    this.pcrs = null;
    this.td = null;
    this.tcb = null;
    this.platform = 'none';
    this.insecure = false;
    this.now = options.now instanceof Date && !Number.isNaN(options.now.getTime()) ? options.now : new Date();
  }

  add(name, passed, ok, no) { this.checks.push(passed ? pass(name, ok) : fail(name, no)); return passed; }
  fail(name, reason) { this.checks.push(fail(name, reason)); return false; }

  async execute(done) {
    const evidence = this.structure();
    if (!evidence) return done();
    this.checkNonce();
    await this.checkKeySet();
    await this.checkTpmQuote(evidence);
    await this.checkHardware(evidence);
    this.checkPolicy();
    // The measured launch, replayed against the PCR values as quoted (only with a policy `app` section).
    if (this.policy.app) this.checks.push(...await verifyApp(this.json, this.pcrs, this.policy.app));
    if (has(evidence, 'imds_attested_document')) await this.checkImds(member(evidence, 'imds_attested_document'));
    return done({ platform: this.platform, insecure: this.insecure, keySet: this.keySet, quotedPcrs: this.pcrs ?? new Map(), td: this.td, tcb: this.tcb });
  }

  structure() {
    let value;
    try {
      const source = this.report instanceof Uint8Array ? new TextDecoder('utf-8', { fatal: true }).decode(this.report)
        : typeof this.report === 'string' ? this.report : JSON.stringify(this.report ?? null);
      value = parseStrictJson(source).value;
    } catch (e) {
      return this.fail('report.format', e instanceof JsonFormatError && /named twice/.test(e.message) ? `the report ${e.message.replace(/^the /, '')}` : `the report is not JSON: ${e.message}`);
    }
    if (!isObject(value)) return this.fail('report.format', 'the report is not a JSON object');
    const evidence = member(value, 'evidence');
    if (!isObject(evidence)) return this.fail('report.format', 'the report has no evidence object');
    this.json = value;
    return evidence;
  }

  checkNonce() {
    const echoed = text(this.json, 'nonce');
    if (this.nonce.length < 16 || this.nonce.length > 64) this.fail('nonce', "the verifier's nonce must be 16–64 random bytes");
    else this.add('nonce', echoed === hex(this.nonce), 'the report echoes our nonce', echoed === null ? 'the report has no nonce (a replayable boot report)' : 'the report answers another nonce');
  }

  async checkKeySet() {
    if (!has(this.json, 'key_set')) {
      this.fail('key_set', "the report carries no key set: nothing binds the service's keys to the evidence");
    } else {
      try {
        this.keySet = await readKeySet(member(this.json, 'key_set'));
        this.checks.push(pass('key_set', `${this.keySet.keys.length} key(s), digest ${hex(this.keySet.digest).slice(0, 16)}… (recomputed)`));
      } catch (e) {
        this.fail('key_set', e.message);
      }
    }
    const pinned = this.policy.signingKeyFingerprint;
    if (pinned) this.add('key_set.pinned', !!findSigningKey(this.keySet, pinned), 'the key set holds the pinned answer-signing key', 'the key set does not hold the pinned answer-signing key');
  }

  async checkTpmQuote(evidence) {
    const quote = member(evidence, 'tpm_quote');
    if (!isObject(quote)) { this.fail('tpm_quote', 'the report has no TPM quote'); return; }
    const message = fromBase64(text(quote, 'message'));
    const signature = fromBase64(text(quote, 'signature'));
    this.ak = fromBase64(text(quote, 'ak_public'));
    if (!message || !signature || !this.ak) { this.fail('tpm_quote.structure', 'tpm_quote needs base64 message, signature and ak_public'); return; }
    const p = member(quote, 'pcrs');
    const sha = isObject(p) && has(p, 'sha256') ? member(p, 'sha256') : undefined;
    if (sha !== undefined && !isObject(sha)) { this.fail('tpm_quote.pcr_values', 'tpm_quote.pcrs.sha256 must be an object'); return; }
    const pcrs = Object.entries(sha ?? {}).map(([k, v]) => [k, typeof v === 'string' ? v : null]);
    const expected = this.keySet ? await sha256(concat(this.nonce, this.keySet.digest)) : new Uint8Array(33);
    const { checks, quoted } = await verifyTpmQuote({ message, signature, akSpki: this.ak, pcrs, expectedExtraData: expected });
    this.checks.push(...checks);
    this.pcrs = quoted;
  }

  async checkHardware(evidence) {
    const hasHcl = has(evidence, 'hcl_report');
    const hasTd = has(evidence, 'td_quote');
    if (!hasHcl && !hasTd) {
      if (this.options.allowInsecurePlatform === true) {
        this.insecure = true;
        this.checks.push(pass('platform', 'INSECURE: no hardware evidence — the TPM\'s key is vouched for by nothing; accepted only because the caller allowed an insecure platform'));
      } else {
        this.fail('platform', 'no hardware evidence (no HCL report, no TD quote): the JSON\'s platform claims prove nothing; refused ({allowInsecurePlatform: true} accepts a software TPM for development)');
      }
      return;
    }
    if (!hasHcl) {
      this.fail('hcl_report', "a TD quote without an HCL report: nothing ties the TPM's key to the TD");
      this.fail('platform', 'the hardware evidence is incomplete');
      return;
    }
    const hardware = await this.checkHcl(member(evidence, 'hcl_report'), hasTd ? member(evidence, 'td_quote') : undefined, hasTd, evidence);
    if (hardware === null) this.fail('platform', 'the hardware evidence does not verify (see the failed checks)');
    else {
      this.platform = hardware;
      this.checks.push(pass('platform', `${hardware}: the hardware chain covers the TPM's key and the key set`));
    }
  }

  async check(name, condition, ok, no) {
    let passed;
    let why = null;
    try {
      passed = !!(await condition());
    } catch (e) {
      passed = false;
      why = e?.message ?? String(e);
    }
    return this.add(name, passed, ok, why === null ? no : `${no}: ${why}`);
  }

  async checkHcl(hclJson, tdJson, hasTd, evidence) {
    let hcl;
    try {
      const bytes = typeof hclJson === 'string' ? fromBase64(hclJson) : null;
      if (!bytes) throw new Error('hcl_report is not base64');
      hcl = parseHclReport(bytes);
      this.checks.push(pass('hcl_report.format', `an HCL report of type ${hcl.type}`));
    } catch (e) {
      this.fail('hcl_report.format', e.message);
      return null;
    }
    let ok = true;
    ok = await this.check('hcl_report.runtime_data', async () => equal(await sha256(hcl.runtimeData), hcl.reportData.subarray(0, 32)),
      'REPORTDATA[0:32] = SHA-256(runtime data): the hardware report covers HCLAkPub and user-data', 'REPORTDATA does not hash the runtime data') && ok;
    ok = await this.check('hcl_report.ak', async () => this.ak !== null && equal(await hclAkSpki(hcl), this.ak),
      "the TPM quote's AK is the hardware-reported HCLAkPub", 'the TPM quote was signed by another key than HCLAkPub') && ok;
    ok = await this.check('hcl_report.user_data', async () => this.keySet !== null && equal(hclUserData(hcl), concat(this.keySet.digest, new Uint8Array(32))),
      'user-data = key-set digest ‖ 32 zero bytes', 'user-data does not bind this key set') && ok;
    if (hcl.type === 'Tdx') {
      const r = hcl.hardware;
      ok = await this.check('hcl_report.td_report', async () => r.length === 1024
        && equal(await sha384(r.subarray(256, 495)), r.subarray(32, 80)) && equal(await sha384(r.subarray(512, 1024)), r.subarray(80, 128)),
      "the TD report's TEE_TCB_INFO and TDINFO hash to its REPORTMACSTRUCT", "the TD report's TEE_TCB_INFO or TDINFO does not hash to its REPORTMACSTRUCT") && ok;
      if (!hasTd) {
        this.fail('td_quote', "a TDX HCL report without a TD quote: the TD report's MAC can be checked only on that machine");
        return null;
      }
      ok = (await this.checkTdQuote(tdJson, r)) && ok;
      return ok ? 'azure-tdx' : null;
    }
    if (hasTd) ok = this.fail('td_quote', 'a TD quote beside an SEV-SNP HCL report') && ok;
    const snp = await verifySnp(hcl.hardware, text(evidence, 'snp_vcek_chain'), { amdArk: anchor(this.options.amdArk), now: this.now });
    this.checks.push(...snp.checks);
    return ok && snp.ok ? 'azure-snp' : null;
  }

  async checkTdQuote(json, tdReport) {
    const bytes = typeof json === 'string' ? fromBase64(json) : null;
    if (!bytes) return this.fail('td_quote.format', 'td_quote is not base64');
    const { checks, quote, tcb } = await verifyTdQuote(bytes, {
      intelRoot: anchor(this.options.intelRoot),
      collateral: readCollateral(this.options.collateral),
      now: this.now,
      tcbAccept: this.policy.tcbAccept,
    });
    this.checks.push(...checks);
    this.tcb = tcb;
    if (!quote) return false;
    let ok = checks.every((c) => c.passed);
    const body = tdMeasurements(quote.body);
    const r = tdReport;
    ok = await this.check('td_quote.matches_hcl', () => equal(body.teeTcbSvn, r.subarray(264, 280)) && equal(body.mrSeam, r.subarray(280, 328))
      && equal(body.mrSignerSeam, r.subarray(328, 376)) && equal(body.seamAttributes, r.subarray(376, 384))
      && equal(body.tdAttributes, r.subarray(512, 520)) && equal(body.xfam, r.subarray(520, 528))
      && equal(body.tdInfoMeasurements, r.subarray(528, 912)) && equal(body.reportData, r.subarray(128, 192)),
    "the TD quote's body is the HCL report's TD report (SEAM, TD attributes, XFAM, MRTD, config/owner ids, RTMRs, REPORTDATA)",
    "the TD quote is of another TD report than the HCL report's") && ok;
    this.td = ok ? body : null;
    return ok;
  }

  async checkImds(imds) {
    const signature = isObject(imds) ? text(imds, 'signature') : null;
    if (signature === null) this.fail('imds.signature', 'imds_attested_document has no signature');
    else this.checks.push(...await verifyImds(signature, this.options.imdsRoots ?? [], this.now));
  }

  checkPolicy() {
    const p = this.policy;
    if (p.platform) this.add('policy.platform', this.platform === p.platform, `the evidence proves ${p.platform}`, `the policy requires ${p.platform}; the evidence proves ${this.insecure ? 'no hardware platform (insecure)' : this.platform}`);
    if (this.td) this.add('policy.debug', p.allowDebug || !this.td.debug, this.td.debug ? 'a debug TD, allowed by the policy' : 'the TD is not in debug mode', 'the TD runs in debug mode (TDATTRIBUTES.DEBUG): its host can read and change it; refused unless the policy sets allow_debug');
    for (const field of TD_FIELDS) {
      const accepted = p.td.get(field);
      if (!accepted) continue;
      if (!this.td) { this.fail(`policy.${field}`, 'the policy pins the TD but there is no verified TD quote'); continue; }
      const actual = this.td.field(field);
      this.add(`policy.${field}`, accepted.includes(actual), `${field} ${actual.slice(0, 16)}… is accepted`, `${field} is ${actual.slice(0, 16)}…, not a value the policy accepts`);
    }
    for (const [index, value] of p.pcrs) {
      const name = `policy.pcr${index}`;
      if (!this.pcrs) this.fail(name, 'no quoted PCR values to compare');
      else if (!this.pcrs.has(index)) this.fail(name, `PCR ${index} is not in the quote's selection`);
      else {
        const actual = hex(this.pcrs.get(index));
        this.add(name, actual === value, 'matches the expected measurement', `is ${actual.slice(0, 16)}…, expected ${value.slice(0, 16)}…`);
      }
    }
  }
}

// ───────────────────────────── Answers ─────────────────────────────

/** The statement an answer's signature covers (PROTOCOL.md "Answer statement"); throws Error for a field out of its pattern. */
export function answerStatement(id, created, requestSha256, responseSha256, nonceHex, model = null) {
  if (typeof id !== 'string' || !/^chatcmpl-[A-Za-z0-9]{1,64}$/.test(id)) throw new Error('id is not a completion id');
  if (!Number.isSafeInteger(created) || created < 0) throw new Error('created is not a non-negative integer');
  if (!/^[0-9a-f]{64}$/.test(requestSha256) || !/^[0-9a-f]{64}$/.test(responseSha256)) throw new Error('not lowercase hex SHA-256');
  const nonce = nonceHex ?? '';
  if (nonce.length !== 0 && !/^(?:[0-9a-f]{2}){16,64}$/.test(nonce)) throw new Error('the nonce is not lowercase hex of 16–64 bytes');
  if (model !== null && !isModelRef(model)) throw new Error('the model is not <name>@sha256:<64 lowercase hex>');
  return model === null
    ? `tee-aspire/answer/v1\nid=${id}\ncreated=${created}\nrequest_sha256=${requestSha256}\nresponse_sha256=${responseSha256}\nnonce=${nonce}\n`
    : `tee-aspire/answer/v2\nid=${id}\ncreated=${created}\nmodel=${model}\nrequest_sha256=${requestSha256}\nresponse_sha256=${responseSha256}\nnonce=${nonce}\n`;
}

/**
 * The model a response names, as AnswerVerifier.ModelOf in .NET: the `system_fingerprint` of a
 * `chat.completion`, or of the stream's `data:` events (all that carry one must agree); a value that
 * is not `name@sha256:hex` names none. Never throws.
 * @returns {{model: string|null, error: string|null}}
 */
export function answerModel(response) {
  let text;
  try { text = new TextDecoder('utf-8').decode(response); } catch { return { model: null, error: null }; }
  const fingerprint = (json) => {
    try {
      const v = JSON.parse(json);
      return v !== null && typeof v === 'object' && !Array.isArray(v) && isModelRef(v.system_fingerprint) ? v.system_fingerprint : null;
    } catch { return null; }
  };
  const trimmed = text.trimStart();
  if (trimmed.startsWith('{')) return { model: fingerprint(trimmed), error: null };
  let found = null;
  for (const raw of text.split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (!line.startsWith('data:')) continue;
    const data = line.slice(5).trimStart();
    if (!data.startsWith('{')) continue;
    const m = fingerprint(data);
    if (m === null) continue;
    if (found !== null && found !== m) return { model: null, error: `the stream's events name different models (${found}, ${m})` };
    found = m;
  }
  return { model: found, error: null };
}

function modelCheck(model, error, accepted) {
  if (error) return fail('answer.model', error);
  const pinned = Array.isArray(accepted) && accepted.length > 0;
  if (model === null)
    return pinned ? fail('answer.model', `the answer names no model (a v1 statement); the policy accepts only ${accepted.join(', ')}`)
      : pass('answer.model', 'the answer names no model (a v1 statement); the policy pins no models');
  if (!pinned) return pass('answer.model', `answered by ${model} (covered by the signature); the policy pins no models`);
  return accepted.includes(model) ? pass('answer.model', `answered by ${model}, a model the policy accepts`)
    : fail('answer.model', `answered by ${model}, not a model the policy accepts`);
}

/**
 * Verifies one answer from the caller's own data: the statement is rebuilt from the id and
 * `created` of the answer received, SHA-256 of the exact request and response bytes, and the
 * caller's own nonce; the ES256 signature must verify with the answer-signing key of the
 * verified key set that the served fingerprint names. The server's `text`, if any, is never read.
 * @param {object} keySet `verifyReport(...).keySet` of a VERIFIED report
 * @param {{id: string, created: number, request: Uint8Array, response: Uint8Array, nonce?: string|null,
 *   signature: {id: string, signature: string, signing_key_fingerprint: string}, models?: string[]|null}} a
 *   `models`: the policy's `answer.models`; null or empty: any model, reported as `answer.model`
 */
export async function verifyAnswer(keySet, { id, created, request, response, nonce = null, signature, models = null }) {
  const checks = [];
  let statement;
  const { model, error: modelError } = answerModel(response);
  try {
    if (!keySet) throw new Error('no verified key set');
    statement = answerStatement(id, created, hex(await sha256(request)), hex(await sha256(response)), nonce, model);
  } catch (e) {
    checks.push(fail('answer.statement', `the answer's id, created or nonce cannot form a statement: ${e.message}`));
    return { passed: false, checks };
  }
  checks.push(signature?.id === id ? pass('answer.statement', 'statement rebuilt from our own request, response, id, created and nonce')
    : fail('answer.statement', 'the signature is served for another completion id'));
  const key = findSigningKey(keySet, typeof signature?.signing_key_fingerprint === 'string' ? signature.signing_key_fingerprint : '');
  checks.push(key ? pass('answer.key', `the key ${key.fingerprint.slice(0, 16)}… is an answer-signing key of the attested key set`)
    : fail('answer.key', 'the signature names a key that is not in the attested key set'));
  let valid = false;
  const sig = fromBase64(typeof signature?.signature === 'string' ? signature.signature : '');
  if (key && sig && sig.length === 64) {
    const ec = await canonicalKey(key.publicKey, { name: 'ECDSA', namedCurve: 'P-256' });
    try { valid = !!ec && await subtle().verify({ name: 'ECDSA', hash: 'SHA-256' }, ec, sig, utf8.encode(statement)); } catch { valid = false; }
  }
  checks.push(valid ? pass('answer.signature', 'the ES256 signature over the statement verifies')
    : fail('answer.signature', 'the ES256 signature does not verify over this request, response, id, created, model and nonce'));
  checks.push(modelCheck(model, modelError, models));
  return { passed: checks.every((c) => c.passed), checks };
}

// ───────────────────────────── Fetching ─────────────────────────────

const randomHex = (n) => hex(globalThis.crypto.getRandomValues(new Uint8Array(n)));

/** Fetches a fresh report (random 32-byte nonce) and verifies it with `options` (see verifyReport). */
export async function fetchVerifiedReport(baseUrl, options = {}, fetchImpl = globalThis.fetch) {
  const nonce = globalThis.crypto.getRandomValues(new Uint8Array(32));
  const response = await fetchImpl(new URL(`/attestation?nonce=${hex(nonce)}`, baseUrl));
  if (!response.ok) return { report: { passed: false, checks: [fail('report.format', `attestation failed: HTTP ${response.status}`)], keySet: null } };
  return { report: await verifyReport(new Uint8Array(await response.arrayBuffer()), nonce, options) };
}

/**
 * The signature served for completion `id` (`GET /v1/signature/{id}` with the key that made it). It
 * is stored as the answer ends, beside the usage record — a moment after the last byte — so a 404
 * is asked again for up to ~3 s. Returns `{ signature, status }` (signature null when none).
 */
export async function fetchAnswerSignature(baseUrl, apiKey, id, fetchImpl = globalThis.fetch) {
  let response;
  for (let attempt = 0; ; attempt++) {
    response = await fetchImpl(new URL(`/v1/signature/${id}`, baseUrl), { headers: { authorization: `Bearer ${apiKey}` } });
    if (response.status !== 404 || attempt >= 30) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  let signature = null;
  try { signature = response.ok ? await response.json() : null; } catch { signature = null; }
  return { signature, status: response.status };
}

/**
 * Verifies the service, and only then sends the prompt (with a random `x-answer-nonce`); then
 * verifies the answer's signature against the attested key set. On a failed report nothing is sent.
 * @param {{baseUrl: string, apiKey: string, prompt?: string, messages?: object[], model?: string,
 *   fetch?: Function} & Parameters<typeof verifyReport>[2]} o
 * @returns {Promise<{content: string, reasoning: string|null, verified: boolean, sent: boolean, checks: object[]}>}
 */
export async function verifyTEEAndChat(baseUrlOrOptions, apiKey, prompt) {
  const o = typeof baseUrlOrOptions === 'object' ? baseUrlOrOptions : { baseUrl: baseUrlOrOptions, apiKey, prompt };
  const fetchImpl = o.fetch ?? globalThis.fetch;
  const { report } = await fetchVerifiedReport(o.baseUrl, o, fetchImpl);
  if (!report.passed) return { content: '', reasoning: null, verified: false, sent: false, checks: report.checks };
  const nonce = randomHex(32);
  const body = utf8.encode(JSON.stringify({ model: o.model ?? 'deepseek-r1', messages: o.messages ?? [{ role: 'user', content: o.prompt }] }));
  const response = await fetchImpl(new URL('/v1/chat/completions', o.baseUrl), {
    method: 'POST', body, headers: { 'content-type': 'application/json', authorization: `Bearer ${o.apiKey}`, [ANSWER_NONCE_HEADER]: nonce },
  });
  const responseBytes = new Uint8Array(await response.arrayBuffer());
  if (!response.ok) return { content: '', reasoning: null, verified: false, sent: true, checks: [...report.checks, fail('answer.statement', `chat failed: HTTP ${response.status}`)] };
  let answer = null;
  try { answer = JSON.parse(new TextDecoder().decode(responseBytes)); } catch { answer = null; }
  const id = typeof answer?.id === 'string' ? answer.id : '';
  let verdict;
  if (!/^chatcmpl-[A-Za-z0-9]{1,64}$/.test(id)) verdict = { passed: false, checks: [fail('answer.statement', 'the answer has no completion id')] };
  else {
    const { signature, status } = await fetchAnswerSignature(o.baseUrl, o.apiKey, id, fetchImpl);
    verdict = signature
      ? await verifyAnswer(report.keySet, { id, created: answer.created, request: body, response: responseBytes, nonce, signature, models: o.policy == null ? null : loadPolicy(o.policy).answerModels })
      : { passed: false, checks: [fail('answer.signature', `no signature (HTTP ${status})`)] };
  }
  const message = answer?.choices?.[0]?.message ?? {};
  return verdict.passed
    ? { content: message.content ?? '', reasoning: message.reasoning_content ?? null, verified: true, sent: true, checks: [...report.checks, ...verdict.checks] }
    : { content: '', reasoning: null, verified: false, sent: true, checks: [...report.checks, ...verdict.checks] };
}
