// The browser module's checks one by one, on real evidence (../shared/testdata) and on software
// evidence made here (corpus/evidence.mjs); the corpora are run by vectors.test.mjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { verifyReport, verifyAnswer, verifyTpmQuote, parseTpmAttest, loadPolicy, PolicyFormatError, answerStatement, answerModel, readKeySet, parseStrictJson, verifyTEEAndChat } from '../tee-verify.js';
import { verifySnp } from '../hardware.js';
import { parsePemCertificates } from '../x509.js';
import * as E from '../corpus/evidence.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const failed = (result) => result.checks.filter((c) => !c.passed).map((c) => c.name);
const testdata = (() => {
  for (let dir = here; dir !== dirname(dir); dir = dirname(dir)) {
    const candidate = resolve(dir, '..', 'shared', 'testdata');
    if (existsSync(join(dir, '.git')) && existsSync(candidate)) return candidate;
  }
  throw new Error('../shared/testdata not found beside the repository');
})();

const keys = await E.softwareKeys();
const software = async (opts) => JSON.stringify(await E.report(keys, opts));

test('a software-TPM report verifies only with the explicit insecure option, and says INSECURE', async () => {
  const text = await software();
  const refused = await verifyReport(text, E.NONCE);
  assert.deepEqual(failed(refused), ['platform']);
  const allowed = await verifyReport(text, E.NONCE, { allowInsecurePlatform: true });
  assert.equal(allowed.passed, true);
  assert.equal(allowed.insecure, true);
  assert.match(allowed.checks.find((c) => c.name === 'platform').reason, /^INSECURE/);
});

test('a policy cannot enable an insecure platform: it fails to load (policy.format)', async () => {
  const text = await software();
  const result = await verifyReport(text, E.NONCE, { policy: '{"allow_insecure_platform": true}' });
  assert.deepEqual(failed(result), ['policy.format']);
  const asObject = await verifyReport(text, E.NONCE, { policy: { allow_insecure_platform: true } });
  assert.deepEqual(failed(asObject), ['policy.format']);
  assert.throws(() => loadPolicy('{"pcrs": {"07": "' + '00'.repeat(32) + '"}}'), PolicyFormatError);
  assert.throws(() => loadPolicy('{"pcrs": {"7": "' + '00'.repeat(32) + '", "7": "' + 'ff'.repeat(32) + '"}}'), PolicyFormatError);
  assert.throws(() => loadPolicy('{"td": {"mrtd": ["00"]}}'), PolicyFormatError);
  assert.throws(() => loadPolicy('{"tcb": {"accept": []}}'), PolicyFormatError);
  assert.equal(loadPolicy('{"pcrs": {"7": "' + 'AB'.repeat(32) + '"}}').pcrs.get(7), 'ab'.repeat(32));
});

test('JSON platform claims count for nothing: a software report relabelled azure-tdx is refused', async () => {
  const text = await software({ claims: { platform: 'azure-tdx', tee_verified: true, vm_size: 'Standard_DC4es_v5' } });
  assert.deepEqual(failed(await verifyReport(text, E.NONCE)), ['platform']);
  const forged = JSON.parse(text);
  forged.evidence.hcl_report = 'x';
  assert.ok(failed(await verifyReport(JSON.stringify(forged), E.NONCE, { allowInsecurePlatform: true })).includes('hcl_report.format'));
});

test('PCR keys are read as the quote covers them: "07", a duplicate "7", an unselected PCR fail', async () => {
  const text = await software({ selected: [0, 7] });
  assert.equal((await verifyReport(text, E.NONCE, { allowInsecurePlatform: true })).passed, true);
  const zeros = '"' + '00'.repeat(32) + '"';
  const nonCanonical = text.replace(/"7":/, '"07":');
  assert.ok(failed(await verifyReport(nonCanonical, E.NONCE, { allowInsecurePlatform: true })).includes('tpm_quote.pcr_values'));
  const duplicate = text.replace(/"7":/, `"7":${zeros},"7":`);
  assert.deepEqual(failed(await verifyReport(duplicate, E.NONCE, { allowInsecurePlatform: true })), ['report.format']);
  const claimed = text.replace(/"7":/, `"8":${zeros},"7":`);
  assert.ok(failed(await verifyReport(claimed, E.NONCE, { allowInsecurePlatform: true })).includes('tpm_quote.pcr_values'));
  const policy = { pcrs: { 8: '00'.repeat(32) } };
  assert.deepEqual(failed(await verifyReport(text, E.NONCE, { allowInsecurePlatform: true, policy })), ['policy.pcr8']);
});

test('JSON.parse would hide a duplicate; the strict reader refuses it anywhere in the report', () => {
  assert.throws(() => parseStrictJson('{"a":{"b":1,"b":2}}'), /named twice/);
  assert.throws(() => parseStrictJson('{"__proto__":1,"__proto__":2}'), /named twice/);
  assert.equal(Object.getPrototypeOf(parseStrictJson('{"__proto__":{"x":1}}').value), null);
  assert.throws(() => parseStrictJson('['.repeat(40) + ']'.repeat(40)), /deeply/);
});

test('the key set is bound: another key set, another nonce, a missing key set fail', async () => {
  const text = await software();
  const other = JSON.parse(text);
  other.key_set.keys[1].public_key = Buffer.alloc(32, 7).toString('base64');
  assert.ok(failed(await verifyReport(JSON.stringify(other), E.NONCE, { allowInsecurePlatform: true })).includes('tpm_quote.extra_data'));
  const nonce = E.NONCE.slice();
  nonce[0] ^= 1;
  assert.deepEqual(failed(await verifyReport(text, nonce, { allowInsecurePlatform: true })), ['nonce', 'tpm_quote.extra_data']);
  const none = JSON.parse(text);
  delete none.key_set;
  assert.ok(failed(await verifyReport(JSON.stringify(none), E.NONCE, { allowInsecurePlatform: true })).includes('key_set'));
  const ks = await readKeySet(parseStrictJson(text).value.key_set);
  assert.equal(new TextDecoder().decode(ks.canonical).split('\n')[0], 'tee-aspire/key-set/v1');
  const pinned = await verifyReport(text, E.NONCE, { allowInsecurePlatform: true, policy: { signing_key_fingerprint: 'ab'.repeat(32) } });
  assert.deepEqual(failed(pinned), ['key_set.pinned']);
});

test('the real Azure vTPM quote verifies with akpub.pem and nonce "challenge"; reversed, another nonce or a changed PCR fail', async () => {
  const data = readFileSync(join(testdata, 'azure-cvm', 'quote.bin'));
  let at = 0;
  const next = (unit = 1) => { const n = Number(data.readBigUInt64LE(at)) * unit; const b = new Uint8Array(data.subarray(at + 8, at + 8 + n)); at += 8 + n; return b; };
  const signature = next();
  const message = next();
  const all = next(32);
  const selected = parseTpmAttest(message).selections.flatMap((s) => s.pcrs);
  const pcrs = selected.map((i) => [String(i), Buffer.from(all.subarray(i * 32, i * 32 + 32)).toString('hex')]);
  const pem = readFileSync(join(testdata, 'azure-cvm', 'akpub.pem'), 'utf8');
  const akSpki = Uint8Array.from(Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64'));
  const extra = new TextEncoder().encode('challenge');
  const good = await verifyTpmQuote({ message, signature, akSpki, pcrs, expectedExtraData: extra });
  assert.deepEqual(good.checks.filter((c) => !c.passed), []);
  const reversed = await verifyTpmQuote({ message, signature: signature.slice().reverse(), akSpki, pcrs, expectedExtraData: extra });
  assert.ok(reversed.checks.some((c) => c.name === 'tpm_quote.signature' && !c.passed));
  const other = await verifyTpmQuote({ message, signature, akSpki, pcrs, expectedExtraData: new TextEncoder().encode('challengf') });
  assert.ok(other.checks.some((c) => c.name === 'tpm_quote.extra_data' && !c.passed));
  const changed = pcrs.map(([k, v], i) => [k, i === 0 ? `ff${v.slice(2)}` : v]);
  const pcr = await verifyTpmQuote({ message, signature, akSpki, pcrs: changed, expectedExtraData: extra });
  assert.ok(pcr.checks.some((c) => c.name === 'tpm_quote.pcr_digest' && !c.passed));
  for (let n = 0; n < message.length; n++) {
    const truncated = await verifyTpmQuote({ message: message.slice(0, n), signature, akSpki, pcrs, expectedExtraData: extra });
    assert.deepEqual(truncated.checks.map((c) => [c.name, c.passed]), [['tpm_quote.structure', false]]);
  }
});

test('SEV-SNP: a genuine Milan VCEK → ASK → ARK chain of another chip does not verify the sample report; without the ARK or chain it is refused', async () => {
  const hcl = readFileSync(join(testdata, 'azure-cvm', 'hcl-report-snp.bin'));
  const snp = new Uint8Array(hcl.subarray(32, 32 + 1184));
  const chain = readFileSync(join(testdata, 'azure-cvm', 'certs.pem'), 'utf8');
  const certs = parsePemCertificates(chain);
  const ark = certs[certs.length - 1];
  const now = new Date('2026-01-01T00:00:00Z');
  const other = await verifySnp(snp, chain, { amdArk: ark, now });
  assert.deepEqual(other.checks.map((c) => [c.name, c.passed]), [['snp.vcek_chain', true], ['snp.report_signature', false]]);
  assert.match(other.checks[1].reason, /another chip/);
  const noArk = await verifySnp(snp, chain, { amdArk: null, now });
  assert.equal(noArk.ok, false);
  const noChain = await verifySnp(snp, undefined, { amdArk: ark, now });
  assert.deepEqual(noChain.checks.map((c) => c.name), ['snp.vcek_chain']);
  const wrongRoot = await verifySnp(snp, chain, { amdArk: parsePemCertificates(readFileSync(join(testdata, 'intel-tdx', 'trusted_root.pem'), 'utf8'))[0], now });
  assert.equal(wrongRoot.checks[0].passed, false);
});

test('the full Azure-TDX path under the test PKI: every check passes, and each binding is needed', async () => {
  const pki = await E.testPki();
  const { report } = await E.azureTdxReport(keys, pki);
  const options = { intelRoot: pki.pem.root, collateral: await E.collateral(pki), now: E.TEST_NOW };
  const good = await verifyReport(JSON.stringify(report), E.NONCE, options);
  assert.deepEqual(failed(good), []);
  assert.equal(good.platform, 'azure-tdx');
  for (const name of ['td_quote.pck_chain', 'td_quote.qe_report_signature', 'td_quote.qe_report_binds_key', 'td_quote.quote_signature', 'td_quote.collateral', 'td_quote.pck_crl', 'td_quote.root_crl', 'td_quote.collateral_signature', 'td_quote.qe_identity', 'td_quote.tcb_status', 'td_quote.matches_hcl', 'hcl_report.user_data', 'hcl_report.ak'])
    assert.ok(good.checks.some((c) => c.name === name && c.passed), name);
  const otherAk = await E.softwareKeys();
  const swapped = structuredClone(report);
  swapped.evidence.hcl_report = (await E.azureTdxReport(otherAk, pki)).report.evidence.hcl_report;
  assert.ok(failed(await verifyReport(JSON.stringify(swapped), E.NONCE, options)).includes('hcl_report.ak'));
  const noQuote = structuredClone(report);
  delete noQuote.evidence.td_quote;
  assert.ok(failed(await verifyReport(JSON.stringify(noQuote), E.NONCE, options)).includes('td_quote'));
});

test('answers verify only from the caller\'s own data, with a key of the attested set', async () => {
  const ks = await readKeySet(parseStrictJson(await software()).value.key_set);
  const request = new TextEncoder().encode('{"model":"deepseek-r1","messages":[]}');
  const response = new TextEncoder().encode('{"id":"chatcmpl-abc123","created":1764000000}');
  const nonce = 'ab'.repeat(32);
  const sha = async (b) => Buffer.from(await crypto.subtle.digest('SHA-256', b)).toString('hex');
  const statement = answerStatement('chatcmpl-abc123', 1764000000, await sha(request), await sha(response), nonce);
  const sig = Buffer.from(await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, keys.signing.privateKey, new TextEncoder().encode(statement))).toString('base64');
  const fingerprint = ks.keys.find((k) => k.purpose === 'answer-signing').fingerprint;
  const signature = { id: 'chatcmpl-abc123', signature: sig, signing_key_fingerprint: fingerprint };
  const base = { id: 'chatcmpl-abc123', created: 1764000000, request, response, nonce, signature };
  assert.equal((await verifyAnswer(ks, base)).passed, true);
  assert.deepEqual(failed(await verifyAnswer(ks, { ...base, request: new TextEncoder().encode('{}') })), ['answer.signature']);
  assert.deepEqual(failed(await verifyAnswer(ks, { ...base, created: 1764000001 })), ['answer.signature']);
  assert.deepEqual(failed(await verifyAnswer(ks, { ...base, nonce: 'cd'.repeat(32) })), ['answer.signature']);
  assert.deepEqual(failed(await verifyAnswer(ks, { ...base, nonce: null })), ['answer.signature']);
  assert.deepEqual(failed(await verifyAnswer(ks, { ...base, signature: { ...signature, signing_key_fingerprint: 'ab'.repeat(32) } })), ['answer.key', 'answer.signature']);
  assert.deepEqual(failed(await verifyAnswer(ks, { ...base, signature: { ...signature, id: 'chatcmpl-other' } })), ['answer.statement']);
  assert.deepEqual(failed(await verifyAnswer(ks, { ...base, id: 'not an id' })), ['answer.statement']);
});

test('v2: an answer names its weights; a changed model name or digest, or a model the policy does not list, is refused naming answer.model', async () => {
  const ks = await readKeySet(parseStrictJson(await software()).value.key_set);
  const sha = async (b) => Buffer.from(await crypto.subtle.digest('SHA-256', b)).toString('hex');
  const large = `deepseek-r1:7b@sha256:${'7a'.repeat(32)}`;
  const small = `deepseek-r1:1.5b@sha256:${'15'.repeat(32)}`;
  const request = new TextEncoder().encode('{"model":"deepseek-r1-7b","messages":[]}');
  const answerFrom = (fp) => new TextEncoder().encode(`{"id":"chatcmpl-abc123","object":"chat.completion","created":1764000000,"system_fingerprint":${fp === null ? 'null' : JSON.stringify(fp)},"choices":[]}`);
  const nonce = 'ab'.repeat(32);
  const fingerprint = ks.keys.find((k) => k.purpose === 'answer-signing').fingerprint;
  const signed = async (response, model) => {
    const statement = answerStatement('chatcmpl-abc123', 1764000000, await sha(request), await sha(response), nonce, model);
    assert.ok(statement.startsWith(model === null ? 'tee-aspire/answer/v1\n' : `tee-aspire/answer/v2\nid=chatcmpl-abc123\ncreated=1764000000\nmodel=${model}\n`));
    const sig = Buffer.from(await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, keys.signing.privateKey, new TextEncoder().encode(statement))).toString('base64');
    return { id: 'chatcmpl-abc123', signature: sig, signing_key_fingerprint: fingerprint };
  };
  const base = (response, signature, models) => ({ id: 'chatcmpl-abc123', created: 1764000000, request, response, nonce, signature, models });
  const genuine = answerFrom(large);
  const signature = await signed(genuine, large);
  const ok = await verifyAnswer(ks, base(genuine, signature, [large]));
  assert.equal(ok.passed, true, JSON.stringify(ok.checks));
  assert.match(ok.checks.find((c) => c.name === 'answer.model').reason, /deepseek-r1:7b@sha256:7a7a/);
  assert.deepEqual(failed(await verifyAnswer(ks, base(genuine, signature, [small]))), ['answer.model']);
  assert.deepEqual(failed(await verifyAnswer(ks, base(answerFrom(`deepseek-r1:7b@sha256:${'ee'.repeat(32)}`), signature, [large]))), ['answer.signature', 'answer.model']);
  assert.deepEqual(failed(await verifyAnswer(ks, base(answerFrom(`deepseek-r1:1.5b@sha256:${'7a'.repeat(32)}`), signature, [large]))), ['answer.signature', 'answer.model']);
  // A statement over another model than the body names does not verify.
  assert.deepEqual(failed(await verifyAnswer(ks, base(answerFrom(small), await signed(answerFrom(small), large), null))), ['answer.signature']);
  // v1 (no model named): fine without a model policy, refused with one.
  const v1 = answerFrom(null);
  const v1sig = await signed(v1, null);
  assert.deepEqual(failed(await verifyAnswer(ks, base(v1, v1sig, null))), []);
  assert.deepEqual(failed(await verifyAnswer(ks, base(v1, v1sig, [large]))), ['answer.model']);
  // A stream whose events disagree names no model.
  const two = new TextEncoder().encode(`data: {"system_fingerprint":"${small}"}\n\n: pad\n\ndata: {"system_fingerprint":"${large}"}\n\ndata: [DONE]\n\n`);
  assert.match(answerModel(two).error, /different models/);
  assert.equal(answerModel(new TextEncoder().encode(`: pad\n\ndata: {"system_fingerprint":"${large}"}\n\ndata: [DONE]\n\n`)).model, large);
  for (const body of ['', '{', '[1]', '{"system_fingerprint":"fp_ollama"}', '{"system_fingerprint":12}', 'data: {"system_fingerprint":"x@sha256:AB"}'])
    assert.deepEqual(answerModel(new TextEncoder().encode(body)), { model: null, error: null });
});

test('the policy answer section loads strictly, as .NET loads it', () => {
  const pin = `deepseek-r1:7b@sha256:${'a'.repeat(64)}`;
  assert.deepEqual(loadPolicy(`{"answer":{"models":["${pin}"]}}`).answerModels, [pin]);
  assert.deepEqual(loadPolicy('{}').answerModels, []);
  for (const bad of ['{"answer":{"models":[]}}', '{"answer":{"models":["deepseek-r1:7b"]}}', '{"answer":{"model":[]}}', `{"answer":{"models":["${pin}","${pin}"]}}`, '{"answer":{"models":[7]}}'])
    assert.throws(() => loadPolicy(bad), PolicyFormatError, bad);
});

/** A fake service on a fetch function: serves `report`, records what is sent, signs answers with `signer`. */
function fakeService(reportFor, signer) {
  const sent = [];
  const fetchImpl = async (url, init = {}) => {
    const u = new URL(url);
    sent.push({ path: u.pathname, headers: init.headers ?? {}, body: init.body });
    if (u.pathname === '/attestation') return new Response(await reportFor(u.searchParams.get('nonce')));
    if (u.pathname === '/v1/chat/completions') {
      const body = JSON.stringify({ id: 'chatcmpl-fake1', created: 1764000000, choices: [{ message: { role: 'assistant', content: 'secret answer' } }] });
      signer.last = { request: init.body, response: new TextEncoder().encode(body), nonce: init.headers['x-answer-nonce'] };
      return new Response(body);
    }
    if (u.pathname === '/v1/signature/chatcmpl-fake1') return new Response(JSON.stringify(await signer.sign(signer.last)));
    return new Response('', { status: 404 });
  };
  return { sent, fetchImpl };
}

test('verifyTEEAndChat never sends the prompt to a service whose report fails, and sends x-answer-nonce to one that verifies', async () => {
  const sha = async (b) => Buffer.from(await crypto.subtle.digest('SHA-256', b)).toString('hex');
  const ks = await readKeySet(parseStrictJson(await software()).value.key_set);
  const signer = {
    async sign({ request, response, nonce }) {
      const statement = answerStatement('chatcmpl-fake1', 1764000000, await sha(request), await sha(response), nonce);
      const s = await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, keys.signing.privateKey, new TextEncoder().encode(statement));
      return { id: 'chatcmpl-fake1', signature: Buffer.from(s).toString('base64'), signing_key_fingerprint: ks.keys.find((k) => k.purpose === 'answer-signing').fingerprint };
    },
  };
  const reportFor = async (nonceHex) => software({ nonce: Uint8Array.from(Buffer.from(nonceHex, 'hex')), claims: { platform: 'azure-tdx', tee_verified: true } });
  const fake = fakeService(reportFor, signer);
  const refused = await verifyTEEAndChat({ baseUrl: 'http://fake.invalid', apiKey: 'k', prompt: 'confidential', fetch: fake.fetchImpl });
  assert.equal(refused.verified, false);
  assert.equal(refused.sent, false);
  assert.deepEqual(fake.sent.map((s) => s.path), ['/attestation']);
  const dev = fakeService(reportFor, signer);
  const ok = await verifyTEEAndChat({ baseUrl: 'http://fake.invalid', apiKey: 'k', prompt: 'hello', fetch: dev.fetchImpl, allowInsecurePlatform: true });
  assert.equal(ok.verified, true, JSON.stringify(ok.checks.filter((c) => !c.passed)));
  assert.equal(ok.content, 'secret answer');
  assert.match(dev.sent[1].headers['x-answer-nonce'], /^[0-9a-f]{64}$/);
  const liar = { sign: async (last) => ({ ...(await signer.sign({ ...last, nonce: 'ab'.repeat(32) })) }) };
  const replayed = await verifyTEEAndChat({ baseUrl: 'http://fake.invalid', apiKey: 'k', prompt: 'hello', fetch: fakeService(reportFor, liar).fetchImpl, allowInsecurePlatform: true });
  assert.equal(replayed.verified, false);
  assert.equal(replayed.content, '');
});

test('the IMDS attested document: signed under metadata.azure.com by a given root; another name, no root, changed bytes fail', async () => {
  const doc = await E.imdsDocument();
  const withImds = async (signature, imdsRoots) => {
    const r = await E.report(keys, { evidence: { imds_attested_document: { encoding: 'pkcs7', signature } } });
    return verifyReport(JSON.stringify(r), E.NONCE, { allowInsecurePlatform: true, imdsRoots });
  };
  const good = await withImds(doc.signature, [doc.root]);
  assert.deepEqual(failed(good), []);
  assert.ok(good.checks.some((c) => c.name === 'imds.chain' && c.passed));
  assert.deepEqual(failed(await withImds(doc.signature, [])), ['imds.chain']);
  const other = await E.imdsDocument({ dns: 'metadata.azure.com.evil.example' });
  assert.deepEqual(failed(await withImds(other.signature, [other.root])), ['imds.signer']);
  const bytes = Buffer.from(doc.signature, 'base64');
  const at = bytes.indexOf(Buffer.from('vmId'));
  bytes[at] ^= 1;
  assert.deepEqual(failed(await withImds(bytes.toString('base64'), [doc.root])), ['imds.signature']);
  assert.deepEqual(failed(await withImds('AAAA', [doc.root])), ['imds.signature']);
  const notJson = await E.imdsDocument({ content: 'not json' });
  assert.deepEqual(failed(await withImds(notJson.signature, [notJson.root])), ['imds.content']);
});

test('SEV-SNP under a test chain shaped like AMD\'s: VERIFIED as azure-snp; another chip, a changed report, another ARK are refused', async () => {
  const chip = crypto.getRandomValues(new Uint8Array(64));
  const snp = await E.testSnpPki(chip);
  const ks = await E.keySet(keys);
  const rd = E.runtimeData(keys.akJwk, new Uint8Array([...ks.digest, ...new Uint8Array(32)]));
  const hcl = await E.snpHclReport(snp, chip, rd);
  const make = async (bytes, chain = snp.pem.vcek + snp.pem.ask) => JSON.stringify(await E.report(keys, { evidence: { hcl_report: E.b64(bytes), snp_vcek_chain: chain } }));
  const options = { amdArk: snp.pem.ark, now: E.TEST_NOW };
  const good = await verifyReport(await make(hcl), E.NONCE, options);
  assert.deepEqual(failed(good), []);
  assert.equal(good.platform, 'azure-snp');
  const changed = hcl.slice();
  changed[32 + 0x90] ^= 1; // MEASUREMENT
  assert.deepEqual(failed(await verifyReport(await make(changed), E.NONCE, options)), ['snp.report_signature', 'platform']);
  const otherChip = await E.testSnpPki(crypto.getRandomValues(new Uint8Array(64)));
  const wrongChip = await verifyReport(await make(hcl, otherChip.pem.vcek + otherChip.pem.ask), E.NONCE, { ...options, amdArk: otherChip.pem.ark });
  assert.deepEqual(failed(wrongChip), ['snp.report_signature', 'platform']);
  assert.ok(failed(await verifyReport(await make(hcl), E.NONCE, { ...options, amdArk: otherChip.pem.ark })).includes('snp.vcek_chain'));
  assert.ok(failed(await verifyReport(await make(hcl), E.NONCE, { ...options, policy: { platform: 'azure-tdx' } })).includes('policy.platform'));
});

test('an old-style call with expectations beside the options is refused, not silently unchecked', async () => {
  const result = await verifyReport(await software(), E.NONCE, { allowInsecurePlatform: true, pcrs: { 0: 'ab'.repeat(32) } });
  assert.deepEqual(failed(result), ['policy.format']);
});

test('the policy app section loads strictly, as .NET loads it', async () => {
  const { loadPolicy: load, PolicyFormatError: Err } = await import('../tee-verify.js');
  const images = ['sha256:' + '1'.repeat(64)];
  const ok = load(JSON.stringify({ app: { pcr: 13, images, compose_sha256: 'a'.repeat(64), config_sha256: 'b'.repeat(64), allow_interactive_access: false } }));
  assert.equal(ok.app.pcr, 13);
  assert.deepEqual(ok.app.images, images);
  for (const bad of [{ images, extra: 1 }, { images: [] }, { images: ['sha256:XYZ'] }, { images, pcr: 24 }, { images, compose_sha256: 'zz' }, { images, allow_interactive_access: 'yes' }, []])
    assert.throws(() => load(JSON.stringify({ app: bad })), Err, JSON.stringify(bad));
});
