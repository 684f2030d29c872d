// Never crash: thousands of seeded random mutations of real inputs (the VERIFIED test-PKI
// Azure-TDX report: its JSON text, HCL report, TD quote, TPM quote, AK; the collateral; the
// policy; the real Intel quote and Azure HCL sample) each give a verdict — never an exception and
// never verifier.internal_error — and a mutated signed region never verifies.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { verifyReport } from '../tee-verify.js';
import { corpora } from '../corpus/files.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const dir = join(corpora[0].dir, 'browser-testpki');
const read = (p) => readFileSync(join(dir, p), 'utf8');
const vector = JSON.parse(read('testpki-azure-tdx.vector.json'));
const base = read(vector.report);
const options = { intelRoot: read(vector.trust.intel_root), collateral: read(vector.collateral), now: new Date(vector.now) };
const nonce = Uint8Array.from(Buffer.from(vector.nonce, 'hex'));

/** mulberry32: a seeded PRNG, so a failure names its seed and replays. */
function prng(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function mutateBytes(bytes, rand) {
  const b = Uint8Array.from(bytes);
  const kind = Math.floor(rand() * 4);
  const at = Math.floor(rand() * b.length);
  if (kind === 0) { b[at] ^= 1 << Math.floor(rand() * 8); return b; }
  if (kind === 1) { for (let i = 0; i < 1 + rand() * 8; i++) b[Math.floor(rand() * b.length)] = Math.floor(rand() * 256); return b; }
  if (kind === 2) return b.subarray(0, at);
  const junk = Uint8Array.from({ length: 1 + Math.floor(rand() * 64) }, () => Math.floor(rand() * 256));
  return Uint8Array.from([...b.subarray(0, at), ...junk, ...b.subarray(at)]);
}

const mutateText = (s, rand) => Buffer.from(mutateBytes(Buffer.from(s), rand)).toString('latin1');

async function verdict(report, opts, what) {
  let result;
  try {
    result = await verifyReport(report, nonce, opts);
  } catch (e) {
    assert.fail(`${what}: threw ${e?.stack ?? e}`);
  }
  assert.ok(result.checks.length > 0, `${what}: no checks`);
  const internal = result.checks.find((c) => c.name === 'verifier.internal_error');
  assert.equal(internal, undefined, `${what}: ${internal?.reason}`);
  return result;
}

test('the base verifies (so a refusal below is the mutation\'s doing)', async () => {
  assert.equal((await verdict(base, options, 'base')).passed, true);
});

const fields = [
  ['evidence', 'hcl_report'], ['evidence', 'td_quote'], ['evidence', 'tpm_quote', 'message'], ['evidence', 'tpm_quote', 'signature'], ['evidence', 'tpm_quote', 'ak_public'],
];

for (const path of fields) {
  test(`600 seeded mutations of ${path.join('.')} each give a verdict`, async () => {
    const rand = prng(path.join('.').length * 7919);
    const json = JSON.parse(base);
    let parent = json;
    for (const p of path.slice(0, -1)) parent = parent[p];
    const key = path[path.length - 1];
    const original = Buffer.from(parent[key], 'base64');
    let verified = 0;
    for (let i = 0; i < 600; i++) {
      const mutated = mutateBytes(original, rand);
      parent[key] = Buffer.from(mutated).toString('base64');
      const r = await verdict(JSON.stringify(json), options, `${path.join('.')} #${i}`);
      if (r.passed) verified++;
    }
    // Unauthenticated bytes (README) may verify; the signed ones never: most mutations are refused.
    assert.ok(verified < 120, `${verified} of 600 mutations verified`);
  });
}

test('1,000 seeded mutations of the report text, the collateral and the policy each give a verdict', async () => {
  const rand = prng(42);
  const policy = read('policies/testpki-td.policy.json');
  for (let i = 0; i < 400; i++) await verdict(mutateText(base, rand), options, `report text #${i}`);
  for (let i = 0; i < 300; i++) await verdict(base, { ...options, collateral: mutateText(options.collateral, rand) }, `collateral #${i}`);
  for (let i = 0; i < 300; i++) await verdict(base, { ...options, policy: mutateText(policy, rand) }, `policy #${i}`);
});

test('hostile shapes give a verdict: wrong types everywhere, huge and odd values', async () => {
  const hostile = [
    '', 'null', '[]', '"x"', '{}', '{"evidence":null}', '{"evidence":[]}', '{"evidence":{},"key_set":[]}',
    '{"evidence":{"tpm_quote":{"message":1,"signature":[],"ak_public":{}}}}',
    '{"evidence":{"tpm_quote":{"message":"AA==","signature":"AA==","ak_public":"AA==","pcrs":{"sha256":"x"}}}}',
    '{"evidence":{"hcl_report":{},"td_quote":5},"key_set":{"version":1.0,"keys":[1]}}',
    `{"evidence":{"hcl_report":"${'A'.repeat(4000)}","td_quote":"${'/'.repeat(4000)}"}}`,
    `{"nonce":${'9'.repeat(400)},"evidence":{},"key_set":{"version":1,"keys":[{"purpose":"${'a'.repeat(70)}","alg":"ES256","public_key":"AA=="}]}}`,
    '{"evidence":{"tpm_quote":{}},"__proto__":{"polluted":true}}',
    '{"a":' + '['.repeat(100) + ']'.repeat(100) + '}',
  ];
  for (const h of hostile) {
    const r = await verdict(h, options, h.slice(0, 60));
    assert.equal(r.passed, false);
  }
  assert.equal({}.polluted, undefined);
  for (const bad of [null, undefined, 42, new Uint8Array([0xff, 0xfe]), { evidence: { hcl_report: null } }]) await verdict(bad, options, String(bad));
  await verdict(base, { ...options, intelRoot: 'not a pem', collateral: '{"tcb_info": 5}', amdArk: '-----BEGIN CERTIFICATE-----\n@@\n-----END CERTIFICATE-----' }, 'bad anchors');
});

test('mutations of real hardware evidence (Azure HCL samples, Intel quotes) each give a verdict', async () => {
  const testdata = join(here, '..', '..', '..', '..', 'shared', 'testdata');
  const json = JSON.parse(base);
  const samples = [
    ['hcl_report', readFileSync(join(testdata, 'azure-cvm', 'hcl-report-tdx.bin'))],
    ['hcl_report', readFileSync(join(testdata, 'azure-cvm', 'hcl-report-snp.bin'))],
    ['td_quote', readFileSync(join(testdata, 'intel-tdx', 'tdx_prod_quote_SPR_E4.dat'))],
    ['td_quote', readFileSync(join(testdata, 'intel-tdx', 'quote_v5_sample.dat'))],
  ];
  const rand = prng(7);
  for (const [field, bytes] of samples) {
    for (let i = 0; i < 150; i++) {
      json.evidence[field] = Buffer.from(mutateBytes(bytes, rand)).toString('base64');
      json.evidence.snp_vcek_chain = readFileSync(join(testdata, 'azure-cvm', 'certs.pem'), 'utf8');
      const r = await verdict(JSON.stringify(json), { ...options, amdArk: readFileSync(join(testdata, 'azure-cvm', 'certs.pem'), 'utf8').split(/(?=-----BEGIN)/).pop() }, `${field} sample #${i}`);
      assert.equal(r.passed, false);
    }
  }
});
