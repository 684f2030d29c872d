import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { verifyReport, verifyAnswer, verifyTpmQuote, parseTpmAttest } from '../tee-verify.js';

const here = dirname(fileURLToPath(import.meta.url));
const fixture = (name) => readFileSync(join(here, 'fixtures', name));
const report = () => JSON.parse(fixture('report.json').toString());
const nonce = () => Uint8Array.from(Buffer.from(fixture('report.nonce').toString(), 'hex'));
const failed = (result) => result.checks.filter((c) => !c.passed).map((c) => c.name);

function sharedTestdata() {
  for (let dir = here; dir !== dirname(dir); dir = dirname(dir)) {
    const candidate = resolve(dir, '..', 'shared', 'testdata');
    if (existsSync(join(dir, '.git')) && existsSync(candidate)) return candidate;
    if (existsSync(join(dir, 'shared', 'testdata'))) return join(dir, 'shared', 'testdata');
  }
  throw new Error('../shared/testdata not found beside the repository');
}

test('a report from the service (swtpm) verifies with its nonce when an insecure platform is allowed', async () => {
  const result = await verifyReport(report(), nonce(), { allowInsecurePlatform: true });
  assert.deepEqual(failed(result), []);
  assert.equal(result.passed, true);
});

test('without allowing an insecure platform the same report fails, naming the platform', async () => {
  const result = await verifyReport(report(), nonce());
  assert.equal(result.passed, false);
  assert.ok(failed(result).includes('platform'));
});

test('another nonce fails', async () => {
  const other = nonce();
  other[0] ^= 1;
  const result = await verifyReport(report(), other, { allowInsecurePlatform: true });
  assert.deepEqual(failed(result), ['nonce', 'tpm_quote.extra_data']);
});

test('one byte of the quote changed fails', async () => {
  const r = report();
  const message = Buffer.from(r.evidence.tpm_quote.message, 'base64');
  message[message.length - 5] ^= 1;
  r.evidence.tpm_quote.message = message.toString('base64');
  const result = await verifyReport(r, nonce(), { allowInsecurePlatform: true });
  assert.ok(failed(result).includes('tpm_quote.signature'));
});

test('a PCR changed fails the quote and a policy mismatch fails the policy', async () => {
  const r = report();
  r.evidence.tpm_quote.pcrs.sha256['7'] = 'ff'.repeat(32);
  const tampered = await verifyReport(r, nonce(), { allowInsecurePlatform: true });
  assert.ok(failed(tampered).includes('tpm_quote.pcr_digest'));
  const policy = await verifyReport(report(), nonce(), { allowInsecurePlatform: true, pcrs: { 0: 'ab'.repeat(32) } });
  assert.deepEqual(failed(policy), ['policy.pcr0']);
});

test('a swapped signing key fails the binding', async () => {
  const r = report();
  const { publicKey } = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign']);
  r.signing_key.spki = Buffer.from(await crypto.subtle.exportKey('spki', publicKey)).toString('base64');
  const result = await verifyReport(r, nonce(), { allowInsecurePlatform: true });
  assert.ok(failed(result).includes('tpm_quote.extra_data'));
});

test('an answer from the service verifies with the attested key; changed bytes fail', async () => {
  const { signingKeySpki } = await verifyReport(report(), nonce(), { allowInsecurePlatform: true });
  const signature = JSON.parse(fixture('chat.signature.json').toString());
  const request = fixture('chat.request');
  const response = fixture('chat.response');
  assert.equal((await verifyAnswer(signature, request, response, signingKeySpki)).passed, true);
  const changed = Buffer.from(response);
  changed[100] ^= 1;
  assert.deepEqual(failed(await verifyAnswer(signature, request, changed, signingKeySpki)), ['answer.hashes', 'answer.signature']);
  const sig = Buffer.from(signature.signature, 'base64');
  sig[10] ^= 1;
  const forged = { ...signature, signature: sig.toString('base64') };
  assert.deepEqual(failed(await verifyAnswer(forged, request, response, signingKeySpki)), ['answer.signature']);
});

function azureQuote() {
  const data = readFileSync(join(sharedTestdata(), 'azure-cvm', 'quote.bin'));
  let at = 0;
  const next = (unit = 1) => {
    const n = Number(data.readBigUInt64LE(at)) * unit;
    const bytes = new Uint8Array(data.subarray(at + 8, at + 8 + n));
    at += 8 + n;
    return bytes;
  };
  const signature = next();
  const message = next();
  const all = next(32);
  const pcrs = new Map();
  for (let i = 0; i < all.length / 32; i++) pcrs.set(i, all.slice(i * 32, (i + 1) * 32));
  const pem = readFileSync(join(sharedTestdata(), 'azure-cvm', 'akpub.pem')).toString();
  const akSpki = Uint8Array.from(Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64'));
  return { signature, message, pcrs, akSpki };
}

test('the real Azure vTPM quote verifies with akpub.pem and nonce "challenge"', async () => {
  const q = azureQuote();
  const checks = await verifyTpmQuote({ ...q, expectedExtraData: new TextEncoder().encode('challenge') });
  assert.deepEqual(checks.filter((c) => !c.passed), []);
});

test('the real Azure quote fails reversed, with another nonce, or with a PCR changed', async () => {
  const q = azureQuote();
  const extra = new TextEncoder().encode('challenge');
  const reversed = await verifyTpmQuote({ ...q, signature: q.signature.slice().reverse(), expectedExtraData: extra });
  assert.ok(reversed.some((c) => c.name === 'tpm_quote.signature' && !c.passed));
  const otherNonce = await verifyTpmQuote({ ...q, expectedExtraData: new TextEncoder().encode('challengf') });
  assert.ok(otherNonce.some((c) => c.name === 'tpm_quote.extra_data' && !c.passed));
  const pcrs = new Map(q.pcrs);
  const changed = pcrs.get(8).slice();
  changed[3] ^= 1;
  pcrs.set(8, changed);
  const pcr = await verifyTpmQuote({ ...q, pcrs, expectedExtraData: extra });
  assert.ok(pcr.some((c) => c.name === 'tpm_quote.pcr_digest' && !c.passed));
});

test('truncated quotes are rejected, not crashed on', () => {
  const { message } = azureQuote();
  for (let n = 0; n < message.length; n++) assert.throws(() => parseTpmAttest(message.slice(0, n)));
});
