// TeeAspire verifier for browsers (and node ≥ 20): a plain ES module, WebCrypto only, no bundler.
// It checks what a browser can check: the nonce, the vTPM quote (signature by the AK, PCR digest,
// extraData = SHA-256(nonce ‖ signing-key SPKI)), the expected-measurement policy, and each
// answer's ES256 signature over `${id}:${sha256(request)}:${sha256(response)}`. The hardware chain
// (HCL report, TDX quote, IMDS document) is checked by `tee-verify` or the .NET library.

const subtle = globalThis.crypto.subtle;
const enc = new TextEncoder();

const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
const fromHex = (s) => {
  if (typeof s !== 'string' || s.length % 2 !== 0 || /[^0-9a-f]/i.test(s)) throw new Error('not hex');
  return Uint8Array.from(s.match(/../g) ?? [], (h) => parseInt(h, 16));
};
const fromBase64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
const concat = (...parts) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
};
const equal = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
const sha256 = async (bytes) => new Uint8Array(await subtle.digest('SHA-256', bytes));
const pass = (name, reason) => ({ name, passed: true, reason });
const fail = (name, reason) => ({ name, passed: false, reason });

/** Parses a TPMS_ATTEST of type quote (big-endian TPM structure). */
export function parseTpmAttest(message) {
  const view = new DataView(message.buffer, message.byteOffset, message.byteLength);
  let at = 0;
  const need = (n, what) => { if (at + n > message.length) throw new Error(`${what}: truncated`); };
  const u8 = (w) => { need(1, w); return view.getUint8(at++); };
  const u16 = (w) => { need(2, w); const v = view.getUint16(at); at += 2; return v; };
  const u32 = (w) => { need(4, w); const v = view.getUint32(at); at += 4; return v; };
  const bytes = (n, w) => { need(n, w); const v = message.slice(at, at + n); at += n; return v; };
  const sized = (w) => bytes(u16(w), w);
  if (u32('magic') !== 0xff544347) throw new Error('not TPM-generated (magic)');
  if (u16('type') !== 0x8018) throw new Error('not a quote (type)');
  sized('qualifiedSigner');
  const extraData = sized('extraData');
  bytes(17, 'clockInfo');
  bytes(8, 'firmwareVersion');
  const count = u32('pcrSelect count');
  if (count > 16) throw new Error('too many PCR banks');
  const selections = [];
  for (let i = 0; i < count; i++) {
    const hash = u16('hash');
    const bitmap = bytes(u8('sizeofSelect'), 'pcrSelect');
    const pcrs = [];
    for (let b = 0; b < bitmap.length * 8; b++) if (bitmap[b >> 3] & (1 << (b & 7))) pcrs.push(b);
    selections.push({ hash, pcrs });
  }
  const pcrDigest = sized('pcrDigest');
  if (at !== message.length) throw new Error('trailing bytes after the quote');
  return { extraData, selections, pcrDigest };
}

async function verifyWithKey(spki, signature, message) {
  const attempts = [
    [{ name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, { name: 'RSASSA-PKCS1-v1_5' }],
    [{ name: 'RSA-PSS', hash: 'SHA-256' }, { name: 'RSA-PSS', saltLength: 32 }],
    [{ name: 'ECDSA', namedCurve: 'P-256' }, { name: 'ECDSA', hash: 'SHA-256' }],
  ];
  for (const [importAlg, verifyAlg] of attempts) {
    try {
      const key = await subtle.importKey('spki', spki, importAlg, false, ['verify']);
      if (await subtle.verify(verifyAlg, key, signature, message)) return true;
    } catch { /* not this key type */ }
  }
  return false;
}

/** The quote's expected extraData: SHA-256(nonce ‖ signing-key SPKI). */
export const expectedExtraData = (nonce, signingKeySpki) => sha256(concat(nonce, signingKeySpki));

/**
 * Checks a TPM quote. pcrs: Map or object of index → Uint8Array (sha256 bank).
 * @returns {Promise<Array<{name:string, passed:boolean, reason:string}>>}
 */
export async function verifyTpmQuote({ message, signature, akSpki, pcrs, expectedExtraData: extra }) {
  const checks = [];
  let attest;
  try {
    attest = parseTpmAttest(message);
    checks.push(pass('tpm_quote.structure', 'TPMS_ATTEST of type quote, made by a TPM'));
  } catch (e) {
    return [fail('tpm_quote.structure', e.message)];
  }
  checks.push(await verifyWithKey(akSpki, signature, message)
    ? pass('tpm_quote.signature', 'signed by the attestation key')
    : fail('tpm_quote.signature', 'the signature does not verify with the attestation key'));
  const values = [];
  let missing = null;
  for (const s of attest.selections) {
    if (s.hash !== 0x000b) { missing = 'only the sha256 bank is supported'; break; }
    for (const i of s.pcrs) {
      const v = pcrs instanceof Map ? pcrs.get(i) : pcrs[i];
      if (!v) { missing = `PCR ${i} is selected but its value is missing`; break; }
      values.push(v);
    }
  }
  checks.push(missing
    ? fail('tpm_quote.pcr_digest', missing)
    : equal(await sha256(concat(...values)), attest.pcrDigest)
      ? pass('tpm_quote.pcr_digest', 'the reported PCRs hash to the quoted digest')
      : fail('tpm_quote.pcr_digest', 'the reported PCR values do not match the quoted digest'));
  checks.push(equal(attest.extraData, extra)
    ? pass('tpm_quote.extra_data', 'extraData binds the nonce (and signing key)')
    : fail('tpm_quote.extra_data', 'extraData does not match: another nonce or another signing key'));
  return checks;
}

/**
 * Verifies a report the service returned for `nonce` (Uint8Array).
 * policy: { allowInsecurePlatform?: boolean, pcrs?: { [index]: hex }, signingKeyFingerprint?: hex }
 */
export async function verifyReport(report, nonce, policy = {}) {
  const checks = [];
  let spki = null;
  try {
    const insecure = report.platform === 'none';
    checks.push(!insecure ? pass('platform', `platform ${report.platform}`)
      : policy.allowInsecurePlatform ? pass('platform', 'platform none (not a TEE) accepted by allowInsecurePlatform')
        : fail('platform', 'platform none: this service is not running in a TEE'));
    checks.push(report.nonce === hex(nonce) ? pass('nonce', 'the report echoes our nonce')
      : fail('nonce', report.nonce ? 'the report answers another nonce' : 'the report has no nonce (a replayable boot report)'));
    spki = fromBase64(report.signing_key.spki);
    const fingerprint = hex(await sha256(spki));
    checks.push(report.signing_key.alg === 'ES256' && report.signing_key.fingerprint === fingerprint
      ? pass('signing_key', `ES256 key ${fingerprint.slice(0, 16)}…`) : fail('signing_key', 'wrong fingerprint or algorithm'));
    if (policy.signingKeyFingerprint) {
      checks.push(policy.signingKeyFingerprint === fingerprint ? pass('signing_key.pinned', 'the pinned key') : fail('signing_key.pinned', 'not the pinned key'));
    }
    const quote = report.evidence?.tpm_quote;
    if (!quote) {
      checks.push(fail('tpm_quote', 'the report has no TPM quote'));
    } else {
      const pcrs = new Map(Object.entries(quote.pcrs.sha256).map(([i, v]) => [Number(i), fromHex(v)]));
      checks.push(...await verifyTpmQuote({
        message: fromBase64(quote.message),
        signature: fromBase64(quote.signature),
        akSpki: fromBase64(quote.ak_public),
        pcrs,
        expectedExtraData: await expectedExtraData(nonce, spki),
      }));
      if (insecure) {
        checks.push(policy.allowInsecurePlatform ? pass('tpm_quote.ak_trust', 'the AK is not vouched for by hardware (insecure platform accepted)')
          : fail('tpm_quote.ak_trust', 'no hardware report vouches for the TPM\'s key'));
      } else if (!report.evidence.hcl_report) {
        checks.push(fail('hcl_report', 'no HCL report vouches for the TPM\'s key'));
      }
      for (const [index, expected] of Object.entries(policy.pcrs ?? {})) {
        const actual = quote.pcrs.sha256[index];
        checks.push(actual && actual.toLowerCase() === expected.toLowerCase()
          ? pass(`policy.pcr${index}`, 'matches the expected measurement')
          : fail(`policy.pcr${index}`, actual ? 'differs from the expected measurement' : 'not quoted'));
      }
    }
  } catch (e) {
    checks.push(fail('report.format', `the report is malformed: ${e.message}`));
  }
  return { passed: checks.length > 0 && checks.every((c) => c.passed), checks, signingKeySpki: spki };
}

/**
 * Verifies one answer: the signed text names the SHA-256 of these exact request and response
 * bytes, and its ES256 signature verifies with the attested key.
 */
export async function verifyAnswer(signature, requestBytes, responseBytes, signingKeySpki) {
  const expected = `${signature.id}:${hex(await sha256(requestBytes))}:${hex(await sha256(responseBytes))}`;
  const checks = [
    signature.text === expected ? pass('answer.hashes', 'the signed text matches these exact bytes')
      : fail('answer.hashes', 'the signed text does not match these bytes'),
    signature.signing_key_fingerprint === hex(await sha256(signingKeySpki)) ? pass('answer.key', 'signed by the attested key')
      : fail('answer.key', 'another key than the attested one'),
  ];
  let valid = false;
  try {
    const key = await subtle.importKey('spki', signingKeySpki, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['verify']);
    valid = await subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, key, fromBase64(signature.signature), enc.encode(expected));
  } catch { valid = false; }
  checks.push(valid ? pass('answer.signature', 'ES256 signature verifies') : fail('answer.signature', 'the signature does not verify'));
  return { passed: checks.every((c) => c.passed), checks };
}

/** Fetches a fresh report (random 32-byte nonce) and verifies it. */
export async function fetchVerifiedReport(baseUrl, policy = {}, fetchImpl = globalThis.fetch) {
  const nonce = globalThis.crypto.getRandomValues(new Uint8Array(32));
  const response = await fetchImpl(new URL(`/attestation?nonce=${hex(nonce)}`, baseUrl));
  if (!response.ok) throw new Error(`attestation failed: HTTP ${response.status}`);
  return { report: await verifyReport(await response.json(), nonce, policy) };
}

/**
 * Drop-in for the old `verifyTEEAndChat`: verifies the service before sending the prompt, then
 * verifies the answer's signature. Accepts (baseUrl, apiKey, prompt) or an options object.
 * @returns {Promise<{content: string, reasoning: string|null, verified: boolean, checks: object[]}>}
 */
export async function verifyTEEAndChat(baseUrlOrOptions, apiKey, prompt) {
  const o = typeof baseUrlOrOptions === 'object' ? baseUrlOrOptions : { baseUrl: baseUrlOrOptions, apiKey, prompt };
  const fetchImpl = o.fetch ?? globalThis.fetch;
  const policy = { allowInsecurePlatform: !!o.allowInsecurePlatform, ...(o.policy ?? {}) };
  const { report } = await fetchVerifiedReport(o.baseUrl, policy, fetchImpl);
  if (!report.passed) return { content: '', reasoning: null, verified: false, checks: report.checks };
  const body = enc.encode(JSON.stringify({
    model: o.model ?? 'deepseek-r1',
    messages: o.messages ?? [{ role: 'user', content: o.prompt }],
  }));
  const response = await fetchImpl(new URL('/v1/chat/completions', o.baseUrl), {
    method: 'POST', body, headers: { 'content-type': 'application/json', authorization: `Bearer ${o.apiKey}` },
  });
  const responseBytes = new Uint8Array(await response.arrayBuffer());
  if (!response.ok) throw new Error(`chat failed: HTTP ${response.status}`);
  const answer = JSON.parse(new TextDecoder().decode(responseBytes));
  const sig = await fetchImpl(new URL(`/v1/signature/${answer.id}`, o.baseUrl), { headers: { authorization: `Bearer ${o.apiKey}` } });
  const verdict = sig.ok
    ? await verifyAnswer(await sig.json(), body, responseBytes, report.signingKeySpki)
    : { passed: false, checks: [fail('answer.signature', `no signature (HTTP ${sig.status})`)] };
  const message = answer.choices?.[0]?.message ?? {};
  return { content: message.content ?? '', reasoning: message.reasoning_content ?? null, verified: verdict.passed, checks: [...report.checks, ...verdict.checks] };
}
